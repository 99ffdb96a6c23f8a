// Inference max pooling: pool.ts's maxPool2d without the argmax, which only a backward reads, so
// an inference run writes one output per window and allocates no index buffer. The same layouts
// (x [n, h, w, c]; NCHW as n·c images of one channel) and the same choice: the first maximum in
// window order (−0 and +0 compare equal), or the last NaN, so y equals maxPool2d's bit for bit.
// see: https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/native/cpu/MaxPoolKernel.cpp
import { maxPool2dInferRows } from './pool_max';

/** y [n, oh, ow, c] = max over each kh×kw window (stride sh×sw, padding ph×pw) of x [n, h, w, c]; as maxPool2d, without the argmax. */
export function maxPool2dInfer(x: usize, y: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  maxPool2dInferRows(x, y, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, 0, oh);
}
