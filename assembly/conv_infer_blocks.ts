// The body of the inference convolution (conv_infer.ts's kernel; parts_infer.ts's parts in the
// threaded build), NCHW, groups = 1, dilation 1, as an implicit GEMM: y[o, P] = W[o, K] · cols[K, P]
// with the columns never written out whole. Per block of KC taps and NC output pixels, the window
// values are gathered from x straight into strips of 8 pixels (the packed-B layout of gemm.ts);
// then, per 4 output channels, their weights are packed (4 per tap, gemm.ts's packed-A layout, 4 KiB
// that stay in L1) and a register tile of 4 channels × 8 pixels runs over every strip of the block.
// The write-out adds the bias of each output channel and clamps to [lo, hi] (ReLU: [0, ∞), ReLU6:
// [0, 6]), so a folded Conv-BN-ReLU is one pass over y.
// NOTE: the sums have gemm.ts's order (k panels of 256, each summed from 0 in k order with mul +
// add, then added to what the earlier panels stored; the bias after the last), so y is bit-identical
// to im2col + sgemm + convBiasNCHW in every build; the clamp is applied after that.
// see: Chellapilla et al. 2006, https://inria.hal.science/inria-00112631 (convolution as a matrix
//      product); Goto & van de Geijn 2008, https://doi.org/10.1145/1356052.1356053 (packed panels,
//      register tiles); docs/benchmarks.md (the model timings)
import { transpose4 } from './gemm_pack';
import { madd, put, putOne, tile4x8 } from './tile';

/**
 * Rows of the register tile (output channels): eight f32x4 accumulators. Six rows (twelve) spill in
 * V8's x64 code, which keeps two of the sixteen xmm registers for itself: measured 0.8× the speed of
 * four, at gemm.ts's own rate with four (docs/benchmarks.md, models).
 */
const MR: i32 = 4;
/** Pixels per strip (two f32x4). */
const NR: i32 = 8;
/** Taps per k panel: gemm.ts's, so the sums round alike. */
const KC: i32 = 256;
/** Output pixels per block: a KC × NC block of gathered columns (256 KiB) stays in L2. */
const NC: i32 = 256;

/** Bytes of workspace convInferNCHW needs for K taps (c·kh·kw) and P output pixels (conv_infer.ts). */
export function convInferBlocksWorkspace(K: i32, P: i32): i32 {
  // the gathered block, then one tile's weights packed (MR per tap)
  return (min(K, KC) * (((min(P, NC) + NR - 1) & ~(NR - 1)) + MR)) << 2;
}

/** Output pixels per block of convInferBlocks (its pixel blocks start at multiples of this). */
export const CONV_INFER_NC: i32 = NC;

/**
 * convInferNCHW's pixel blocks b0…b1−1 (NC pixels each) of output channels i0…i1−1 (i0 a multiple
 * of MR): every output it writes is summed as the whole call sums it, so a part of the threaded
 * build (parts_infer.ts) may take any such range.
 */
