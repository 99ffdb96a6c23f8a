// Normalization of contiguous rows (LayerNorm over the last dims): a row's statistics, then its
// normalize with γ, β per column while the row is still in L1; backward: the row's two sums Σg,
// Σg·x̂ (g = γ·dy), then dx, with dγ, dβ per column summed over the rows in a fixed order.
// NOTE: the statistics are stats.ts's shifted sums around K = the row's first value (a constant
// row has d = 0 exactly; a row whose mean lies far from K is summed again around its mean, RESHIFT),
// so the guarantees at large offsets are BN's. A row longer than L1 is read twice each way, as BN.
// see: Ba et al. 2016, Layer Normalization, https://arxiv.org/abs/1607.06450 (§3);
//      Chan, Golub, LeVeque 1983 (shifted data): assembly/stats.ts
import { sum1, sum2, sumsReset, shiftedSums, dotSums, finishStats, finiteScale, FLUSH, RESHIFT, On, Off } from './stats';

/** Workspace bytes of rowNormBackward for rows of `d` values: f64 dγ, dβ and their f32 partial sums per column, a block's row sums. */
export function rowNormWorkspace(d: i32): i32 {
  return 24 * d + 16 * 64 + 16;
}

// The row's two sums (AssemblyScript has no tuples; they never leave a kernel call).
let rowS1: f64 = 0;
let rowS2: f64 = 0;

/** rowS1, rowS2 = Σ(x − K), Σ(x − K)² of a row: shiftedSums, or again in f64 (x − K in f64 too) where its f32 partial sums overflowed. */
function rowSums(p: usize, d: i32, k: f32): void {
  sumsReset();
  shiftedSums(p, d, k);
  rowS1 = sum1; rowS2 = sum2;
  if (Math.abs(rowS1) < Infinity && Math.abs(rowS2) < Infinity) return;
  let a: f64 = 0, b: f64 = 0;
  for (let j = 0; j < d; j++) {
    let e = <f64>load<f32>(p + (<usize>j << 2)) - <f64>k;
    a += e; b += e * e;
  }
  rowS1 = a; rowS2 = b;
}

