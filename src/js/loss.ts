// Pure-JS losses: the same entry points as assembly/loss.ts.
import { f32, i32 } from './memory';

/** Mean softmax cross-entropy with label smoothing; writes dz. Returns the loss. */
export function softmaxCrossEntropy(z: number, labels: number, n: number, c: number, smoothing: number, dz: number): number {
  const Z = f32(z, n * c),
    L = i32(labels, n),
    D = f32(dz, n * c);
  const off = smoothing / c,
    on = 1 - smoothing + off;
  let total = 0;
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let j = 0; j < c; j++) mx = Math.max(mx, Z[i * c + j]);
    let se = 0;
    for (let j = 0; j < c; j++) se += Math.exp(Z[i * c + j] - mx);
    const lse = mx + Math.log(se);
    let sumz = 0;
    for (let j = 0; j < c; j++) {
      sumz += Z[i * c + j];
      D[i * c + j] = (Math.exp(Z[i * c + j] - lse) - (j === L[i] ? on : off)) / n;
    }
    total += lse - (1 - smoothing) * Z[i * c + L[i]] - off * sumz;
  }
  return n > 0 ? total / n : 0;
}

/** Mean squared error; writes dp. Returns the loss. */
export function mseLoss(p: number, t: number, n: number, dp: number): number {
  const P = f32(p, n),
    T = f32(t, n),
    D = f32(dp, n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const d = P[i] - T[i];
    total += d * d;
    D[i] = (2 * d) / n;
  }
  return n > 0 ? total / n : 0;
}
