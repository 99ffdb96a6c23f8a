// Pure-JS softmax and log-softmax: the same entry points as assembly/softmax.ts.
import { f32 } from './memory';

/** y = log softmax(x) (`log` = 1) or softmax(x) along the axis of size c of [outer][c][inner]. */
export function softmaxForward(x: number, y: number, outer: number, c: number, inner: number, log: number): void {
  const X = f32(x, outer * c * inner),
    Y = f32(y, outer * c * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * c * inner + i;
      let mx = -Infinity;
      for (let j = 0; j < c; j++) mx = Math.max(mx, X[base + j * inner]);
      let se = 0;
      for (let j = 0; j < c; j++) se += Math.exp(X[base + j * inner] - mx);
      const lse = mx + Math.log(se);
      for (let j = 0; j < c; j++) {
        const v = X[base + j * inner] - lse;
        Y[base + j * inner] = log ? v : Math.exp(v);
      }
    }
  }
}

/** dx = dy − e^y·Σdy (log-softmax) or y·(dy − Σ dy·y) (softmax). */
export function softmaxBackward(y: number, dy: number, dx: number, outer: number, c: number, inner: number, log: number): void {
  const n = outer * c * inner;
  const Y = f32(y, n),
    G = f32(dy, n),
    D = f32(dx, n);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * c * inner + i;
      let s = 0;
      for (let j = 0; j < c; j++) s += log ? G[base + j * inner] : G[base + j * inner] * Y[base + j * inner];
      for (let j = 0; j < c; j++) {
        const k = base + j * inner;
        D[k] = log ? G[k] - Math.exp(Y[k]) * s : Y[k] * (G[k] - s);
      }
    }
  }
}