export function convInferBlocks(x: usize, wt: usize, bias: usize, y: usize, ws: usize, c: i32, h: i32, w: i32, o: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, lo: f32, hi: f32, b0: i32, b1: i32, i0: i32, i1: i32): void {
  let K = c * kh * kw, P = oh * ow;
  if (o <= 0 || P <= 0) return;
  let ld = <usize>K << 2, ys = <usize>P << 2;
  for (let jc = b0 * NC; jc < min(P, b1 * NC); jc += NC) {
    let nc = min(NC, P - jc);
    for (let pc = 0; pc < K; pc += KC) {
      let kc = min(KC, K - pc);
      let first = pc == 0, last = pc + kc == K;
      for (let j = 0; j < nc; j += NR) gather(x, ws + (<usize>(j * kc) << 2), pc, kc, jc + j, min(NR, nc - j), c, h, w, kh, kw, sh, sw, ph, pw, ow);
      let wp = ws + (<usize>(kc * ((nc + NR - 1) & ~(NR - 1))) << 2);
      // tiles of output channels outside: one tile's weights, packed, stay in L1 while the block
      // of gathered columns (in L2) streams past them
      for (let i = i0; i < i1; i += MR) {
        let r = min(MR, i1 - i);
        let a = wt + <usize>i * ld + (<usize>pc << 2);
        let bi = bias != 0 ? bias + (<usize>i << 2) : 0;
        let packed = ASC_FEATURE_SIMD && r == MR && nc > NR;
        if (packed) packW(a, ld, kc, wp);
        for (let j = 0; j < nc; j += NR) {
          let cols = min(NR, nc - j);
          let pb = ws + (<usize>(j * kc) << 2);
          let cp = y + <usize>i * ys + (<usize>(jc + j) << 2);
          if (ASC_FEATURE_SIMD) {
            if (packed) {
              // a block's last strip of 4 pixels or fewer (P = 49 leaves 1, P = 196 leaves 4): half a tile
              if (cols <= 4) packedTile4(kc, wp, pb, cp, ys, cols, first, last, bi, lo, hi);
              else packedTile(kc, wp, pb, cp, ys, cols, first, last, bi, lo, hi);
              continue;
            }
          }
          strip(r, cols, kc, a, ld, pb, cp, ys, first, last, bi, lo, hi);
        }
      }
    }
  }
}

/** Packs the kc taps of MR weight rows (ld bytes apart) at a into d, MR floats per tap. */
function packW(a: usize, ld: usize, kc: i32, d: usize): void {
  let p = 0;
  if (ASC_FEATURE_SIMD) {
    // 4 taps of each of the 4 rows, transposed in registers
    for (; p + 4 <= kc; p += 4) transpose4(a + (<usize>p << 2), ld, d + (<usize>p << 4), 16);
  }
  for (; p < kc; p++) {
    let s = a + (<usize>p << 2), q = d + (<usize>p << 4);
    for (let r = 0; r < MR; r++) store<f32>(q + (<usize>r << 2), load<f32>(s + <usize>r * ld));
  }
}

/** The tile of 4 output channels over packed weights and a strip (tile.ts: gemm.ts's sums in the same order), with conv_infer's write-out. */
function packedTile(kc: i32, pa: usize, pb: usize, cp: usize, ys: usize, cols: i32, first: bool, last: bool, bias: usize, lo: f32, hi: f32): void {
  tile4x8(true, kc, pa, pb, cp, ys, cols, 0, first, last, bias, lo, hi);
}

/**
 * packedTile for a strip's first 4 pixels only (cols ≤ 4): each sum as tile4x8 makes it (the same
 * operands in k order), on one f32x4 of window values per row instead of two.
 */
function packedTile4(kc: i32, pa: usize, pb: usize, cp: usize, ys: usize, cols: i32, first: bool, last: bool, bias: usize, lo: f32, hi: f32): void {
  let z = f32x4.splat(0);
  let c0 = z, c1 = z, c2 = z, c3 = z;
  for (let end = pb + (<usize>kc << 5); pb < end; ) {
    let b = v128.load(pb);
    c0 = madd(v128.load32_splat(pa), b, c0);
    c1 = madd(v128.load32_splat(pa, 4), b, c1);
    c2 = madd(v128.load32_splat(pa, 8), b, c2);
    c3 = madd(v128.load32_splat(pa, 12), b, c3);
    pa += MR << 2;
    pb += NR << 2;
  }
  // put reads lanes of its second vector only for columns 4…7
  put(cp, c0, c0, cols, first, last, bias, lo, hi);
  put(cp + ys, c1, c1, cols, first, last, bias != 0 ? bias + 4 : 0, lo, hi);
  put(cp + 2 * ys, c2, c2, cols, first, last, bias != 0 ? bias + 8 : 0, lo, hi);
  put(cp + 3 * ys, c3, c3, cols, first, last, bias != 0 ? bias + 12 : 0, lo, hi);
}

