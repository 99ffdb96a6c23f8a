// Pure-JS reductions: the same entry points as assembly/reduce.ts.
import { f32 } from './memory';

/** out[j] += Σ_i x[i][j] for x[m][n]. */
export function addColumnSums(x: number, m: number, n: number, out: number): void {
  const X = f32(x, m * n),
    O = f32(out, n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < m; i++) s += X[i * n + j];
    O[j] += s;
  }
}
