// Pure-JS twin of assembly/depthwise_infer.ts: the same sums in the same order, rounded to float32
// at each step, so every backend gives the same bits.
import { f32 } from './memory';

/** y = clamp(x ⋆ w + b, lo, hi) per channel, 3×3, padding 1, stride s; see assembly/depthwise_infer.ts. */
export function depthwise3x3Infer(
  x: number,
  wt: number,
  b: number,
  y: number,
  n: number,
  c: number,
  h: number,
  w: number,
  s: number,
  oh: number,
  ow: number,
  lo: number,
  hi: number,
): void {
  const X = f32(x, n * c * h * w),
    W = f32(wt, c * 9),
    B = b ? f32(b, c) : null,
    Y = f32(y, n * c * oh * ow);
  const l = Math.fround(lo),
    u = Math.fround(hi);
  for (let q = 0; q < n; q++)
    for (let ch = 0; ch < c; ch++) {
      const xo = (q * c + ch) * h * w,
        wo = ch * 9,
        yo = (q * c + ch) * oh * ow;
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          let acc = 0;
          for (let i = 0; i < 3; i++) {
            const iy = oy * s - 1 + i;
            if (iy < 0 || iy >= h) continue;
            for (let j = 0; j < 3; j++) {
              const ix = ox * s - 1 + j;
              if (ix < 0 || ix >= w) continue;
              acc = Math.fround(acc + Math.fround(X[xo + iy * w + ix] * W[wo + i * 3 + j]));
            }
          }
          if (B) acc = Math.fround(acc + B[ch]);
          Y[yo + oy * ow + ox] = Math.min(Math.max(acc, l), u);
        }
    }
}