/** rowSums for a row of at most FLUSH·16 values, inlined: shiftedSums's sums in its order (same bits) without its call and flush loop. */
// @ts-ignore: decorator
@inline function rowSumsShort(p: usize, d: i32, k: f32): void {
  let j = 0, v1: f64 = 0, v2: f64 = 0;
  if (ASC_FEATURE_SIMD) {
    let kv = f32x4.splat(k), n16 = d & ~15, z = f32x4.splat(0);
    let a0 = z, a1 = z, a2 = z, a3 = z, q0 = z, q1 = z, q2 = z, q3 = z;
    for (; j < n16; j += 16) {
      let q = p + (<usize>j << 2);
      let e0 = f32x4.sub(v128.load(q), kv), e1 = f32x4.sub(v128.load(q, 16), kv);
      let e2 = f32x4.sub(v128.load(q, 32), kv), e3 = f32x4.sub(v128.load(q, 48), kv);
      a0 = f32x4.add(a0, e0); q0 = f32x4.add(q0, f32x4.mul(e0, e0));
      a1 = f32x4.add(a1, e1); q1 = f32x4.add(q1, f32x4.mul(e1, e1));
      a2 = f32x4.add(a2, e2); q2 = f32x4.add(q2, f32x4.mul(e2, e2));
      a3 = f32x4.add(a3, e3); q3 = f32x4.add(q3, f32x4.mul(e3, e3));
    }
    // as shiftedSums: 0 + the two lanes (a −0 becomes +0 there too), then + the tail's f64 sum
    let a = widen(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
    let b = widen(f32x4.add(f32x4.add(q0, q1), f32x4.add(q2, q3)));
    v1 += f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
    v2 += f64x2.extract_lane(b, 0) + f64x2.extract_lane(b, 1);
  }
  let s1: f64 = 0, s2: f64 = 0;
  for (; j < d; j++) {
    let e = <f64>(load<f32>(p + (<usize>j << 2)) - k);
    s1 += e; s2 += e * e;
  }
  rowS1 = v1 + s1; rowS2 = v2 + s2;
}

/** Rows taken a block at a time (≤ 16 KB of x, ≤ 64 rows): each step's statistics of all rows, then each step's use of them. */
// NOTE: a row's divisions and square root, then its normalize, form one chain of dependent
// instructions; a block's rows are independent, so each phase's rows overlap in the pipeline.
// @ts-ignore: decorator
@inline function blockRows(d: i32): i32 {
  return max(1, min(64, 4096 / max(d, 1)));
}

/** Statistics of the rows [r0, r1) of `d` values at x: the sums of all, then mean, var, invstd (f64) of each. */
function blockStats(x: usize, r0: i32, r1: i32, d: i32, eps: f64, mean: usize, vari: usize, invstd: usize): void {
  // sums around each row's first value, parked in vari (Σ) and invstd (Σ²) until finished
  for (let r = r0; r < r1; r++) {
    let o = <usize>r << 3, p = x + (<usize>r * <usize>d << 2);
    // (a row with overflowed f32 sums goes the long way, which sums again in f64)
    if (d <= FLUSH * 16) rowSumsShort(p, d, load<f32>(p));
    if (d > FLUSH * 16 || !(Math.abs(rowS1) < Infinity && Math.abs(rowS2) < Infinity)) rowSums(p, d, load<f32>(p));
    store<f64>(vari + o, rowS1); store<f64>(invstd + o, rowS2);
  }
  let r = r0;
  if (ASC_FEATURE_SIMD) r = finishPairs(x, r0, r1, d, eps, mean, vari, invstd);
  for (; r < r1; r++) {
    let o = <usize>r << 3, p = x + (<usize>r * <usize>d << 2);
    let k = load<f32>(p);
    if (!finishStats(k, load<f64>(vari + o), load<f64>(invstd + o), <f64>d, eps, mean + o, vari + o, invstd + o)) continue;
    // a first value unlike the rest (see RESHIFT): once more around the mean
    k = <f32>load<f64>(mean + o);
    rowSums(p, d, k);
    finishStats(k, rowS1, rowS2, <f64>d, eps, mean + o, vari + o, invstd + o);
  }
}

// NOTE: per row three divisions by d, a square root and a reciprocal: for rows of 64 they cost as
// much as the row's sums. Two rows a step in f64x2 lanes halve them (lane-wise the same IEEE ops as
// finishStats, so the same bits), and x/d = x·(1/d) exactly when d is a power of two.
/** finishStats for the rows [r0, r1) two at a time (sums parked as in blockStats); returns the first row left to finish. */
function finishPairs(x: usize, r0: i32, r1: i32, d: i32, eps: f64, mean: usize, vari: usize, invstd: usize): i32 {
  let n = <f64>d, pow2 = (d & (d - 1)) == 0, nv = f64x2.splat(n), rn = f64x2.splat(1 / n);
  let ev = f64x2.splat(eps), one = f64x2.splat(1), zero = f64x2.splat(0), lim = f64x2.splat(RESHIFT);
  let r = r0, row = <usize>d << 2;
  for (; r + 2 <= r1; r += 2) {
    let o = <usize>r << 3, p = x + <usize>r * row;
    let s1 = v128.load(vari + o), s2 = v128.load(invstd + o);
    let sq = f64x2.mul(s1, s1);
    let m2 = f64x2.pmax(f64x2.sub(s2, pow2 ? f64x2.mul(sq, rn) : f64x2.div(sq, nv)), zero); // NaN stays NaN
    let v = pow2 ? f64x2.mul(m2, rn) : f64x2.div(m2, nv);
    let dd = pow2 ? f64x2.mul(s1, rn) : f64x2.div(s1, nv);
    let k = f64x2.replace_lane(f64x2.splat(<f64>load<f32>(p)), 1, <f64>load<f32>(p + row));
    v128.store(mean + o, f64x2.add(k, dd));
    v128.store(vari + o, v);
    v128.store(invstd + o, f64x2.div(one, f64x2.sqrt(f64x2.add(v, ev))));
    let far = f64x2.gt(f64x2.mul(dd, dd), f64x2.mul(lim, v));
    if (!v128.any_true(far)) continue;
    // a first value unlike the rest (see RESHIFT): once more around the mean
    for (let t = 0; t < 2; t++) {
      if (!(t == 0 ? i64x2.extract_lane(far, 0) : i64x2.extract_lane(far, 1))) continue;
      let ot = o + (<usize>t << 3), kt = <f32>load<f64>(mean + ot);
      rowSums(p + <usize>t * row, d, kt);
      finishStats(kt, rowS1, rowS2, n, eps, mean + ot, vari + ot, invstd + ot);
    }
  }
  return r;
}

// NOTE: y = ((x − s)·i − r)·γ + β with s the mean rounded to f32 (x − s exact near the mean, so a
// constant row gives β), i = invstd (±F32_MAX at most) and r = (mean − s)·invstd the remainder.
/** Training forward over `rows` rows of `d` values: statistics per row into mean/vari/invstd (f64[rows]), then y (clamped at 0 when relu); γ, β (f32[d]) may be 0 (1 and 0). */
export function rowNormForward(x: usize, y: usize, rows: i32, d: i32, gamma: usize, beta: usize, eps: f64, mean: usize, vari: usize, invstd: usize, relu: i32): void {
  // γ and β given, no ReLU (the common case): a loop without their tests (see stats.ts On/Off)
  let step = blockRows(d), plain = gamma != 0 && beta != 0 && relu == 0;
  for (let r0 = 0; r0 < rows; r0 += step) {
    let r1 = min(rows, r0 + step);
    blockStats(x, r0, r1, d, eps, mean, vari, invstd);
    for (let r = r0; r < r1; r++) {
      let m = load<f64>(mean + (<usize>r << 3)), inv = load<f64>(invstd + (<usize>r << 3));
      if (plain) normalizeRow<On>(x, y, r, d, gamma, beta, m, inv, false);
      else normalizeRow<Off>(x, y, r, d, gamma, beta, m, inv, relu != 0);
    }
  }
}

/** y from given per-row mean and invstd (f64[rows]), clamped at 0 when relu: rowNormForward's normalize alone. */
export function rowNormNormalize(x: usize, y: usize, rows: i32, d: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, relu: i32): void {
  for (let r = 0; r < rows; r++) normalizeRow<Off>(x, y, r, d, gamma, beta, load<f64>(mean + (<usize>r << 3)), load<f64>(invstd + (<usize>r << 3)), relu != 0);
}

/** y of row r from its mean and invstd (then ReLU: v < 0 ? 0 : v, as the ReLU kernel). */
// @ts-ignore: decorator
@inline function normalizeRow<Plain>(x: usize, y: usize, r: i32, d: i32, gamma: usize, beta: usize, m: f64, inv: f64, relu: bool): void {
  let off = <usize>r * <usize>d << 2, p = x + off, q = y + off;
  let s = <f32>m, i = <f32>finiteScale(inv), rem = <f32>((m - <f64>s) * inv);
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    let sv = f32x4.splat(s), iv = f32x4.splat(i), rv = f32x4.splat(rem), one = f32x4.splat(1), zero = f32x4.splat(0);
    if (isInteger<Plain>()) {
      // four vectors a step: the loop's own work is a quarter of the arithmetic (see docs/performance.md#row-kernel)
      for (; j + 16 <= d; j += 16) {
        let o = <usize>j << 2, pg = gamma + o, pb = beta + o, pq = q + o;
        let t0 = f32x4.sub(f32x4.mul(f32x4.sub(v128.load(p + o), sv), iv), rv);
        let t1 = f32x4.sub(f32x4.mul(f32x4.sub(v128.load(p + o, 16), sv), iv), rv);
        let t2 = f32x4.sub(f32x4.mul(f32x4.sub(v128.load(p + o, 32), sv), iv), rv);
        let t3 = f32x4.sub(f32x4.mul(f32x4.sub(v128.load(p + o, 48), sv), iv), rv);
        v128.store(pq, f32x4.add(f32x4.mul(t0, v128.load(pg)), v128.load(pb)));
        v128.store(pq, f32x4.add(f32x4.mul(t1, v128.load(pg, 16)), v128.load(pb, 16)), 16);
        v128.store(pq, f32x4.add(f32x4.mul(t2, v128.load(pg, 32)), v128.load(pb, 32)), 32);
        v128.store(pq, f32x4.add(f32x4.mul(t3, v128.load(pg, 48)), v128.load(pb, 48)), 48);
      }
    }
    for (; j + 4 <= d; j += 4) {
      let o = <usize>j << 2;
      let t = f32x4.sub(f32x4.mul(f32x4.sub(v128.load(p + o), sv), iv), rv);
      if (isInteger<Plain>()) {
        v128.store(q + o, f32x4.add(f32x4.mul(t, v128.load(gamma + o)), v128.load(beta + o)));
        continue;
      }
      let g = gamma ? v128.load(gamma + o) : one, b = beta ? v128.load(beta + o) : zero;
      let v = f32x4.add(f32x4.mul(t, g), b);
      v128.store(q + o, relu ? f32x4.pmax(v, zero) : v);
    }
  }
  for (; j < d; j++) {
    let o = <usize>j << 2;
    let t = (load<f32>(p + o) - s) * i - rem;
    let g: f32 = gamma ? load<f32>(gamma + o) : 1, b: f32 = beta ? load<f32>(beta + o) : 0;
    let v = t * g + b;
    store<f32>(q + o, relu && v < 0 ? 0 : v);
  }
}

