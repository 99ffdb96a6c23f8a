// Thin wrapper over the reductions (assembly/reduce.ts, src/js/reduce.ts).
import { runtime } from '../runtime/index';

/** out[j] += Σ_i x[i][j] for x[m][n] (a bias gradient from dy). */
export function addColumnSums(x: number, m: number, n: number, out: number): void {
  runtime().k.addColumnSums(x, m, n, out);
}
