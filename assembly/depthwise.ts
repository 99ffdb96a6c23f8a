// Depthwise convolution computed directly (groups = in channels, out = mult·in): each output channel
// o reads only input channel o / mult through its own kh×kw filter, so im2col would copy kh·kw times
// the input to feed a product with one row per group. One kernel serves both layouts through the
// channel and pixel strides; every element is summed in the same order in both, in every build and
// in src/js/depthwise.ts, so NCHW and NHWC, SIMD, scalar and JS give the same bits.
// see: Howard et al. 2017, MobileNets, https://arxiv.org/abs/1704.04861 (depthwise separable
//      convolutions); https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html (groups, dilation)
// The bodies are in depthwise_body.ts, shared with the threaded build's parts.
import { TAPS, forwardTaps, inputGradTaps, weightGradChannels } from './depthwise_body';

/**
 * y = x ⋆ w (+ b) over n images, x [n, c, h, w] or [n, h, w, c] (nhwc = 1), w [c·mult, kh, kw],
 * b [c·mult] or 0 for none; taps (i, j) read x at (oy·sh − ph + i·dh, ox·sw − pw + j·dw).
 */
export function depthwiseForward(
  x: usize, wt: usize, b: usize, y: usize, n: i32, c: i32, h: i32, w: i32, mult: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, nhwc: i32,
): void {
  forwardTaps(TAPS, x, wt, b, y, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc, 0, c * mult);
}

/** dx (overwritten) = the adjoint of depthwiseForward applied to dy. */
export function depthwiseBackwardInput(
  dy: usize, wt: usize, dx: usize, n: i32, c: i32, h: i32, w: i32, mult: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, nhwc: i32,
): void {
  inputGradTaps(TAPS, dy, wt, dx, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc, 0, c);
}

/**
 * dwt[o][i][j] += Σ over images and outputs of x·dy, and db[o] += Σ dy when db ≠ 0. Each tap sums
 * over (image, oy, ox) in that order, only over the outputs whose input lies inside the image; NHWC
 * with one filter per channel sums four channels at once (each lane in that same order).
 */
export function depthwiseBackwardWeight(
  x: usize, dy: usize, dwt: usize, db: usize, n: i32, c: i32, h: i32, w: i32, mult: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, nhwc: i32,
): void {
  weightGradChannels(x, dy, dwt, db, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc, 0, c * mult);
}
