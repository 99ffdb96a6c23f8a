// Single-precision GEMM, row-major: C[m×n] = op(A)·op(B) + beta·C (+ bias[n] on every row).
// B is packed panel by panel into the caller's workspace (strips of 8 columns, contiguous in k),
// except B[k×n] when C has at most 4 rows: each value of B is then used once, so it is read in place;
// A is packed into strips of 4 rows when more than two strips of B use it in the SIMD build, else
// read where it lies (rows of A, or the columns of Aᵀ, which are contiguous; see packsA). A
// register tile of 4 rows × 8 columns (eight f32x4 accumulators; twelve spill in V8's x64 code)
// sums each element of C in k order with mul + add: no FMA and no relaxed SIMD,
// so results do not depend on the CPU, and the scalar build, which sums in the same order, gives
// bit-identical results. The opt-in relaxed build (asconfig target `relaxed`) takes relaxed_madd
// there instead: one fused multiply-add where the CPU has FMA (one rounding fewer, so its products
// differ from the other builds' in the last bits, and by CPU), mul + add where it has not.
// see: Goto & van de Geijn, "Anatomy of High-Performance Matrix Multiplication", ACM TOMS 2008,
//      https://doi.org/10.1145/1356052.1356053; BLIS, https://github.com/flame/blis (loop nest around
//      a micro-kernel over packed panels)

import { MR, NR, packB, packAT, packAN } from './gemm_pack';
import { finish, madd, out, tile4x8 } from './tile';

/** k per panel: a packed B strip (KC·NR·4 = 8 KiB) stays in L1 while A streams past it. */
const KC: i32 = 256;
/** Columns per B panel: KC·NC·4 = 512 KiB stays in L2. */
const NC: i32 = 512;
/** Rows of A per packed block (MC·KC·4 = 64 KiB). */
const MC: i32 = 64;

// NOTE: C is read only when it is accumulated into (beta ≠ 0, or the k panels after the first):
// with beta = 0 it may hold NaN, which must not reach the output.

/**
 * True where A is packed into strips of MR rows (MR values per step of k), the layout the full
 * tile's loop reads with one pointer and constant offsets. In the SIMD build that pays once a
 * block of A serves more than two column strips: the loop then carries two pointers, not five,
 * and V8's x64 code for a step of k is 31 instructions, not 34; the front end's issue rate is what
 * bounds it (measured 1.05–1.2× on every orientation; docs/benchmarks.md). Otherwise (the scalar build, and
 * products with at most two strips, e.g. im2col's [P×9]·[9×16]) rows of A stream well in place,
 * except Aᵀ with rows a multiple of 4 KiB apart: every line falls in the same cache sets and they
 * evict each other (m = 1024, lda = 1024: 31 GFLOP/s in place, 44 packed).
 */
// @ts-ignore: decorator
@inline function packsA(transA: i32, m: i32, n: i32, lda: i32): bool {
  if (m <= MR || n <= NR) return false;
  return (ASC_FEATURE_SIMD && n > 2 * NR) || (transA != 0 && (lda & 1023) == 0);
}

/** Bytes of workspace `sgemm` needs (at most a KC×NC panel of B and an MC×KC block of A: 640 KiB). */
export function sgemmWorkspace(m: i32, n: i32, k: i32): i32 {
  let kc = min(k, KC);
  // B strips are 8 or 4 columns wide, the last one padded with zeros; A strips are MR rows tall
  let nc = (min(n, NC) + 3) & ~3;
  // packsA's widest case (Aᵀ, lda a multiple of 1024) bounds every other
  let mc = packsA(1, m, n, 0) ? (min(m, MC) + MR - 1) & ~(MR - 1) : 0;
  return (kc * nc + mc * kc) << 2;
}

/**
 * C[m×n] = op(A)·op(B) + beta·C (+ bias[n] on every row when `bias` ≠ 0). op(A) is A[m×k] (row
 * stride lda) or, when transA = 1, the transpose of A stored [k×m]; op(B) is B[k×n] or, when
 * transB = 1, the transpose of B stored [n×k]. C is not read when beta = 0. `ws` holds
 * sgemmWorkspace(m, n, k) bytes. Strides are in floats.
 */