/**
 * Backward of rowNormForward: dx, and Σ dy·x̂, Σ dy per column added to dgamma, dbeta (f32[d], 0 =
 * not wanted). dx = i·(g − Σg/D − x̂·Σg·x̂/D), g = γ·dy, as kA·g − kB·(x − s) − kC (setBackward's form).
 * The SIMD build sums each column in f32 over at most FLUSH rows before adding into f64; the scalar
 * build in f64.
 */
export function rowNormBackward(x: usize, dy: usize, dx: usize, rows: i32, d: i32, gamma: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, ws: usize): void {
  let cw = ws, cb = ws + (<usize>d << 3), fw = ws + (<usize>d << 4), fb = fw + (<usize>d << 2), sums = fb + (<usize>d << 2);
  memory.fill(ws, 0, <usize>rowNormWorkspace(d));
  // γ given and the column sums wanted (the common case): a loop without their tests
  let cols = dgamma != 0 || dbeta != 0, step = blockRows(d), plain = cols && gamma != 0;
  for (let r0 = 0; r0 < rows; r0 += step) {
    let r1 = min(rows, r0 + step);
    for (let r = r0; r < r1; r++) {
      let m = load<f64>(mean + (<usize>r << 3)), inv = load<f64>(invstd + (<usize>r << 3));
      if (plain) rowDots<On>(x, dy, r, rows, d, gamma, m, inv, true, cw, cb, fw, fb);
      else rowDots<Off>(x, dy, r, rows, d, gamma, m, inv, cols, cw, cb, fw, fb);
      let o = sums + (<usize>(r - r0) << 4);
      store<f64>(o, rowS1); store<f64>(o, rowS2, 8);
    }
    for (let r = r0; r < r1; r++) {
      let off = <usize>r * <usize>d << 2, o = sums + (<usize>(r - r0) << 4);
      let m = load<f64>(mean + (<usize>r << 3)), inv = load<f64>(invstd + (<usize>r << 3));
      dxRow(x + off, dy + off, dx + off, d, gamma, m, inv, <f32>m, load<f64>(o), load<f64>(o, 8));
    }
  }
  if (dgamma) addColumns(dgamma, cw, d);
  if (dbeta) addColumns(dbeta, cb, d);
}

