// Part kernels of the inference kernels (conv_infer.ts, depthwise_infer.ts, pool_infer.ts) for the
// threaded build. The inference convolution splits a call into units of (image, block of 256 output
// pixels, group of output channels), in that order, and part p takes a run of them; each output is
// summed by the same code whatever unit holds it, so the bits do not depend on the units. A unit
// gathers its block's window values into a workspace of its own: one per thread, claimed as
// parts_conv.ts's parts claim theirs. The depthwise convolution and max pooling take runs of whole
// channel planes (images of one channel), which depend on nothing outside them.
import { convInferBlocks, convInferBlocksWorkspace, CONV_INFER_NC } from './conv_infer_blocks';
import { depthwise3x3Infer } from './depthwise_infer';
import { maxPool2dInfer } from './pool_infer';
import { sliceStart } from './parts';
import { takeSlot, giveSlot } from './parts_conv';

/** Bytes of workspace each part of convInferNCHWPart needs (convInferWorkspace's). */
export function convInferPartWorkspace(K: i32, P: i32): i32 {
  return (convInferBlocksWorkspace(K, P) + 15) & ~15;
}

/**
 * Part `part` of `parts` of the inference convolution of n images (convInferNCHW's arguments, x
 * [n][c][h][w] and y [n][o][oh·ow]): units u = (image · blocks + block) · groups + group, where
 * blocks = ⌈oh·ow / 256⌉ and group g of `groups` holds tiles of 4 output channels. A part claims one
 * of the `count` workspaces of wsBytes at ws (the i32 words at `slots` say which are free).
 */
export function convInferNCHWPart(part: i32, parts: i32, x: usize, wt: usize, bias: usize, y: usize, n: i32, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, lo: f32, hi: f32, groups: i32, slots: usize, count: i32, ws: usize, wsBytes: i32): void {
  let P = oh * ow, blocks = (P + CONV_INFER_NC - 1) / CONV_INFER_NC;
  let units = n * blocks * groups;
  let u0 = sliceStart(part, parts, units), u1 = sliceStart(part + 1, parts, units);
  if (u1 <= u0) return;
  let tiles = (o + 3) >> 2;
  let slot = takeSlot(slots, count);
  let buf = ws + <usize>slot * <usize>wsBytes;
  let img = (<usize>c * <usize>h * <usize>w) << 2, out = (<usize>o * <usize>P) << 2;
  for (let u = u0; u < u1; ) {
    let ib = u / groups, g0 = u % groups;
    // the groups of this image's block that the part holds, in one call (one gather per k panel)
    let g1 = min(groups, g0 + (u1 - u));
    let i = ib / blocks, b = ib % blocks;
    let i0 = sliceStart(g0, groups, tiles) << 2, i1 = min(o, sliceStart(g1, groups, tiles) << 2);
    if (i1 > i0) convInferBlocks(x + <usize>i * img, wt, bias, y + <usize>i * out, buf, c, h, w, o, kh, kw, sh, sw, ph, pw, oh, ow, lo, hi, b, b + 1, i0, i1);
    u += g1 - g0;
  }
  giveSlot(slots, slot);
}

/** depthwise3x3Infer (same arguments) on planes p0…p1 − 1 of the n·c planes (image-major) of slice `part` of `parts`. */
export function depthwise3x3InferPart(part: i32, parts: i32, x: usize, wt: usize, b: usize, y: usize, n: i32, c: i32, h: i32, w: i32, s: i32, oh: i32, ow: i32, lo: f32, hi: f32): void {
  let p0 = sliceStart(part, parts, n * c), p1 = sliceStart(part + 1, parts, n * c);
  let inPlane = (<usize>h * <usize>w) << 2, outPlane = (<usize>oh * <usize>ow) << 2;
  // runs of channels of one image: the kernel on one image of fewer channels, from channel ch
  for (let p = p0; p < p1; ) {
    let ch = p % c, run = min(c - ch, p1 - p);
    let xo = x + <usize>p * inPlane, yo = y + <usize>p * outPlane;
    depthwise3x3Infer(xo, wt + <usize>(ch * 9 << 2), b != 0 ? b + (<usize>ch << 2) : 0, yo, 1, run, h, w, s, oh, ow, lo, hi);
    p += run;
  }
}

/** maxPool2dInfer (same arguments) on images i0…i1 − 1 of block `part` of `parts`. */
export function maxPool2dInferPart(part: i32, parts: i32, x: usize, y: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  let i0 = sliceStart(part, parts, n), i1 = sliceStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let xo = (<usize>i0 * <usize>h * <usize>w * <usize>c) << 2, yo = (<usize>i0 * <usize>oh * <usize>ow * <usize>c) << 2;
  maxPool2dInfer(x + xo, y + yo, i1 - i0, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow);
}
