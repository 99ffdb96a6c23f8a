// Pure-JS pooling: the same entry points, window order and f32 roundings as assembly/pool.ts
// (channels-last x [n, h, w, c]; channel-first data is passed as n = N·C, c = 1).
// see: https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/native/cpu/MaxPoolKernel.cpp
import { f32, i32 } from './memory';
import { forEachWindow, windowArgmax } from './windows';

const fround = Math.fround;

/** y = max over each window of x, idx = iy·w + ix of the first maximum (or the last NaN). */
export function maxPool2d(
  x: number,
  y: number,
  idx: number,
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
    Y = f32(y, n * oh * ow * c),
    I = i32(idx, n * oh * ow * c);
  forEachWindow({ n, h, w, kh, kw, sh, sw, ph, pw, oh, ow }, (p, img, y0, y1, x0, x1) => {
    for (let ch = 0, o = p * c; ch < c; ch++) {
      const bi = windowArgmax(X, img * h * w * c + ch, w, c, y0, y1, x0, x1);
      Y[o + ch] = bi < 0 ? -Infinity : X[(img * h * w + bi) * c + ch];
      I[o + ch] = bi < 0 ? y0 * w + x0 : bi;
    }
  });
}

/** dx [n, hw, c] = 0, then dx[img, idx, ch] += dy[img, p, ch]. */
export function maxPool2dBackward(dy: number, idx: number, dx: number, n: number, hw: number, c: number, ohw: number): void {
  const G = f32(dy, n * ohw * c),
    I = i32(idx, n * ohw * c),
    D = f32(dx, n * hw * c);
  D.fill(0);
  let o = 0;
  for (let img = 0; img < n; img++) {
    const base = img * hw * c;
    for (let p = 0; p < ohw; p++, o += c) {
      for (let ch = 0; ch < c; ch++) D[base + I[o + ch] * c + ch] += G[o + ch];
    }
  }
}

/** The forward kernel: each window's f32 sum in window order / kh·kw, or with `exclude` / its pixels inside x. */
const avgPool2dKernel = (exclude: boolean) =>
  function (
    x: number,
    y: number,
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
      Y = f32(y, n * oh * ow * c);
    forEachWindow({ n, h, w, kh, kw, sh, sw, ph, pw, oh, ow }, (p, img, y0, y1, x0, x1) => {
      const div = exclude ? (y1 - y0) * (x1 - x0) : kh * kw;
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) s = fround(s + X[((img * h + iy) * w + ix) * c + ch]);
        }
        Y[p * c + ch] = s / div;
      }
    });
  };

/** The backward kernel: dx = 0, then each dy / the forward's divisor added over its window. */
const avgPool2dBackwardKernel = (exclude: boolean) =>
  function (
    dy: number,
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
    const G = f32(dy, n * oh * ow * c),
      D = f32(dx, n * h * w * c);
    D.fill(0);
    forEachWindow({ n, h, w, kh, kw, sh, sw, ph, pw, oh, ow }, (p, img, y0, y1, x0, x1) => {
      const div = exclude ? (y1 - y0) * (x1 - x0) : kh * kw;
      for (let ch = 0; ch < c; ch++) {
        const g = fround(G[p * c + ch] / div);
        for (let iy = y0; iy < y1; iy++) {
          for (let ix = x0; ix < x1; ix++) D[((img * h + iy) * w + ix) * c + ch] += g;
        }
      }
    });
  };

/** y = (f32 sum over each window of x, in window order) / (kh·kw), padding counted as zeros. */
export const avgPool2d = avgPool2dKernel(false);
/** avgPool2d with the padding left out of the divisor (count_include_pad = False). */
export const avgPool2dExclude = avgPool2dKernel(true);
/** dx = 0, then each dy / (kh·kw) is added over its window. */
export const avgPool2dBackward = avgPool2dBackwardKernel(false);
/** avgPool2dBackward of avgPool2dExclude: each dy / the window's pixels inside x. */
export const avgPool2dExcludeBackward = avgPool2dBackwardKernel(true);
