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
  const X = f32(x, c * h * w),
    C = f32(cols, c * kh * kw * oh * ow);
  let r = 0;
  for (let ci = 0; ci < c; ci++) {
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++, r += oh * ow) {
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * sh - ph + ki;
          const d = r + oy * ow;
          if (iy < 0 || iy >= h) {
            C.fill(0, d, d + ow);
            continue;
          }
          const row = (ci * h + iy) * w;
          for (let ox = 0; ox < ow; ox++) {
            const ix = ox * sw - pw + kj;
            C[d + ox] = ix >= 0 && ix < w ? X[row + ix] : 0;
          }
        }
      }
    }
  }
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
  const D = f32(dx, c * h * w),
    C = f32(cols, c * kh * kw * oh * ow);
  D.fill(0);
  let r = 0;
  for (let ci = 0; ci < c; ci++) {
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++, r += oh * ow) {
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * sh - ph + ki;
          if (iy < 0 || iy >= h) continue;
          const row = (ci * h + iy) * w,
            s = r + oy * ow;
          for (let ox = 0; ox < ow; ox++) {
            const ix = ox * sw - pw + kj;
            if (ix >= 0 && ix < w) D[row + ix] += C[s + ox];
          }
        }
      }
    }
  }
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
  const X = f32(x, n * h * w * c),
    C = f32(cols, n * oh * ow * kh * kw * c);
  let d = 0;
  for (let img = 0; img < n; img++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let ki = 0; ki < kh; ki++) {
          const iy = oy * sh - ph + ki;
          for (let kj = 0; kj < kw; kj++, d += c) {
            const ix = ox * sw - pw + kj;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
              for (let ch = 0; ch < c; ch++) C[d + ch] = 0;
            } else {
              const o = ((img * h + iy) * w + ix) * c;
              for (let ch = 0; ch < c; ch++) C[d + ch] = X[o + ch];
            }
          }
        }
      }
    }
  }
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
  const D = f32(dx, n * h * w * c),
    C = f32(cols, n * oh * ow * kh * kw * c);
  D.fill(0);
  let s = 0;
  for (let img = 0; img < n; img++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let ki = 0; ki < kh; ki++) {
          const iy = oy * sh - ph + ki;
          for (let kj = 0; kj < kw; kj++, s += c) {
            const ix = ox * sw - pw + kj;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const o = ((img * h + iy) * w + ix) * c;
            for (let ch = 0; ch < c; ch++) D[o + ch] += C[s + ch];
          }
        }
      }
    }
  }
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
  const X = f32(x, c * h * w),
    C = f32(cols, c * kh * kw * oh * ow);
  let r = 0;
  for (let ci = 0; ci < c; ci++)
    for (let ki = 0; ki < kh; ki++)
      for (let kj = 0; kj < kw; kj++, r += oh * ow)
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * sh - ph + ki * dh;
          const d = r + oy * ow;
          if (iy < 0 || iy >= h) {
            C.fill(0, d, d + ow);
            continue;
          }
          const row = (ci * h + iy) * w;
          for (let ox = 0; ox < ow; ox++) {
            const ix = ox * sw - pw + kj * dw;
            C[d + ox] = ix >= 0 && ix < w ? X[row + ix] : 0;
          }
        }
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
  const C = f32(cols, c * kh * kw * oh * ow),
    D = f32(dx, c * h * w);
  D.fill(0);
  let r = 0;
  for (let ci = 0; ci < c; ci++)
    for (let ki = 0; ki < kh; ki++)
      for (let kj = 0; kj < kw; kj++, r += oh * ow)
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * sh - ph + ki * dh;
          if (iy < 0 || iy >= h) continue;
          const row = (ci * h + iy) * w;
          for (let ox = 0; ox < ow; ox++) {
            const ix = ox * sw - pw + kj * dw;
            if (ix >= 0 && ix < w) D[row + ix] += C[r + oy * ow + ox];
          }
        }
}
