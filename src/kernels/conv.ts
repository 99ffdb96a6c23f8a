// Thin wrappers over the convolution kernels (assembly/conv.ts, src/js/conv.ts): im2col/col2im in
// both layouts and the channel-first bias. A sliding window travels as one `Window` on this side and
// is spread into the scalar ABI here (the pooling kernels take the same window).
import { runtime } from '../runtime/index';

/** A 2-D sliding window: kernel, stride and padding per axis, and the output size they give. */
export interface Window {
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly ph: number;
  readonly pw: number;
  readonly oh: number;
  readonly ow: number;
}

/** The window of a layer's kernel, stride and padding over an input whose output is oh×ow. */
export function slidingWindow(
  kernel: readonly number[],
  stride: readonly number[],
  padding: readonly number[],
  out: { oh: number; ow: number },
): Window {
  return Object.freeze({
    kh: kernel[0],
    kw: kernel[1],
    sh: stride[0],
    sw: stride[1],
    ph: padding[0],
    pw: padding[1],
    oh: out.oh,
    ow: out.ow,
  });
}

/** Columns [c·kh·kw][oh·ow] of one channel-first image x[c][h][w]. */
export function im2colNCHW(x: number, cols: number, c: number, h: number, w: number, win: Window): void {
  runtime().k.im2colNCHW(x, cols, c, h, w, win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, win.oh, win.ow);
}

/** dx[c][h][w] (overwritten) from the column gradient of one channel-first image. */
export function col2imNCHW(cols: number, dx: number, c: number, h: number, w: number, win: Window): void {
  runtime().k.col2imNCHW(cols, dx, c, h, w, win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, win.oh, win.ow);
}

/** Columns [n·oh·ow][kh·kw·c] of n channels-last images x[n][h][w][c]. */
export function im2colNHWC(x: number, cols: number, n: number, h: number, w: number, c: number, win: Window): void {
  runtime().k.im2colNHWC(x, cols, n, h, w, c, win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, win.oh, win.ow);
}

/** dx[n][h][w][c] (overwritten) from the column gradient of n channels-last images. */
export function col2imNHWC(cols: number, dx: number, n: number, h: number, w: number, c: number, win: Window): void {
  runtime().k.col2imNHWC(cols, dx, n, h, w, c, win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, win.oh, win.ow);
}

/** y[n][c][l] += bias[c]. */
export function convBiasNCHW(y: number, n: number, c: number, l: number, bias: number): void {
  runtime().k.convBiasNCHW(y, n, c, l, bias);
}

/** db[c] += Σ over n and l of dy[n][c][l]. */
export function convBiasGradNCHW(dy: number, n: number, c: number, l: number, db: number): void {
  runtime().k.convBiasGradNCHW(dy, n, c, l, db);
}

/** Columns [c·kh·kw][oh·ow] of one channel-first image, taps dh, dw pixels apart (dilation). */
export function im2colDilatedNCHW(x: number, cols: number, c: number, h: number, w: number, win: Window, dh: number, dw: number): void {
  runtime().k.im2colDilatedNCHW(x, cols, c, h, w, win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, dh, dw, win.oh, win.ow);
}

/** dx[c][h][w] (overwritten) from the column gradient of one channel-first image, taps dh, dw apart. */
export function col2imDilatedNCHW(cols: number, dx: number, c: number, h: number, w: number, win: Window, dh: number, dw: number): void {
  runtime().k.col2imDilatedNCHW(cols, dx, c, h, w, win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, dh, dw, win.oh, win.ow);
}
