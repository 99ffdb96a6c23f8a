// Pure-JS elementwise arithmetic: the same entry points as assembly/elementwise.ts. Each result is
// computed in f64 and stored in f32, which rounds exactly as one f32 operation does.
import { f32 } from './memory';

function apply(op: number, a: number, b: number): number {
  if (op === 4) {
    // add then ReLU (reluForward's rule on the f32 sum)
    const v = Math.fround(a + b);
    return v > 0 || v !== v ? v : 0;
  }
  return op === 0 ? a + b : op === 1 ? a - b : op === 2 ? a * b : a / b;
}

/** y[r·m + j] = a[r·m + j] ∘ b[j] (op: 0 add, 1 sub, 2 mul, 3 div, 4 max(a + b, 0)). */
export function ewBinary(op: number, a: number, b: number, y: number, rows: number, m: number): void {
  const A = f32(a, rows * m),
    B = f32(b, m),
    Y = f32(y, rows * m);
  for (let r = 0, i = 0; r < rows; r++) for (let j = 0; j < m; j++, i++) Y[i] = apply(op, A[i], B[j]);
}

/** y = a ∘ s, or s ∘ a when `swap`. */
export function ewScalar(op: number, a: number, s: number, y: number, n: number, swap: number): void {
  const A = f32(a, n),
    Y = f32(y, n);
  const sf = Math.fround(s);
  for (let i = 0; i < n; i++) Y[i] = swap ? apply(op, sf, A[i]) : apply(op, A[i], sf);
}

/** Σ x in f64, in index order. */
export function sumAll(x: number, n: number): number {
  const X = f32(x, n);
  let s = 0;
  for (let i = 0; i < n; i++) s += X[i];
  return s;
}
