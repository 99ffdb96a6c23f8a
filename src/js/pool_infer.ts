// Pure-JS twin of assembly/pool_infer.ts: max pooling without the argmax, the same choice per window.
import { f32 } from './memory';
import { forEachWindow, windowArgmax } from './windows';

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
  forEachWindow({ n, h, w, kh, kw, sh, sw, ph, pw, oh, ow }, (p, img, y0, y1, x0, x1) => {
    for (let ch = 0; ch < c; ch++) {
      const bi = windowArgmax(X, img * h * w * c + ch, w, c, y0, y1, x0, x1);
      Y[p * c + ch] = bi < 0 ? -Infinity : X[(img * h * w + bi) * c + ch];
    }
  });
}
