// Part kernels of the shared-memory build (asconfig target simd-threads, entry index_threads.ts):
// each export does part `part` of `parts` of one kernel call, so that the runtime's threads can
// share a call (src/runtime/pool.ts). A part writes only its own slice of the output and uses only
// its own workspace, and computes every value it writes with the operations, in the order, of the
// single-threaded kernel: results do not depend on how many parts or threads there are.
import { sgemm, sgemmWorkspace } from './gemm';

/** Rows of the GEMM register tile and columns of its widest strip (gemm.ts's MR and NR). */
const MR: i32 = 4;
const NR: i32 = 8;

/** Start of slice `part` of `units` units split into `parts` near-equal slices. */
// @ts-ignore: decorator
@inline export function sliceStart(part: i32, parts: i32, units: i32): i32 {
  return <i32>((<i64>part * <i64>units) / <i64>parts);
}

/** Whether sgemmPart splits the columns of C (else its rows): columns keep each part's packed B its own. */
// @ts-ignore: decorator
@inline function splitsColumns(m: i32, n: i32, parts: i32): bool {
  return n >= m || (n + NR - 1) / NR >= parts * 4;
}

/** Bytes of workspace each part of sgemmPart needs (the whole call's, an upper bound for any slice). */
export function sgemmPartWorkspace(m: i32, n: i32, k: i32): i32 {
  return sgemmWorkspace(m, n, k);
}

/**
 * Part `part` of `parts` of sgemm (same arguments): a slice of columns of C in strips of 8, or of
 * rows in tiles of 4. Each element of C is summed in k order by the same tile code as the whole
 * call (gemm.ts), so the bits do not depend on the slice. Part 0 uses ws0, part p > 0 the
 * wsBytes at wsRest + (p − 1)·wsBytes.
 */
export function sgemmPart(part: i32, parts: i32, transA: i32, transB: i32, m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, beta: f32, bias: usize, ws0: usize, wsRest: usize, wsBytes: i32): void {
  let ws = part == 0 ? ws0 : wsRest + <usize>(part - 1) * <usize>wsBytes;
  if (splitsColumns(m, n, parts)) {
    let strips = (n + NR - 1) / NR;
    let j0 = sliceStart(part, parts, strips) * NR, j1 = min(n, sliceStart(part + 1, parts, strips) * NR);
    if (j1 <= j0) return;
    // column j of op(B): column j of B[k×n], or row j of B stored [n×k]
    let bj = transB ? b + ((<usize>j0 * <usize>ldb) << 2) : b + (<usize>j0 << 2);
    sgemm(transA, transB, m, j1 - j0, k, a, lda, bj, ldb, c + (<usize>j0 << 2), ldc, beta, bias != 0 ? bias + (<usize>j0 << 2) : 0, ws);
  } else {
    let tiles = (m + MR - 1) / MR;
    let i0 = sliceStart(part, parts, tiles) * MR, i1 = min(m, sliceStart(part + 1, parts, tiles) * MR);
    if (i1 <= i0) return;
    // row i of op(A): row i of A[m×k], or column i of A stored [k×m]
    let ai = transA ? a + (<usize>i0 << 2) : a + ((<usize>i0 * <usize>lda) << 2);
    sgemm(transA, transB, i1 - i0, n, k, ai, lda, b, ldb, c + ((<usize>i0 * <usize>ldc) << 2), ldc, beta, bias, ws);
  }
}

/** Does nothing: the runtime times a fork-join of it (the cost of sharing a call between threads). */
export function nopPart(part: i32, parts: i32): void {}