export function sgemm(transA: i32, transB: i32, m: i32, n: i32, k: i32, a: usize, lda: i32, b: usize, ldb: i32, c: usize, ldc: i32, beta: f32, bias: usize, ws: usize): void {
  if (m <= 0 || n <= 0) return;
  let cs = <usize>ldc << 2;
  if (k <= 0) {
    for (let i = 0; i < m; i++) {
      let row = c + <usize>i * cs;
      for (let j = 0; j < n; j++) {
        let o = <usize>j << 2;
        store<f32>(row + o, finish(0, row + o, beta, bias != 0 ? bias + o : 0));
      }
    }
    return;
  }
  let packA = packsA(transA, m, n, lda);
  // a single row of tiles uses each value of B once: B[k×n] is then read in place, not copied
  let inPlaceB = transB == 0 && m <= MR;
  let wsA = ws + ((<usize>min(k, KC) * <usize>((min(n, NC) + 3) & ~3)) << 2);
  for (let jc = 0; jc < n; jc += NC) {
    let nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      let kc = min(KC, k - pc);
      // the first k panel applies beta and the bias; later ones add to what it wrote
      let bt: f32 = pc == 0 ? beta : 1;
      let bv = pc == 0 && bias != 0 ? bias + (<usize>jc << 2) : 0;
      let pb = ws, ldB: usize = 0;
      if (inPlaceB) {
        pb = b + ((<usize>pc * <usize>ldb + <usize>jc) << 2);
        ldB = <usize>ldb << 2;
        // the last 1–3 columns cannot be loaded 4 at a time in place: they alone are packed
        let tail = nc & 3;
        if (tail != 0) packB(0, kc, tail, b, ldb, pc, jc + nc - tail, ws);
      } else {
        packB(transB, kc, nc, b, ldb, pc, jc, ws);
      }
      for (let ic = 0; ic < m; ic += MC) {
        let mc = min(MC, m - ic);
        // A(i, p) of this block is at pa + (i / MR)·ms + (i % MR)·ra + p·sa
        let pa: usize, ra: usize, sa: usize, ms: usize;
        if (packA) {
          if (transA) packAT(mc, kc, a + ((<usize>pc * <usize>lda + <usize>ic) << 2), lda, wsA);
          else packAN(mc, kc, a + ((<usize>ic * <usize>lda + <usize>pc) << 2), lda, wsA);
          pa = wsA; ra = 4; sa = MR << 2; ms = <usize>(kc * MR) << 2;
        } else if (transA) {
          pa = a + ((<usize>pc * <usize>lda + <usize>ic) << 2); ra = 4; sa = <usize>lda << 2; ms = MR << 2;
        } else {
          pa = a + ((<usize>ic * <usize>lda + <usize>pc) << 2); ra = <usize>lda << 2; sa = 4; ms = ra * MR;
        }
        panel(mc, nc, kc, pa, ra, sa, ms, pb, ldB, ws, c + <usize>ic * cs + (<usize>jc << 2), cs, bt, bv);
      }
    }
  }
}

/**
 * One mc×nc block of C (row stride cs bytes) from A (see sgemm for pa, ra, sa, ms) and B: strips
 * of columns outside, tiles of MR rows inside, so a B strip stays in L1. B is the packed panel at
 * pb (ldB = 0), or B in place at pb, ldB bytes per row, with its last 1–3 columns packed at ws.
 */