/** Row r's Σg, Σg·(x − s) into rowS1, rowS2, and (when `cols`) its dy·x̂, dy added to the column sums. */
// @ts-ignore: decorator
@inline function rowDots<Plain>(x: usize, dy: usize, r: i32, rows: i32, d: i32, gamma: usize, m: f64, inv: f64, cols: bool, cw: usize, cb: usize, fw: usize, fb: usize): void {
  let off = <usize>r * <usize>d << 2, px = x + off, pg = dy + off;
  let s = <f32>m, i = <f32>finiteScale(inv), rem = <f32>((m - <f64>s) * inv);
  let a: f64 = 0, b: f64 = 0, j = 0;
  if (ASC_FEATURE_SIMD) {
    let sv = f32x4.splat(s), iv = f32x4.splat(i), rv = f32x4.splat(rem);
    let f1 = f64x2.splat(0), f2 = f64x2.splat(0);
    while (j + 4 <= d) {
      let end = min(d & ~3, j + FLUSH * 4);
      let a0 = f32x4.splat(0), b0 = f32x4.splat(0);
      for (; j < end; j += 4) {
        let o = <usize>j << 2;
        let xe = f32x4.sub(v128.load(px + o), sv), e = v128.load(pg + o);
        let g = isInteger<Plain>() ? f32x4.mul(e, v128.load(gamma + o)) : gamma ? f32x4.mul(e, v128.load(gamma + o)) : e;
        a0 = f32x4.add(a0, g); b0 = f32x4.add(b0, f32x4.mul(g, xe));
        if (isInteger<Plain>() || cols) {
          let t = f32x4.sub(f32x4.mul(xe, iv), rv);
          v128.store(fw + o, f32x4.add(v128.load(fw + o), f32x4.mul(e, t)));
          v128.store(fb + o, f32x4.add(v128.load(fb + o), e));
        }
      }
      f1 = f64x2.add(f1, widen(a0));
      f2 = f64x2.add(f2, widen(b0));
    }
    a = f64x2.extract_lane(f1, 0) + f64x2.extract_lane(f1, 1);
    b = f64x2.extract_lane(f2, 0) + f64x2.extract_lane(f2, 1);
    for (let t = j; t < d; t++) {
      let o = <usize>t << 2, e = load<f32>(pg + o), xe = load<f32>(px + o) - s;
      if (cols) {
        store<f32>(fw + o, load<f32>(fw + o) + e * (xe * i - rem));
        store<f32>(fb + o, load<f32>(fb + o) + e);
      }
    }
    // the f32 column sums into f64 every FLUSH rows and after the last
    if (cols && ((r + 1) % FLUSH == 0 || r + 1 == rows)) flushColumns(d, fw, fb, cw, cb);
  } else if (cols) {
    for (let t = 0; t < d; t++) {
      let o = <usize>t << 2, o8 = <usize>t << 3, e = load<f32>(pg + o), xe = load<f32>(px + o) - s;
      store<f64>(cw + o8, load<f64>(cw + o8) + <f64>e * <f64>(xe * i - rem));
      store<f64>(cb + o8, load<f64>(cb + o8) + <f64>e);
    }
  }
  // the row's sums (tails, and everything in the scalar build) in f64
  let s1: f64 = 0, s2: f64 = 0;
  for (; j < d; j++) {
    let o = <usize>j << 2, e = load<f32>(pg + o);
    let g: f32 = gamma ? e * load<f32>(gamma + o) : e;
    s1 += <f64>g; s2 += <f64>g * <f64>(load<f32>(px + o) - s);
  }
  rowS1 = a + s1; rowS2 = b + s2;
}

