// Pure-JS GEMM: the same entry points as assembly/gemm.ts for runtimes without WebAssembly. Rows
// of C are accumulated in f64 (JS's own arithmetic) and rounded to f32 once, four rows at a time,
// in i-k-j order so the inner loop runs along contiguous rows of B; with Bᵀ each element is a dot
// product along a row of B.
// see: https://en.wikipedia.org/wiki/Matrix_multiplication_algorithm#Iterative_algorithm (loop orders and caches)
import { f32 } from './memory';

let rows = [0, 1, 2, 3].map(() => new Float64Array(64));

/** Workspace bytes for sgemm: none (kept for the shared kernel interface). */
export function sgemmWorkspace(_m: number, _n: number, _k: number): number {
  return 0;
}

/**
 * C[m×n] = op(A)·op(B) + beta·C (+ bias[n] on every row when `bias` ≠ 0), row-major, strides in
 * floats; op(A) = Aᵀ (A stored [k×m]) when transA = 1, op(B) = Bᵀ (B stored [n×k]) when transB = 1.
 * C is not read when beta = 0. `ws` is unused.
 */
export function sgemm(
  transA: number,
  transB: number,
  m: number,
  n: number,
  k: number,
  a: number,
  lda: number,
  b: number,
  ldb: number,
  c: number,
  ldc: number,
  beta: number,
  bias: number,
  _ws: number,
): void {
  if (m <= 0 || n <= 0) return;
  const C = f32(c, (m - 1) * ldc + n);
  const BIAS = bias ? f32(bias, n) : null;
  const A = k > 0 ? f32(a, transA ? (k - 1) * lda + m : (m - 1) * lda + k) : C;
  const B = k > 0 ? f32(b, transB ? (n - 1) * ldb + k : (k - 1) * ldb + n) : C;
  // A(i, p) = A[i·ai + p·ap]
  const ai = transA ? 1 : lda,
    ap = transA ? lda : 1;
  if (rows[0].length < n) rows = [0, 1, 2, 3].map(() => new Float64Array(n));
  const [R0, R1, R2, R3] = rows;
  // four rows of C at a time: each value of B loaded once serves four of them
  for (let i = 0; i < m; i += 4) {
    const r = Math.min(4, m - i);
    // rows past m get A = 0 (and are not stored), so the loops need no tail
    const q0 = i * ai,
      q1 = r > 1 ? q0 + ai : -1,
      q2 = r > 2 ? q0 + 2 * ai : -1,
      q3 = r > 3 ? q0 + 3 * ai : -1;
    if (transB) {
      for (let j = 0; j < n; j++) {
        let s0 = 0,
          s1 = 0,
          s2 = 0,
          s3 = 0;
        for (let p = 0, o = 0, bj = j * ldb; p < k; p++, o += ap) {
          const y = B[bj + p];
          s0 += A[q0 + o] * y;
          if (q1 >= 0) s1 += A[q1 + o] * y;
          if (q2 >= 0) s2 += A[q2 + o] * y;
          if (q3 >= 0) s3 += A[q3 + o] * y;
        }
        R0[j] = s0;
        R1[j] = s1;
        R2[j] = s2;
        R3[j] = s3;
      }
    } else {
      R0.fill(0, 0, n);
      R1.fill(0, 0, n);
      R2.fill(0, 0, n);
      R3.fill(0, 0, n);
      for (let p = 0, o = 0; p < k; p++, o += ap) {
        const x0 = A[q0 + o],
          x1 = q1 >= 0 ? A[q1 + o] : 0,
          x2 = q2 >= 0 ? A[q2 + o] : 0,
          x3 = q3 >= 0 ? A[q3 + o] : 0;
        const bp = p * ldb;
        for (let j = 0; j < n; j++) {
          const y = B[bp + j];
          R0[j] += x0 * y;
          R1[j] += x1 * y;
          R2[j] += x2 * y;
          R3[j] += x3 * y;
        }
      }
    }
    for (let rr = 0; rr < r; rr++) {
      const R = rows[rr],
        ci = (i + rr) * ldc;
      for (let j = 0; j < n; j++) {
        let v = R[j];
        if (BIAS) v += BIAS[j];
        if (beta !== 0) v += beta * C[ci + j];
        C[ci + j] = v;
      }
    }
  }
}