function panel(mc: i32, nc: i32, kc: i32, pa: usize, ra: usize, sa: usize, ms: usize, pb: usize, ldB: usize, ws: usize, cb: usize, cs: usize, beta: f32, bias: usize): void {
  for (let j = 0; j < nc; ) {
    let w = nc - j >= NR ? NR : 4;
    let cols = min(w, nc - j);
    let jo = <usize>j << 2;
    // the strip of column j and the bytes between its steps of k
    let bs = pb + (<usize>(j * kc) << 2), bw = <usize>w << 2;
    if (ldB != 0) {
      if (cols >= 4) {
        bs = pb + jo; bw = ldB;
      } else {
        bs = ws; bw = 16;
      }
    }
    let bj = bias != 0 ? bias + jo : 0;
    let ap = pa, cp = cb + jo;
    // a full strip over packed A (or Aᵀ laid out alike) and packed B: the constant-stride tile
    let fast = w == NR && ra == 4 && sa == MR << 2 && bw == NR << 2;
    for (let i = 0; i < mc; i += MR) {
      let r = min(MR, mc - i);
      if (ASC_FEATURE_SIMD) {
        if (fast && r == MR) packedTile(kc, ap, bs, cp, cs, beta, bj);
        else simdTile(r, w, cols, kc, ap, ra, sa, bs, bw, cp, cs, beta, bj);
      } else {
        for (let g = 0; g < cols; g += 4) {
          let go = <usize>g << 2;
          scalarTile(r, min(4, cols - g), kc, ap, ra, sa, bs + go, bw, cp + go, cs, beta, bj != 0 ? bj + go : 0);
        }
      }
      ap += ms;
      cp += cs * MR;
    }
    j += w;
  }
}

/**
 * The register tile: R rows × W columns (W = 8 or 4) of C over kc steps of k, in k order. B: W
 * floats per step at pb. A: with LANES the R values of a step are adjacent (packed A, or Aᵀ read
 * in place), else they sit in R rows ra bytes apart; steps are sa bytes apart. R, W and LANES are
 * constants at every call, so each call compiles to its own loop with only the registers it uses.
 */
// @ts-ignore: decorator
@inline function tile(R: i32, W: i32, LANES: bool, kc: i32, pa: usize, ra: usize, sa: usize, pb: usize, bw: usize, cp: usize, cs: usize, cols: i32, beta: f32, bias: usize): void {
  let z = f32x4.splat(0);
  let c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
  let a0 = pa, a1 = pa + ra, a2 = pa + 2 * ra, a3 = pa + 3 * ra;
  for (let p = 0; p < kc; p++) {
    let b0 = v128.load(pb);
    let b1 = W == 8 ? v128.load(pb, 16) : z;
    let x = v128.load32_splat(a0);
    c00 = madd(x, b0, c00);
    if (W == 8) c01 = madd(x, b1, c01);
    if (R > 1) {
      x = LANES ? v128.load32_splat(a0, 4) : v128.load32_splat(a1);
      c10 = madd(x, b0, c10);
      if (W == 8) c11 = madd(x, b1, c11);
    }
    if (R > 2) {
      x = LANES ? v128.load32_splat(a0, 8) : v128.load32_splat(a2);
      c20 = madd(x, b0, c20);
      if (W == 8) c21 = madd(x, b1, c21);
    }
    if (R > 3) {
      x = LANES ? v128.load32_splat(a0, 12) : v128.load32_splat(a3);
      c30 = madd(x, b0, c30);
      if (W == 8) c31 = madd(x, b1, c31);
    }
    pb += bw;
    a0 += sa;
    if (!LANES) {
      a1 += sa; a2 += sa; a3 += sa;
    }
  }
  out(W, cp, c00, c01, cols, beta, bias);
  if (R > 1) out(W, cp + cs, c10, c11, cols, beta, bias);
  if (R > 2) out(W, cp + 2 * cs, c20, c21, cols, beta, bias);
  if (R > 3) out(W, cp + 3 * cs, c30, c31, cols, beta, bias);
}