/**
 * The window values of `cnt` ≤ 8 output pixels from pixel q0 on, taps pc…pc+kc−1 (tap order
 * c, ki, kj as im2col's rows), into kc rows of 8 floats at d (zeros outside x and past cnt).
 */
function gather(x: usize, d: usize, pc: i32, kc: i32, q0: i32, cnt: i32, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, ow: i32): void {
  let kk = kh * kw;
  let ci = pc / kk, rem = pc % kk, ki = rem / kw, kj = rem % kw;
  let oy = q0 / ow, ox = q0 % ow;
  // 8 pixels of one output row: each tap reads 8 values of x, sw apart (adjacent at stride 1)
  let row = cnt == NR && ox + NR <= ow;
  let iy0 = oy * sh - ph, ix0 = ox * sw - pw;
  let span = (NR - 1) * sw + 1;
  let st = <usize>sw << 2;
  let hw = h * w, chw = c * hw;
  // lanes 0…n1−1 in output row oy, the rest (≤ ow of them) from the start of row oy + 1: the SIMD
  // build reads each row's lanes whole and masks off the padding (masked)
  let n1 = min(cnt, ow - ox);
  let two = ASC_FEATURE_SIMD && (sw == 1 || sw == 2) && cnt - n1 <= ow;
  let iy1 = iy0 + sh, ix1 = -pw - n1 * sw;
  for (let p = 0; p < kc; p++) {
    let dp = d + (<usize>(p * NR) << 2);
    let iy = iy0 + ki, ix = ix0 + kj;
    let plane = x + (<usize>(ci * h) * <usize>w << 2);
    if (row && iy >= 0 && iy < h && ix >= 0 && ix + span <= w) {
      let s = plane + (<usize>(iy * w + ix) << 2);
      if (ASC_FEATURE_SIMD && sw == 1) {
        v128.store(dp, v128.load(s));
        v128.store(dp, v128.load(s, 16), 16);
      } else if (ASC_FEATURE_SIMD && sw == 2 && ci * hw + iy * w + ix + 2 * NR <= chw) {
        v128.store(dp, v128.shuffle<f32>(v128.load(s), v128.load(s, 16), 0, 2, 4, 6));
        v128.store(dp, v128.shuffle<f32>(v128.load(s, 32), v128.load(s, 48), 0, 2, 4, 6), 16);
      } else {
        for (let t = 0; t < NR; t++) store<f32>(dp + (<usize>t << 2), load<f32>(s + <usize>t * st));
      }
    } else {
      let done = false;
      if (ASC_FEATURE_SIMD) done = two && masked(x, dp, ci * hw, chw, iy, ix, iy1 + ki, ix1 + kj, n1, cnt, h, w, sw);
      // pixel by pixel: the strip may wrap to the next output row, or reach into the padding
      let qy = oy, qx = ox;
      for (let t = 0; t < NR && !done; t++) {
        let v: f32 = 0;
        if (t < cnt) {
          let yy = qy * sh - ph + ki, xx = qx * sw - pw + kj;
          if (yy >= 0 && yy < h && xx >= 0 && xx < w) v = load<f32>(plane + (<usize>(yy * w + xx) << 2));
          if (++qx == ow) {
            qx = 0;
            qy++;
          }
        }
        store<f32>(dp + (<usize>t << 2), v);
      }
    }
    if (++kj == kw) {
      kj = 0;
      if (++ki == kh) {
        ki = 0;
        ci++;
      }
    }
  }
}

/**
 * One tap of a strip whose lanes 0…n1−1 read input row ya from column xa on and lanes n1…cnt−1 row
 * yb from column xb + n1·sw on (sw = 1 or 2 apart): each row's 8 lanes loaded whole, those outside
 * the image (padding, past cnt) masked to +0, the two ORed into the 8 floats at d. The plane starts
 * at element `base` of x (chw elements); false, with nothing written, where a load would leave x.
 */
