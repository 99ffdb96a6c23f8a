// Pure-JS depthwise convolution: the same entry points and summation orders as assembly/depthwise.ts.
import { f32 } from './memory';

/** Strides of one channel (xc, yc) and of one pixel (xp, yp) in x [n, c, h, w] and y [n, oc, oh, ow], or their channels-last layouts. */
function strides(c: number, h: number, w: number, oc: number, oh: number, ow: number, nhwc: number) {
  return { xc: nhwc ? 1 : h * w, xp: nhwc ? c : 1, yc: nhwc ? 1 : oh * ow, yp: nhwc ? oc : 1 };
}

/** y = x ⋆ w (+ b) per channel; see assembly/depthwise.ts. */
export function depthwiseForward(
  x: number,
  wt: number,
  b: number,
  y: number,
  n: number,
  c: number,
  h: number,
  w: number,
  mult: number,
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
  nhwc: number,
): void {
  const oc = c * mult;
  const X = f32(x, n * c * h * w),
    W = f32(wt, oc * kh * kw),
    B = b ? f32(b, oc) : null,
    Y = f32(y, n * oc * oh * ow);
  const { xc, xp, yc, yp } = strides(c, h, w, oc, oh, ow, nhwc);
  for (let q = 0; q < n; q++)
    for (let o = 0; o < oc; o++) {
      const xo = q * c * h * w + Math.floor(o / mult) * xc,
        wo = o * kh * kw,
        yo = q * oc * oh * ow + o * yc;
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          let s = 0;
          for (let i = 0; i < kh; i++) {
            const iy = oy * sh - ph + i * dh;
            if (iy < 0 || iy >= h) continue;
            for (let j = 0; j < kw; j++) {
              const ix = ox * sw - pw + j * dw;
              if (ix < 0 || ix >= w) continue;
              s = Math.fround(s + Math.fround(X[xo + (iy * w + ix) * xp] * W[wo + i * kw + j]));
            }
          }
          Y[yo + (oy * ow + ox) * yp] = B ? s + B[o] : s;
        }
    }
}

/** dx (overwritten) gathered per input element; see assembly/depthwise.ts. */
export function depthwiseBackwardInput(
  dy: number,
  wt: number,
  dx: number,
  n: number,
  c: number,
  h: number,
  w: number,
  mult: number,
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
  nhwc: number,
): void {
  const oc = c * mult;
  const G = f32(dy, n * oc * oh * ow),
    W = f32(wt, oc * kh * kw),
    D = f32(dx, n * c * h * w);
  const { xc, xp, yc, yp } = strides(c, h, w, oc, oh, ow, nhwc);
  for (let q = 0; q < n; q++)
    for (let ci = 0; ci < c; ci++)
      for (let iy = 0; iy < h; iy++)
        for (let ix = 0; ix < w; ix++) {
          let s = 0;
          for (let m = 0; m < mult; m++) {
            const o = ci * mult + m,
              wo = o * kh * kw,
              yo = q * oc * oh * ow + o * yc;
            for (let i = 0; i < kh; i++) {
              const ty = iy + ph - i * dh;
              if (ty < 0 || ty % sh !== 0 || ty / sh >= oh) continue;
              const oy = ty / sh;
              for (let j = 0; j < kw; j++) {
                const tx = ix + pw - j * dw;
                if (tx < 0 || tx % sw !== 0 || tx / sw >= ow) continue;
                s = Math.fround(s + Math.fround(G[yo + (oy * ow + tx / sw) * yp] * W[wo + i * kw + j]));
              }
            }
          }
          D[q * c * h * w + ci * xc + (iy * w + ix) * xp] = s;
        }
}

/** dwt += Σ x·dy per tap, db += Σ dy (db = 0: none); see assembly/depthwise.ts. */
export function depthwiseBackwardWeight(
  x: number,
  dy: number,
  dwt: number,
  db: number,
  n: number,
  c: number,
  h: number,
  w: number,
  mult: number,
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
  nhwc: number,
): void {
  const oc = c * mult;
  const X = f32(x, n * c * h * w),
    G = f32(dy, n * oc * oh * ow),
    DW = f32(dwt, oc * kh * kw),
    DB = db ? f32(db, oc) : null;
  const { xc, xp, yc, yp } = strides(c, h, w, oc, oh, ow, nhwc);
  for (let o = 0; o < oc; o++) {
    const ci = Math.floor(o / mult);
    for (let i = 0; i < kh; i++)
      for (let j = 0; j < kw; j++) {
        let s = 0;
        for (let q = 0; q < n; q++) {
          const xo = q * c * h * w + ci * xc,
            yo = q * oc * oh * ow + o * yc;
          for (let oy = 0; oy < oh; oy++) {
            const iy = oy * sh - ph + i * dh;
            if (iy < 0 || iy >= h) continue;
            for (let ox = 0; ox < ow; ox++) {
              const ix = ox * sw - pw + j * dw;
              if (ix < 0 || ix >= w) continue;
              s = Math.fround(s + Math.fround(X[xo + (iy * w + ix) * xp] * G[yo + (oy * ow + ox) * yp]));
            }
          }
        }
        DW[(o * kh + i) * kw + j] += s;
      }
    if (DB) {
      let s = 0;
      for (let q = 0; q < n; q++) {
        const yo = q * oc * oh * ow + o * yc;
        for (let p = 0; p < oh * ow; p++) s = Math.fround(s + G[yo + p * yp]);
      }
      DB[o] += s;
    }
  }
}
