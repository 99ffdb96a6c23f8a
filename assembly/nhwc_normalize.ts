// Channels-last inner loops of the normalize pass: y = (x − s)·a + b per channel, then max(·, 0)
// for BN+ReLU. `folded` (every s = 0) and `relu` are literals at each call site, so every copy of a
// loop is branch-free and carries no dead subtraction or max (see: docs/performance.md#mode-flags).
// V8 emits about one instruction per address, so these loops keep as many values per address as
// they can: constants in registers across rows (block16Normalize), or rows sharing one load of the
// constants (rowsNormalize).

// see: docs/performance.md#normalize-blocks
/** Bytes a block pass spans (rows × stride), 8..32 rows. */
export const BLOCK_SPAN: usize = 1024;
/** Longest row (bytes) for block passes. */
export const BLOCK_STRIDE: usize = 256;

/** Rows per block pass for rows `stride` bytes apart. */
// @ts-ignore: decorator
@inline export function blockRows(stride: usize): i32 {
  return <i32>min(max(BLOCK_SPAN / stride, 8), 32);
}

// @ts-ignore: decorator
@inline function norm(v: v128, s: v128, a: v128, b: v128, folded: bool, relu: bool): v128 {
  let t = f32x4.add(f32x4.mul(folded ? v : f32x4.sub(v, s), a), b);
  // pmax(t, 0) = t < 0 ? 0 : t: NaN kept, like the scalar path
  return relu ? f32x4.pmax(t, f32x4.splat(0)) : t;
}

/**
 * Channels g..g+15 over `r` rows `stride` bytes apart, constants f32[16] at ps, pa, pb held in
 * registers. Fast while x and y are in cache and the r rows' lines do not crowd the same L1 sets.
 */
// @ts-ignore: decorator
@inline export function block16Normalize(px: usize, py: usize, r: i32, stride: usize, ps: usize, pa: usize, pb: usize, folded: bool, relu: bool): void {
  let a0 = v128.load(pa), a1 = v128.load(pa, 16), a2 = v128.load(pa, 32), a3 = v128.load(pa, 48);
  let b0 = v128.load(pb), b1 = v128.load(pb, 16), b2 = v128.load(pb, 32), b3 = v128.load(pb, 48);
  let s0 = a0, s1 = a0, s2 = a0, s3 = a0;
  if (!folded) {
    s0 = v128.load(ps); s1 = v128.load(ps, 16); s2 = v128.load(ps, 32); s3 = v128.load(ps, 48);
  }
  let d = py - px;
  for (let p = px, end = px + <usize>r * stride; p < end; p += stride) {
    v128.store(p + d, norm(v128.load(p), s0, a0, b0, folded, relu));
    v128.store(p + d, norm(v128.load(p, 16), s1, a1, b1, folded, relu), 16);
    v128.store(p + d, norm(v128.load(p, 32), s2, a2, b2, folded, relu), 32);
    v128.store(p + d, norm(v128.load(p, 48), s3, a3, b3, folded, relu), 48);
  }
}

/** One row's 8 channels at p (32 bytes), constants in registers. */
// @ts-ignore: decorator
@inline function row8(p: usize, d: usize, s0: v128, s1: v128, a0: v128, a1: v128, b0: v128, b1: v128, folded: bool, relu: bool): void {
  let y0 = norm(v128.load(p), s0, a0, b0, folded, relu);
  let y1 = norm(v128.load(p, 16), s1, a1, b1, folded, relu);
  v128.store(p + d, y0);
  v128.store(p + d, y1, 16);
}

/**
 * Rows 0..m − m % R (R = 1 or 4), channels 0..c8 (c8 a multiple of 8): R rows share each load of
 * 8 channels' constants; 4 in cache only (beyond, rows16Normalize or a row at a time). Returns the
 * first row not done. see: docs/performance.md#rows-per-step
 */
// @ts-ignore: decorator
@inline export function rowsNormalize(x: usize, y: usize, m: i32, stride: usize, c8: i32, ps: usize, pa: usize, pb: usize, R: i32, folded: bool, relu: bool): i32 {
  let d = y - x, w = <usize>c8 << 2;
  let r = 0;
  for (; r + R <= m; r += R) {
    let px = x + <usize>r * stride;
    for (let o: usize = 0; o < w; o += 32) {
      let a0 = v128.load(pa + o), a1 = v128.load(pa + o, 16), b0 = v128.load(pb + o), b1 = v128.load(pb + o, 16);
      let s0 = a0, s1 = a1;
      if (!folded) {
        s0 = v128.load(ps + o); s1 = v128.load(ps + o, 16);
      }
      let p = px + o;
      row8(p, d, s0, s1, a0, a1, b0, b1, folded, relu);
      if (R >= 2) row8(p + stride, d, s0, s1, a0, a1, b0, b1, folded, relu);
      if (R == 4) {
        row8(p + 2 * stride, d, s0, s1, a0, a1, b0, b1, folded, relu);
        row8(p + 3 * stride, d, s0, s1, a0, a1, b0, b1, folded, relu);
      }
    }
  }
  return r;
}