// @ts-ignore: decorator
@inline function masked(x: usize, d: usize, base: i32, chw: i32, ya: i32, xa: i32, yb: i32, xb: i32, n1: i32, cnt: i32, h: i32, w: i32, sw: i32): bool {
  let reach = NR * sw;
  let ra = lanes(ya, xa, 0, n1, h, w, sw), rb = lanes(yb, xb, n1, cnt, h, w, sw);
  // a row with no lane inside reads nothing
  let ea = base + ya * w + xa, eb = base + yb * w + xb;
  if ((ra & 0xffff) < ra >>> 16 && (ea < 0 || ea + reach > chw)) return false;
  if ((rb & 0xffff) < rb >>> 16 && (eb < 0 || eb + reach > chw)) return false;
  let z = f32x4.splat(0);
  let a0 = z, a1 = z, b0 = z, b1 = z;
  if ((ra & 0xffff) < ra >>> 16) {
    let s = x + (<usize>ea << 2);
    a0 = v128.and(strided(s, 0, sw), laneMask(ra, 0));
    a1 = v128.and(strided(s, 4, sw), laneMask(ra, 4));
  }
  if ((rb & 0xffff) < rb >>> 16) {
    let s = x + (<usize>eb << 2);
    b0 = v128.and(strided(s, 0, sw), laneMask(rb, 0));
    b1 = v128.and(strided(s, 4, sw), laneMask(rb, 4));
  }
  v128.store(d, v128.or(a0, b0));
  v128.store(d, v128.or(a1, b1), 16);
  return true;
}

/** The lanes t0 ≤ t < t1 whose column x0 + t·sw lies in 0…w−1 of a row yy in 0…h−1, as lo | hi << 16 (lo ≥ hi: none). */
// @ts-ignore: decorator
@inline function lanes(yy: i32, x0: i32, t0: i32, t1: i32, h: i32, w: i32, sw: i32): i32 {
  if (yy < 0 || yy >= h || t0 >= t1) return 0;
  // first t with x0 + t·sw ≥ 0, first t with x0 + t·sw ≥ w (x0 + t0·sw may be negative)
  let lo = x0 >= 0 ? 0 : (sw - 1 - x0) / sw;
  let hi = w - x0 <= 0 ? 0 : (w - x0 + sw - 1) / sw;
  lo = max(lo, t0);
  hi = min(hi, t1);
  return lo >= hi ? 0 : lo | (hi << 16);
}

/** Lanes t…t+3 of 8 floats at s, sw (1 or 2) apart. */
// @ts-ignore: decorator
@inline function strided(s: usize, t: i32, sw: i32): v128 {
  if (sw == 1) return v128.load(s + (<usize>t << 2));
  let q = s + (<usize>t << 3);
  return v128.shuffle<f32>(v128.load(q), v128.load(q, 16), 0, 2, 4, 6);
}

/** All ones in lanes t…t+3 that lie in the range r (lanes.ts's lo | hi << 16), zeros elsewhere. */
// @ts-ignore: decorator
@inline function laneMask(r: i32, t: i32): v128 {
  let at = i32x4.add(i32x4(0, 1, 2, 3), i32x4.splat(t));
  return v128.and(i32x4.ge_s(at, i32x4.splat(r & 0xffff)), i32x4.lt_s(at, i32x4.splat(r >>> 16)));
}

/** The r × cols tile at cp (rows ys bytes apart): the SIMD tile where the build has it, else scalar. */
function strip(r: i32, cols: i32, kc: i32, a: usize, ld: usize, pb: usize, cp: usize, ys: usize, first: bool, last: bool, bias: usize, lo: f32, hi: f32): void {
  if (ASC_FEATURE_SIMD) {
    if (r == 4) tile(4, kc, a, ld, pb, cp, ys, cols, first, last, bias, lo, hi);
    else if (r == 3) tile(3, kc, a, ld, pb, cp, ys, cols, first, last, bias, lo, hi);
    else if (r == 2) tile(2, kc, a, ld, pb, cp, ys, cols, first, last, bias, lo, hi);
    else tile(1, kc, a, ld, pb, cp, ys, cols, first, last, bias, lo, hi);
  } else {
    for (let i = 0; i < r; i++) scalarRow(kc, a + <usize>i * ld, pb, cp + <usize>i * ys, cols, first, last, bias != 0 ? bias + (<usize>i << 2) : 0, lo, hi);
  }
}

