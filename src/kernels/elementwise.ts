// Thin wrapper over the elementwise kernels (assembly/elementwise.ts, src/js/elementwise.ts).
import { runtime } from '../runtime/index';

/** Op codes of ewBinary; addRelu is max(a + b, 0) with the ReLU kernel's rule (inference only). */
export const OP = { add: 0, sub: 1, mul: 2, div: 3, addRelu: 4 } as const;
export type BinaryOp = keyof typeof OP;

/** y[r·m + j] = a[r·m + j] ∘ b[j] for `rows` rows of `m` values (pointers of the active backend). */
export function binary(op: BinaryOp, a: number, b: number, y: number, rows: number, m: number): void {
  if (rows > 0 && m > 0) runtime().k.ewBinary(OP[op], a, b, y, rows, m);
}

/** y = a ∘ s over n values, or s ∘ a when `swap`. */
export function scalar(op: Exclude<BinaryOp, 'addRelu'>, a: number, s: number, y: number, n: number, swap = false): void {
  if (n > 0) runtime().k.ewScalar(OP[op], a, s, y, n, swap ? 1 : 0);
}

/** Σ x over n values in f64, in index order. */
export function sum(x: number, n: number): number {
  return n > 0 ? runtime().k.sumAll(x, n) : 0;
}