/** The four f32 lanes of v added in pairs into two f64 lanes. */
// @ts-ignore: decorator
@inline function widen(v: v128): v128 {
  return f64x2.add(f64x2.promote_low_f32x4(v), f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1)));
}

/** cw, cb (f64[d]) += fw, fb (f32[d]); fw, fb = 0. */
function flushColumns(d: i32, fw: usize, fb: usize, cw: usize, cb: usize): void {
  for (let j = 0; j < d; j++) {
    let o = <usize>j << 2, o8 = <usize>j << 3;
    store<f64>(cw + o8, load<f64>(cw + o8) + <f64>load<f32>(fw + o));
    store<f64>(cb + o8, load<f64>(cb + o8) + <f64>load<f32>(fb + o));
  }
  memory.fill(fw, 0, <usize>d << 3);
}

/** into (f32[d]) += from (f64[d]) rounded to f32. */
function addColumns(into: usize, from: usize, d: i32): void {
  for (let j = 0; j < d; j++) {
    let o = <usize>j << 2;
    store<f32>(into + o, load<f32>(into + o) + <f32>load<f64>(from + (<usize>j << 3)));
  }
}

/** dx of one row from its sums a = Σg and b = Σg·(x − s): dx = kA·g − kB·(x − s) − kC. */
function dxRow(px: usize, pg: usize, pd: usize, d: i32, gamma: usize, m: f64, inv: f64, s: f32, a: f64, b: f64): void {
  let n = <f64>d;
  let dg = (b - (m - <f64>s) * a) * inv; // Σg·x̂
  let kb = inv * inv * dg / n;
  let ka = <f32>finiteScale(inv), kB = <f32>finiteScale(kb), kC = <f32>(inv * a / n - kb * (m - <f64>s));
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    let av = f32x4.splat(ka), bv = f32x4.splat(kB), cv = f32x4.splat(kC), sv = f32x4.splat(s);
    for (; j + 4 <= d; j += 4) {
      let o = <usize>j << 2, e = v128.load(pg + o);
      let g = gamma ? f32x4.mul(e, v128.load(gamma + o)) : e;
      let v = f32x4.sub(f32x4.sub(f32x4.mul(av, g), f32x4.mul(bv, f32x4.sub(v128.load(px + o), sv))), cv);
      v128.store(pd + o, v);
    }
  }
  for (; j < d; j++) {
    let o = <usize>j << 2, e = load<f32>(pg + o);
    let g: f32 = gamma ? e * load<f32>(gamma + o) : e;
    store<f32>(pd + o, ka * g - kB * (load<f32>(px + o) - s) - kC);
  }
}

