// The register tile that gemm.ts and conv_infer.ts share: 4 rows × 8 columns (eight f32x4
// accumulators) over a packed strip of A (4 values per step of k) and a packed strip of B (8 values
// per step), summed in k order; then each caller's write-out (gemm: + bias, + beta·C; conv_infer:
// + what earlier panels stored, then + bias and the clamp). Not re-exported by index.ts: nothing
// here is a kernel.
// see: Goto & van de Geijn 2008, https://doi.org/10.1145/1356052.1356053 (register tiles over packed panels)
import { MR, NR } from './gemm_pack';

/** c + a·b: relaxed_madd in the relaxed build (fused where the CPU has FMA), else mul then add. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? f32x4.relaxed_madd(a, b, c) : f32x4.add(c, f32x4.mul(a, b));
}

/**
 * The full tile over packed A and packed B, every stride a constant and the loop counted by B's
 * pointer: a step of k is its 6 loads and 16 vector operations, two pointer steps and the loop's
 * tests. Not unrolled: V8 (11–13) then hoists the loads of all the unrolled steps above the
 * arithmetic and spills the accumulators (measured 0.65×). Each caller wraps it in a function of
 * its own (its `packedTile`), so V8 compiles the loop apart from the caller's loops. Row i is stored at cp + i·rs by
 * conv_infer.ts's `put` when CONV (a constant at every call: each caller compiles to its own
 * loop), with bias + 4i (the bias of its output channel), else by gemm.ts's `out` with bias.
 */
// @ts-ignore: decorator
@inline export function tile4x8(CONV: bool, kc: i32, pa: usize, pb: usize, cp: usize, rs: usize, cols: i32, beta: f32, first: bool, last: bool, bias: usize, lo: f32, hi: f32): void {
  let z = f32x4.splat(0);
  let c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
  for (let end = pb + (<usize>kc << 5); pb < end; ) {
    let b0 = v128.load(pb), b1 = v128.load(pb, 16);
    let x = v128.load32_splat(pa);
    c00 = madd(x, b0, c00);
    c01 = madd(x, b1, c01);
    x = v128.load32_splat(pa, 4);
    c10 = madd(x, b0, c10);
    c11 = madd(x, b1, c11);
    x = v128.load32_splat(pa, 8);
    c20 = madd(x, b0, c20);
    c21 = madd(x, b1, c21);
    x = v128.load32_splat(pa, 12);
    c30 = madd(x, b0, c30);
    c31 = madd(x, b1, c31);
    pa += MR << 2;
    pb += NR << 2;
  }
  if (CONV) {
    put(cp, c00, c01, cols, first, last, bias, lo, hi);
    put(cp + rs, c10, c11, cols, first, last, bias != 0 ? bias + 4 : 0, lo, hi);
    put(cp + 2 * rs, c20, c21, cols, first, last, bias != 0 ? bias + 8 : 0, lo, hi);
    put(cp + 3 * rs, c30, c31, cols, first, last, bias != 0 ? bias + 12 : 0, lo, hi);
  } else {
    out(8, cp, c00, c01, 8, beta, bias);
    out(8, cp + rs, c10, c11, 8, beta, bias);
    out(8, cp + 2 * rs, c20, c21, 8, beta, bias);
    out(8, cp + 3 * rs, c30, c31, 8, beta, bias);
  }
}

/** gemm.ts's write-out of one element: x + bias + beta·C for the element of C at p (bias: address of its bias value, or 0). */
// @ts-ignore: decorator
@inline export function finish(x: f32, p: usize, beta: f32, bias: usize): f32 {
  if (bias != 0) x += load<f32>(bias);
  if (beta != 0) x += beta * load<f32>(p);
  return x;
}

/** gemm.ts's write-out of a row: adds the bias and beta·C to W accumulators (the first `cols` when W = 4) and stores them. */
// @ts-ignore: decorator
@inline export function out(W: i32, p: usize, v0: v128, v1: v128, cols: i32, beta: f32, bias: usize): void {
  if (W == 4 && cols < 4) {
    // the tail of a row: lane by lane, touching neither C nor bias past the last column
    store<f32>(p, finish(f32x4.extract_lane(v0, 0), p, beta, bias));
    if (cols > 1) store<f32>(p + 4, finish(f32x4.extract_lane(v0, 1), p + 4, beta, bias != 0 ? bias + 4 : 0));
    if (cols > 2) store<f32>(p + 8, finish(f32x4.extract_lane(v0, 2), p + 8, beta, bias != 0 ? bias + 8 : 0));
    return;
  }
  if (bias != 0) {
    v0 = f32x4.add(v0, v128.load(bias));
    if (W == 8) v1 = f32x4.add(v1, v128.load(bias, 16));
  }
  if (beta != 0) {
    let bt = f32x4.splat(beta);
    v0 = f32x4.add(v0, f32x4.mul(bt, v128.load(p)));
    if (W == 8) v1 = f32x4.add(v1, f32x4.mul(bt, v128.load(p, 16)));
  }
  v128.store(p, v0);
  if (W == 8) v128.store(p, v1, 16);
}

/** conv_infer.ts's write-out: stores one row of 8 (the first `cols`) sums: + what earlier panels stored, then on the last panel + bias and the clamp. */
// @ts-ignore: decorator
@inline export function put(p: usize, v0: v128, v1: v128, cols: i32, first: bool, last: bool, bias: usize, lo: f32, hi: f32): void {
  if (cols < 8) {
    for (let t = 0; t < cols; t++) {
      // extract_lane takes a constant index: lane() picks it
      let s = lane(t < 4 ? v0 : v1, t & 3);
      let q = p + (<usize>t << 2);
      store<f32>(q, putOne(s, q, first, last, bias, lo, hi));
    }
    return;
  }
  if (!first) {
    v0 = f32x4.add(v0, v128.load(p));
    v1 = f32x4.add(v1, v128.load(p, 16));
  }
  if (last) {
    if (bias != 0) {
      let b = v128.load32_splat(bias);
      v0 = f32x4.add(v0, b);
      v1 = f32x4.add(v1, b);
    }
    let l = f32x4.splat(lo), u = f32x4.splat(hi);
    v0 = f32x4.min(f32x4.max(v0, l), u);
    v1 = f32x4.min(f32x4.max(v1, l), u);
  }
  v128.store(p, v0);
  v128.store(p, v1, 16);
}

/** Lane i (0…3) of v: extract_lane takes a constant index. */
// @ts-ignore: decorator
@inline function lane(v: v128, i: i32): f32 {
  if (i == 0) return f32x4.extract_lane(v, 0);
  if (i == 1) return f32x4.extract_lane(v, 1);
  if (i == 2) return f32x4.extract_lane(v, 2);
  return f32x4.extract_lane(v, 3);
}

/** One sum's write-out (the scalar path and the SIMD tail): as `put`, lane by lane. */
// @ts-ignore: decorator
@inline export function putOne(s: f32, q: usize, first: bool, last: bool, bias: usize, lo: f32, hi: f32): f32 {
  if (!first) s += load<f32>(q);
  if (last) {
    if (bias != 0) s += load<f32>(bias);
    s = min(max(s, lo), hi);
  }
  return s;
}