/**
 * R rows × 8 pixels over kc taps, in k order: each weight value is splatted against the strip's
 * two f32x4 of window values. R is a constant at every call (one compiled loop per R).
 */
// @ts-ignore: decorator
@inline function tile(R: i32, kc: i32, a: usize, ld: usize, pb: usize, cp: usize, ys: usize, cols: i32, first: bool, last: bool, bias: usize, lo: f32, hi: f32): void {
  let z = f32x4.splat(0);
  let c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
  for (let p = 0; p < kc; p++) {
    let b0 = v128.load(pb), b1 = v128.load(pb, 16);
    let x = v128.load32_splat(a);
    c00 = madd(x, b0, c00);
    c01 = madd(x, b1, c01);
    if (R > 1) {
      x = v128.load32_splat(a + ld);
      c10 = madd(x, b0, c10);
      c11 = madd(x, b1, c11);
    }
    if (R > 2) {
      x = v128.load32_splat(a + 2 * ld);
      c20 = madd(x, b0, c20);
      c21 = madd(x, b1, c21);
    }
    if (R > 3) {
      x = v128.load32_splat(a + 3 * ld);
      c30 = madd(x, b0, c30);
      c31 = madd(x, b1, c31);
    }
    pb += NR << 2;
    a += 4;
  }
  put(cp, c00, c01, cols, first, last, bias, lo, hi);
  if (R > 1) put(cp + ys, c10, c11, cols, first, last, bias != 0 ? bias + 4 : 0, lo, hi);
  if (R > 2) put(cp + 2 * ys, c20, c21, cols, first, last, bias != 0 ? bias + 8 : 0, lo, hi);
  if (R > 3) put(cp + 3 * ys, c30, c31, cols, first, last, bias != 0 ? bias + 12 : 0, lo, hi);
}

/** The scalar build's row: 8 sums over kc taps in k order with mul + add, as the SIMD lanes do. */
function scalarRow(kc: i32, a: usize, pb: usize, cp: usize, cols: i32, first: bool, last: bool, bias: usize, lo: f32, hi: f32): void {
  let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0, s4: f32 = 0, s5: f32 = 0, s6: f32 = 0, s7: f32 = 0;
  for (let p = 0; p < kc; p++) {
    let x = load<f32>(a + (<usize>p << 2));
    let b = pb + (<usize>(p * NR) << 2);
    s0 += x * load<f32>(b); s1 += x * load<f32>(b, 4); s2 += x * load<f32>(b, 8); s3 += x * load<f32>(b, 12);
    s4 += x * load<f32>(b, 16); s5 += x * load<f32>(b, 20); s6 += x * load<f32>(b, 24); s7 += x * load<f32>(b, 28);
  }
  store<f32>(cp, putOne(s0, cp, first, last, bias, lo, hi));
  if (cols > 1) store<f32>(cp + 4, putOne(s1, cp + 4, first, last, bias, lo, hi));
  if (cols > 2) store<f32>(cp + 8, putOne(s2, cp + 8, first, last, bias, lo, hi));
  if (cols > 3) store<f32>(cp + 12, putOne(s3, cp + 12, first, last, bias, lo, hi));
  if (cols > 4) store<f32>(cp + 16, putOne(s4, cp + 16, first, last, bias, lo, hi));
  if (cols > 5) store<f32>(cp + 20, putOne(s5, cp + 20, first, last, bias, lo, hi));
  if (cols > 6) store<f32>(cp + 24, putOne(s6, cp + 24, first, last, bias, lo, hi));
  if (cols > 7) store<f32>(cp + 28, putOne(s7, cp + 28, first, last, bias, lo, hi));
}