/** Workspace bytes of groupNormBackward for `c` channels: f64 dγ, dβ per channel. */
export function groupNormWorkspace(c: i32): i32 {
  return 16 * c + 16;
}

/** rowS1, rowS2 = Σdy, Σdy·(x − s) of a run of `l` values: dotSums, or again in f64 (x − s in f64 too) where its f32 partial sums overflowed. */
function runDots(px: usize, pdy: usize, l: i32, s: f32): void {
  sumsReset();
  dotSums(px, pdy, l, s);
  rowS1 = sum1; rowS2 = sum2;
  if (Math.abs(rowS1) < Infinity && Math.abs(rowS2) < Infinity) return;
  let a: f64 = 0, b: f64 = 0;
  for (let j = 0; j < l; j++) {
    let o = <usize>j << 2, g = <f64>load<f32>(pdy + o);
    a += g; b += g * (<f64>load<f32>(px + o) - <f64>s);
  }
  rowS1 = a; rowS2 = b;
}

/**
 * GroupNorm's backward in BN's two passes, for x[n][c][l] channel-first with groups of `per`
 * channels (a group of a sample is one contiguous row of per·l values, `rows` = n·c/per of them, with
 * mean, invstd f64[rows]): each channel run's Σdy, Σdy·(x − s), merged per group into Σg, Σg·x̂
 * (g = γ·dy), then dx = kA·dy − kB·(x − s) − kC with kA = γ·invstd per run; dγ, dβ (f32[c], 0 = not
 * wanted) added to from f64 sums over the samples, in order.
 */
export function groupNormBackward(x: usize, dy: usize, dx: usize, rows: i32, c: i32, per: i32, l: i32, gamma: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, ws: usize): void {
  let cw = ws, cb = ws + (<usize>c << 3);
  memory.fill(ws, 0, <usize>groupNormWorkspace(c));
  let groups = c / per, len = <usize>l << 2, count = <f64>per * <f64>l;
  for (let r = 0; r < rows; r++) {
    let m = load<f64>(mean + (<usize>r << 3)), inv = load<f64>(invstd + (<usize>r << 3));
    let s = <f32>m, base = <usize>r * <usize>per * len, ch0 = (r % groups) * per;
    let sg: f64 = 0, sgx: f64 = 0;
    for (let k = 0; k < per; k++) {
      let o = base + <usize>k * len, ch = ch0 + k, o8 = <usize>ch << 3;
      runDots(x + o, dy + o, l, s);
      let a = rowS1, b = rowS2, g: f64 = gamma ? <f64>load<f32>(gamma + (<usize>ch << 2)) : 1;
      sg += g * a; sgx += g * b;
      store<f64>(cw + o8, load<f64>(cw + o8) + (b - (m - <f64>s) * a) * inv);
      store<f64>(cb + o8, load<f64>(cb + o8) + a);
    }
    let dg = (sgx - (m - <f64>s) * sg) * inv; // Σg·x̂
    let kb = inv * inv * dg / count;
    let kB = <f32>finiteScale(kb), kC = <f32>(inv * sg / count - kb * (m - <f64>s));
    for (let k = 0; k < per; k++) {
      let o = base + <usize>k * len, ch = ch0 + k;
      let g: f64 = gamma ? <f64>load<f32>(gamma + (<usize>ch << 2)) : 1;
      dxRun(x + o, dy + o, dx + o, l, <f32>finiteScale(g * inv), kB, kC, s);
    }
  }
  if (dgamma) addColumns(dgamma, cw, c);
  if (dbeta) addColumns(dbeta, cb, c);
}

/** dx = kA·dy − kB·(x − s) − kC over a run of `l` values. */
function dxRun(px: usize, pdy: usize, pd: usize, l: i32, ka: f32, kB: f32, kC: f32, s: f32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    let av = f32x4.splat(ka), bv = f32x4.splat(kB), cv = f32x4.splat(kC), sv = f32x4.splat(s);
    for (; j + 4 <= l; j += 4) {
      let o = <usize>j << 2;
      let v = f32x4.sub(f32x4.sub(f32x4.mul(av, v128.load(pdy + o)), f32x4.mul(bv, f32x4.sub(v128.load(px + o), sv))), cv);
      v128.store(pd + o, v);
    }
  }
  for (; j < l; j++) {
    let o = <usize>j << 2;
    store<f32>(pd + o, ka * load<f32>(pdy + o) - kB * (load<f32>(px + o) - s) - kC);
  }
}
