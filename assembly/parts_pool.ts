// Part kernels of the pooling kernels (pool.ts) for the threaded build: part p of a call takes a
// block of whole images, and runs the single-threaded kernel on them (an image's outputs, indices
// and gradients depend on that image alone: indices count from its first pixel), so the bits do
// not depend on the blocks. Where the images are fewer than the threads (channels-last at batch 1),
// max pooling takes blocks of output rows forward (each output reads its window alone) and blocks
// of channels backward (windows overlap, so rows of outputs could add to one dx element at once).
import { maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward } from './pool';
import { maxPool2dRows, maxPool2dBackwardChannels, maxPool2dInferRows } from './pool_max';
import { sliceStart } from './parts';

/** maxPool2d (same arguments) on images i0..i1 of block `part` of `parts`. */
export function maxPool2dPart(part: i32, parts: i32, x: usize, y: usize, idx: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  let i0 = sliceStart(part, parts, n), i1 = sliceStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let xo = (<usize>i0 * <usize>h * <usize>w * <usize>c) << 2, yo = (<usize>i0 * <usize>oh * <usize>ow * <usize>c) << 2;
  maxPool2d(x + xo, y + yo, idx + yo, i1 - i0, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow);
}

/** maxPool2dBackward (same arguments) on images i0..i1 of block `part` of `parts`. */
export function maxPool2dBackwardPart(part: i32, parts: i32, dy: usize, idx: usize, dx: usize, n: i32, hw: i32, c: i32, ohw: i32): void {
  let i0 = sliceStart(part, parts, n), i1 = sliceStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let xo = (<usize>i0 * <usize>hw * <usize>c) << 2, yo = (<usize>i0 * <usize>ohw * <usize>c) << 2;
  maxPool2dBackward(dy + yo, idx + yo, dx + xo, i1 - i0, hw, c, ohw);
}

/** avgPool2d (same arguments) on images i0..i1 of block `part` of `parts`. */
export function avgPool2dPart(part: i32, parts: i32, x: usize, y: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  let i0 = sliceStart(part, parts, n), i1 = sliceStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let xo = (<usize>i0 * <usize>h * <usize>w * <usize>c) << 2, yo = (<usize>i0 * <usize>oh * <usize>ow * <usize>c) << 2;
  avgPool2d(x + xo, y + yo, i1 - i0, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow);
}

/** avgPool2dBackward (same arguments) on images i0..i1 of block `part` of `parts`. */
export function avgPool2dBackwardPart(part: i32, parts: i32, dy: usize, dx: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  let i0 = sliceStart(part, parts, n), i1 = sliceStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let xo = (<usize>i0 * <usize>h * <usize>w * <usize>c) << 2, yo = (<usize>i0 * <usize>oh * <usize>ow * <usize>c) << 2;
  avgPool2dBackward(dy + yo, dx + xo, i1 - i0, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow);
}

/** maxPool2d (same arguments) on block `part` of `parts` of the output rows of every image. */
export function maxPool2dRowsPart(part: i32, parts: i32, x: usize, y: usize, idx: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  let r0 = sliceStart(part, parts, oh), r1 = sliceStart(part + 1, parts, oh);
  if (r1 > r0) maxPool2dRows(x, y, idx, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, r0, r1);
}

/** maxPool2dInfer (same arguments) on block `part` of `parts` of the output rows of every image. */
export function maxPool2dInferRowsPart(part: i32, parts: i32, x: usize, y: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  let r0 = sliceStart(part, parts, oh), r1 = sliceStart(part + 1, parts, oh);
  if (r1 > r0) maxPool2dInferRows(x, y, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, r0, r1);
}

/**
 * maxPool2dBackward (same arguments) on block `part` of `parts` of the channels, in sixteens (64
 * bytes of a pixel, so that two threads share fewer cache lines of dx).
 */
export function maxPool2dBackwardChannelsPart(part: i32, parts: i32, dy: usize, idx: usize, dx: usize, n: i32, hw: i32, c: i32, ohw: i32): void {
  let units = (c + 15) >> 4;
  let c0 = sliceStart(part, parts, units) << 4, c1 = min(c, sliceStart(part + 1, parts, units) << 4);
  if (c1 > c0) maxPool2dBackwardChannels(dy, idx, dx, n, hw, c, ohw, c0, c1);
}