/** An r × w tile (r ≤ MR; w = 8, or 4 with `cols` of them stored): picks the compiled variant. */
function simdTile(r: i32, w: i32, cols: i32, kc: i32, pa: usize, ra: usize, sa: usize, pb: usize, bw: usize, cp: usize, cs: usize, beta: f32, bias: usize): void {
  if (ra == 4) {
    // A values of a step adjacent: their stride between steps varies, their offsets do not
    if (w == NR) {
      if (r == 4) tile(4, 8, true, kc, pa, 4, sa, pb, bw, cp, cs, 8, beta, bias);
      else if (r == 3) tile(3, 8, true, kc, pa, 4, sa, pb, bw, cp, cs, 8, beta, bias);
      else if (r == 2) tile(2, 8, true, kc, pa, 4, sa, pb, bw, cp, cs, 8, beta, bias);
      else tile(1, 8, true, kc, pa, 4, sa, pb, bw, cp, cs, 8, beta, bias);
    } else {
      if (r == 4) tile(4, 4, true, kc, pa, 4, sa, pb, bw, cp, cs, cols, beta, bias);
      else if (r == 3) tile(3, 4, true, kc, pa, 4, sa, pb, bw, cp, cs, cols, beta, bias);
      else if (r == 2) tile(2, 4, true, kc, pa, 4, sa, pb, bw, cp, cs, cols, beta, bias);
      else tile(1, 4, true, kc, pa, 4, sa, pb, bw, cp, cs, cols, beta, bias);
    }
  } else {
    // rows of A: contiguous in k
    if (w == NR) {
      if (r == 4) tile(4, 8, false, kc, pa, ra, 4, pb, bw, cp, cs, 8, beta, bias);
      else if (r == 3) tile(3, 8, false, kc, pa, ra, 4, pb, bw, cp, cs, 8, beta, bias);
      else if (r == 2) tile(2, 8, false, kc, pa, ra, 4, pb, bw, cp, cs, 8, beta, bias);
      else tile(1, 8, false, kc, pa, ra, 4, pb, bw, cp, cs, 8, beta, bias);
    } else {
      if (r == 4) tile(4, 4, false, kc, pa, ra, 4, pb, bw, cp, cs, cols, beta, bias);
      else if (r == 3) tile(3, 4, false, kc, pa, ra, 4, pb, bw, cp, cs, cols, beta, bias);
      else if (r == 2) tile(2, 4, false, kc, pa, ra, 4, pb, bw, cp, cs, cols, beta, bias);
      else tile(1, 4, false, kc, pa, ra, 4, pb, bw, cp, cs, cols, beta, bias);
    }
  }
}

/** The full tile over packed A and packed B (tile.ts), with gemm's write-out. */
function packedTile(kc: i32, pa: usize, pb: usize, cp: usize, cs: usize, beta: f32, bias: usize): void {
  tile4x8(false, kc, pa, pb, cp, cs, 8, beta, true, true, bias, 0, 0);
}

/**
 * The scalar build's tile: r rows × `cols` (≤ 4) columns, four f32 accumulators per row, in k
 * order. B: 4 floats used per step at pb, steps bw bytes apart.
 */
function scalarTile(r: i32, cols: i32, kc: i32, pa: usize, ra: usize, sa: usize, pb: usize, bw: usize, cp: usize, cs: usize, beta: f32, bias: usize): void {
  for (let i = 0; i < r; i++) {
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    let q = pa + <usize>i * ra, b = pb;
    for (let p = 0; p < kc; p++) {
      let x = load<f32>(q);
      s0 += x * load<f32>(b); s1 += x * load<f32>(b, 4); s2 += x * load<f32>(b, 8); s3 += x * load<f32>(b, 12);
      q += sa;
      b += bw;
    }
    let o = cp + <usize>i * cs;
    store<f32>(o, finish(s0, o, beta, bias));
    if (cols > 1) store<f32>(o + 4, finish(s1, o + 4, beta, bias != 0 ? bias + 4 : 0));
    if (cols > 2) store<f32>(o + 8, finish(s2, o + 8, beta, bias != 0 ? bias + 8 : 0));
    if (cols > 3) store<f32>(o + 12, finish(s3, o + 12, beta, bias != 0 ? bias + 12 : 0));
  }
}