/**
 * Rows 0..m − m % 2, channels 0..c8 (a multiple of 8), two rows a step, 16 channels at a time then
 * 8: beyond the caches (see: docs/performance.md#rows-per-step). Returns the first row not done.
 */
// @ts-ignore: decorator
@inline export function rows16Normalize(x: usize, y: usize, m: i32, stride: usize, c8: i32, ps: usize, pa: usize, pb: usize, folded: bool, relu: bool): i32 {
  let d = y - x, w16 = <usize>(c8 & ~15) << 2, w = <usize>c8 << 2;
  let r = 0;
  for (; r + 2 <= m; r += 2) {
    let px = x + <usize>r * stride;
    let o: usize = 0;
    for (; o < w16; o += 64) {
      let a0 = v128.load(pa + o), a1 = v128.load(pa + o, 16), a2 = v128.load(pa + o, 32), a3 = v128.load(pa + o, 48);
      let b0 = v128.load(pb + o), b1 = v128.load(pb + o, 16), b2 = v128.load(pb + o, 32), b3 = v128.load(pb + o, 48);
      let s0 = a0, s1 = a1, s2 = a2, s3 = a3;
      if (!folded) {
        s0 = v128.load(ps + o); s1 = v128.load(ps + o, 16); s2 = v128.load(ps + o, 32); s3 = v128.load(ps + o, 48);
      }
      let p = px + o, q = p + stride;
      row8(p, d, s0, s1, a0, a1, b0, b1, folded, relu);
      row8(p + 32, d, s2, s3, a2, a3, b2, b3, folded, relu);
      row8(q, d, s0, s1, a0, a1, b0, b1, folded, relu);
      row8(q + 32, d, s2, s3, a2, a3, b2, b3, folded, relu);
    }
    if (o < w) {
      let a0 = v128.load(pa + o), a1 = v128.load(pa + o, 16), b0 = v128.load(pb + o), b1 = v128.load(pb + o, 16);
      let s0 = folded ? a0 : v128.load(ps + o), s1 = folded ? a1 : v128.load(ps + o, 16);
      row8(px + o, d, s0, s1, a0, a1, b0, b1, folded, relu);
      row8(px + o + stride, d, s0, s1, a0, a1, b0, b1, folded, relu);
    }
  }
  return r;
}

/** Channels from..c of every row, four at a time then one at a time (row tails, and the scalar build). */
// @ts-ignore: decorator
@inline export function columnsNormalize(x: usize, y: usize, m: i32, stride: usize, from: i32, c: i32, ps: usize, pa: usize, pb: usize, folded: bool, relu: bool): void {
  if (from >= c) return;
  if (ASC_FEATURE_SIMD && c - from >= 4 && c - from < 8) {
    // a row's last 4–7 channels: the 4-channel group's constants loaded once for all rows
    let o = <usize>from << 2;
    let s = folded ? f32x4.splat(0) : v128.load(ps + o), a = v128.load(pa + o), b = v128.load(pb + o);
    for (let p = o, end = o + <usize>m * stride; p < end; p += stride) v128.store(y + p, norm(v128.load(x + p), s, a, b, folded, relu));
    from += 4;
  }
  for (let r = 0; r < m; r++) {
    let p = <usize>r * stride;
    let ch = from;
    if (ASC_FEATURE_SIMD) {
      for (; ch + 4 <= c; ch += 4) {
        let o = <usize>ch << 2;
        let s = folded ? f32x4.splat(0) : v128.load(ps + o);
        v128.store(y + p + o, norm(v128.load(x + p + o), s, v128.load(pa + o), v128.load(pb + o), folded, relu));
      }
    }
    for (; ch < c; ch++) {
      let o = <usize>ch << 2;
      let xv = load<f32>(x + p + o);
      let v = (folded ? xv : xv - load<f32>(ps + o)) * load<f32>(pa + o) + load<f32>(pb + o);
      store<f32>(y + p + o, relu && v < 0 ? 0 : v);
    }
  }
}
