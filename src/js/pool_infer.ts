// Pure-JS twin of assembly/pool_infer.ts: max pooling without the argmax, the same choice per window.
import { f32 } from './memory';

/** y [n, oh, ow, c] = the maximum of each window of x [n, h, w, c] (the first maximum, or the last NaN); see assembly/pool_infer.ts. */
export function maxPool2dInfer(
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
  for (let img = 0; img < n; img++)
    for (let oy = 0; oy < oh; oy++) {
      const y0 = Math.max(oy * sh - ph, 0),
        y1 = Math.min(oy * sh - ph + kh, h);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = Math.max(ox * sw - pw, 0),
          x1 = Math.min(ox * sw - pw + kw, w);
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          for (let iy = y0; iy < y1; iy++)
            for (let ix = x0; ix < x1; ix++) {
              const v = X[((img * h + iy) * w + ix) * c + ch];
              if (v > best || v !== v) best = v;
            }
          Y[((img * oh + oy) * ow + ox) * c + ch] = best;
        }
      }
    }
}
