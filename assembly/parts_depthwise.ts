// Part kernels of the training depthwise convolution (depthwise.ts) for the threaded build. The
// forward and the input gradient are independent per image: part p runs the kernel on a block of
// images, or, where the images are fewer than the threads (batch 1), on a block of channels (in
// fours, the channels-last SIMD loops' width; each channel's outputs are computed alike whatever the
// range). Their channels-last SIMD loops gather four channels' filters into a scratch, which in the
// shared memory all threads would share if static: a part uses its own (TAPS_BYTES per part from
// `taps`). The weight gradient sums over images, so part p takes a block of output
// channels instead and sums each over every image in the single-threaded order.
import { TAPS_BYTES, forwardTaps, inputGradTaps, weightGradChannels } from './depthwise_body';
import { sliceStart } from './parts';

/** Bytes of input (nhwc or not) and output of one image of the depthwise convolution. */
// @ts-ignore: decorator
@inline function imageBytes(c: i32, h: i32, w: i32): usize {
  return (<usize>c * <usize>h * <usize>w) << 2;
}

/** depthwiseForward (same arguments) on block `part` of `parts` of the images, with scratch taps + part·TAPS_BYTES. */
export function depthwiseForwardPart(
  part: i32, parts: i32, x: usize, wt: usize, b: usize, y: usize, n: i32, c: i32, h: i32, w: i32, mult: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, nhwc: i32, taps: usize,
): void {
  let i0 = sliceStart(part, parts, n), i1 = sliceStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let tp = taps + <usize>part * <usize>TAPS_BYTES;
  let xi = x + <usize>i0 * imageBytes(c, h, w), yi = y + <usize>i0 * imageBytes(c * mult, oh, ow);
  forwardTaps(tp, xi, wt, b, yi, i1 - i0, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc, 0, c * mult);
}

/** depthwiseBackwardInput (same arguments) on block `part` of `parts` of the images, with scratch taps + part·TAPS_BYTES. */
export function depthwiseBackwardInputPart(
  part: i32, parts: i32, dy: usize, wt: usize, dx: usize, n: i32, c: i32, h: i32, w: i32, mult: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, nhwc: i32, taps: usize,
): void {
  let i0 = sliceStart(part, parts, n), i1 = sliceStart(part + 1, parts, n);
  if (i1 <= i0) return;
  let tp = taps + <usize>part * <usize>TAPS_BYTES;
  let dyi = dy + <usize>i0 * imageBytes(c * mult, oh, ow), dxi = dx + <usize>i0 * imageBytes(c, h, w);
  inputGradTaps(tp, dyi, wt, dxi, i1 - i0, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc, 0, c);
}

/** depthwiseBackwardWeight (same arguments) for block `part` of `parts` of the c·mult output channels, in fours (the channels-last SIMD loop's width). */
export function depthwiseBackwardWeightPart(
  part: i32, parts: i32, x: usize, dy: usize, dwt: usize, db: usize, n: i32, c: i32, h: i32, w: i32, mult: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, nhwc: i32,
): void {
  let oc = c * mult, fours = (oc + 3) >> 2;
  let o0 = sliceStart(part, parts, fours) << 2, o1 = min(oc, sliceStart(part + 1, parts, fours) << 2);
  if (o1 > o0) weightGradChannels(x, dy, dwt, db, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc, o0, o1);
}

/** Channels o0 (high half) … o1 − 1 (low half) of block `part` of `parts` of `count` channels taken in fours. */
// @ts-ignore: decorator
@inline function fourBlock(part: i32, parts: i32, count: i32): u64 {
  let fours = (count + 3) >> 2;
  let o0 = sliceStart(part, parts, fours) << 2, o1 = min(count, sliceStart(part + 1, parts, fours) << 2);
  return (<u64>o0 << 32) | <u64>o1;
}

/** depthwiseForward (same arguments) for block `part` of `parts` of the c·mult output channels, in fours, with scratch taps + part·TAPS_BYTES. */
export function depthwiseForwardChannelsPart(
  part: i32, parts: i32, x: usize, wt: usize, b: usize, y: usize, n: i32, c: i32, h: i32, w: i32, mult: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, nhwc: i32, taps: usize,
): void {
  let r = fourBlock(part, parts, c * mult), o0 = <i32>(r >> 32), o1 = <i32>r;
  if (o1 <= o0) return;
  let tp = taps + <usize>part * <usize>TAPS_BYTES;
  forwardTaps(tp, x, wt, b, y, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc, o0, o1);
}

/** depthwiseBackwardInput (same arguments) for block `part` of `parts` of the c input channels, in fours, with scratch taps + part·TAPS_BYTES. */
export function depthwiseBackwardInputChannelsPart(
  part: i32, parts: i32, dy: usize, wt: usize, dx: usize, n: i32, c: i32, h: i32, w: i32, mult: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, nhwc: i32, taps: usize,
): void {
  let r = fourBlock(part, parts, c), c0 = <i32>(r >> 32), c1 = <i32>r;
  if (c1 <= c0) return;
  let tp = taps + <usize>part * <usize>TAPS_BYTES;
  inputGradTaps(tp, dy, wt, dx, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc, c0, c1);
}
