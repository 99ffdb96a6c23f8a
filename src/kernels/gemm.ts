// Thin wrapper over the GEMM kernels (assembly/gemm.ts, src/js/gemm.ts): default strides for
// contiguous row-major operands and the packing workspace.
import { runtime } from '../runtime/index';

export interface MatmulOptions {
  /** op(A) = Aᵀ, A stored [k×m] (default false: A is [m×k]). */
  transA?: boolean;
  /** op(B) = Bᵀ, B stored [n×k] (default false: B is [k×n]). */
  transB?: boolean;
  /** 0: C is overwritten and never read (default); 1: the product is added to C. */
  beta?: number;
  /** Pointer to f32[n] added to every row of C (default 0: none). */
  bias?: number;
  /** Row strides in floats; by default the operands are contiguous. */
  lda?: number;
  ldb?: number;
  ldc?: number;
}

/**
 * C[m×n] = op(A)·op(B) + beta·C (+ bias) on f32 buffers of the active backend, row-major; `a`, `b`,
 * `c` are pointers (Tensor.ptr). Nothing is checked: callers pass consistent sizes.
 */
export function matmul(a: number, b: number, c: number, m: number, n: number, k: number, o: MatmulOptions = {}): void {
  const kk = runtime().k;
  const tA = o.transA ? 1 : 0,
    tB = o.transB ? 1 : 0;
  const lda = o.lda ?? (tA ? m : k),
    ldb = o.ldb ?? (tB ? k : n),
    ldc = o.ldc ?? n;
  const bytes = m > 0 && n > 0 && k > 0 ? kk.sgemmWorkspace(m, n, k) : 0;
  const ws = bytes > 0 ? kk.alloc(bytes) : 0;
  try {
    kk.sgemm(tA, tB, m, n, k, a, lda, b, ldb, c, ldc, o.beta ?? 0, o.bias ?? 0, ws);
  } finally {
    if (ws !== 0) kk.free(ws);
  }
}
