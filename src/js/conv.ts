// Pure-JS im2col/col2im and the convolution bias kernels: the same entry points, loop orders and
// f32 roundings as assembly/conv.ts (col2im adds in the same order, so dx is bit-identical).
// see: Caffe's im2col_cpu, https://github.com/BVLC/caffe/blob/master/src/caffe/util/im2col.cpp
import { f32 } from './memory';

/** One image: x [c, h, w] → cols [c·kh·kw, oh·ow] (row (ci, ki, kj), column (oy, ox)); padding is 0. */
export function im2colNCHW(
  x: number,
  cols: number,
  c: number,
  h: number,
  w: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  ph: number,
  pw: number,
  oh: number,
  ow: number,
): void {
  nchw(false, x, cols, { c, h, w, kh, kw, sh, sw, ph, pw, dh: 1, dw: 1, oh, ow });
}

/** One image: dx [c, h, w] = col2im(cols [c·kh·kw, oh·ow]), overwritten; overlapping windows add up. */
export function col2imNCHW(
  cols: number,
  dx: number,
  c: number,
  h: number,
  w: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  ph: number,
  pw: number,
  oh: number,
  ow: number,
): void {
  nchw(true, cols, dx, { c, h, w, kh, kw, sh, sw, ph, pw, dh: 1, dw: 1, oh, ow });
}

/** n images: x [n, h, w, c] → cols [n·oh·ow, kh·kw·c] (row (img, oy, ox), column (ki, kj, ci)). */
export function im2colNHWC(
  x: number,
  cols: number,
  n: number,
  h: number,
  w: number,
  c: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  ph: number,
  pw: number,
  oh: number,
  ow: number,
): void {
  nhwc(false, x, cols, { n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow });
}

/** n images: dx [n, h, w, c] = col2im(cols [n·oh·ow, kh·kw·c]), overwritten; overlapping windows add up. */
export function col2imNHWC(
  cols: number,
  dx: number,
  n: number,
  h: number,
  w: number,
  c: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  ph: number,
  pw: number,
  oh: number,
  ow: number,
): void {
  nhwc(true, cols, dx, { n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow });
}

/** y[i, ch, :] += bias[ch] for y [n, c, l]. */
export function convBiasNCHW(y: number, n: number, c: number, l: number, bias: number): void {
  const Y = f32(y, n * c * l),
    B = f32(bias, c);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const o = (i * c + ch) * l,
        b = B[ch];
      for (let j = 0; j < l; j++) Y[o + j] += b;
    }
  }
}

/** db[ch] += Σ over i and the l positions of dy[i, ch, :] for dy [n, c, l] (summed in f64). */
export function convBiasGradNCHW(dy: number, n: number, c: number, l: number, db: number): void {
  const G = f32(dy, n * c * l),
    B = f32(db, c);
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const o = (i * c + ch) * l;
      for (let j = 0; j < l; j++) s += G[o + j];
    }
    B[ch] += s;
  }
}

/** One image: x [c, h, w] → cols [c·kh·kw, oh·ow] with taps dh, dw apart; see assembly/conv.ts. */
export function im2colDilatedNCHW(
  x: number,
  cols: number,
  c: number,
  h: number,
  w: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  ph: number,
  pw: number,
  dh: number,
  dw: number,
  oh: number,
  ow: number,
): void {
  nchw(false, x, cols, { c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow });
}

/** One image: dx [c, h, w] (overwritten) from dilated columns, added in (ci, ki, kj, oy, ox) order. */
export function col2imDilatedNCHW(
  cols: number,
  dx: number,
  c: number,
  h: number,
  w: number,
  kh: number,
  kw: number,
  sh: number,
  sw: number,
  ph: number,
  pw: number,
  dh: number,
  dw: number,
  oh: number,
  ow: number,
): void {
  nchw(true, cols, dx, { c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow });
}

/** Sizes of a convolution's im2col: channels c, input h × w, kernel kh × kw, strides, padding, dilation, output oh × ow (n images: NHWC). */
type Geometry = Record<'c' | 'h' | 'w' | 'kh' | 'kw' | 'sh' | 'sw' | 'ph' | 'pw' | 'oh' | 'ow', number>;

/**
 * The channel-first pair over one image, taps dh, dw apart: im2col copies x [c, h, w] into cols
 * [c·kh·kw, oh·ow] (row (ci, ki, kj), column (oy, ox); padding is 0); col2im (`fold`) overwrites dx
 * [c, h, w] with cols added back in that same order, so overlapping windows add up as in assembly/conv.ts.
 */
function nchw(fold: boolean, src: number, dst: number, g: Geometry & { dh: number; dw: number }): void {
  const { c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow } = g;
  const X = f32(fold ? dst : src, c * h * w),
    C = f32(fold ? src : dst, c * kh * kw * oh * ow);
  if (fold) X.fill(0);
  let r = 0;
  for (let ci = 0; ci < c; ci++) {
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++, r += oh * ow) {
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * sh - ph + ki * dh;
          const d = r + oy * ow;
          if (iy < 0 || iy >= h) {
            if (!fold) C.fill(0, d, d + ow);
            continue;
          }
          const row = (ci * h + iy) * w;
          // the direction tested per row, not per value
          if (fold) {
            for (let ox = 0, ix = kj * dw - pw; ox < ow; ox++, ix += sw) if (ix >= 0 && ix < w) X[row + ix] += C[d + ox];
          } else {
            for (let ox = 0, ix = kj * dw - pw; ox < ow; ox++, ix += sw) C[d + ox] = ix >= 0 && ix < w ? X[row + ix] : 0;
          }
        }
      }
    }
  }
}

/**
 * The channels-last pair over n images: im2col copies x [n, h, w, c] into cols [n·oh·ow, kh·kw·c]
 * (row (img, oy, ox), column (ki, kj, ci); padding is 0); col2im (`fold`) overwrites dx [n, h, w, c]
 * with cols added back in that same order.
 */
function nhwc(fold: boolean, src: number, dst: number, g: Geometry & { n: number }): void {
  const { n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow } = g;
  const X = f32(fold ? dst : src, n * h * w * c),
    C = f32(fold ? src : dst, n * oh * ow * kh * kw * c);
  if (fold) X.fill(0);
  let d = 0;
  for (let img = 0; img < n; img++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let ki = 0; ki < kh; ki++) {
          const iy = oy * sh - ph + ki;
          for (let kj = 0; kj < kw; kj++, d += c) {
            const ix = ox * sw - pw + kj;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
              if (!fold) C.fill(0, d, d + c);
              continue;
            }
            const o = ((img * h + iy) * w + ix) * c;
            if (fold) for (let ch = 0; ch < c; ch++) X[o + ch] += C[d + ch];
            else for (let ch = 0; ch < c; ch++) C[d + ch] = X[o + ch];
          }
        }
      }
    }
  }
}
