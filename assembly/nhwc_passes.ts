// The passes of the channels-last kernels over x[m][c]: reductions (statistics, or the backward's
// two sums), normalize, and dx, each in one compiled copy per mode. The per-channel work around them
// is in constants.ts and the inner loops in nhwc_sums.ts, nhwc_normalize.ts and nhwc_dx.ts. The
// channel-first kernels use them too for short runs (see bn_driver.ts).
import { FLUSH, flush4, On, Off } from './stats';
import { rowsDx, columnsDx } from './nhwc_dx';
import { rowsSums } from './nhwc_sums';
import { BLOCK_STRIDE, blockRows, block16Normalize, rowsNormalize, rows16Normalize, columnsNormalize } from './nhwc_normalize';

// The workspace: for each quantity an array over the c channels, at `at(ws, c, unit)` (units of c bytes).
/** f64 sums S1 = Σa and S2 = Σb per channel (see rowSums). */
export const WS_S1: i32 = 0;
export const WS_S2: i32 = 8;
/** f32 partial sums of S1 and S2 before their flush into f64. */
export const WS_A1: i32 = 16;
export const WS_A2: i32 = 20;
/** f32 shift K of the sums. */
export const WS_K: i32 = 24;
/** f32 constants of the normalize pass (kS, kA, kB) and of the dx pass (kS, kA, kB, kC). */
export const WS_KS: i32 = 28;
export const WS_KA: i32 = 32;
export const WS_KB: i32 = 36;
export const WS_KC: i32 = 40;
/** f32 constants of the forward (its kS, kA, kB), for the backward of BN+ReLU. */
export const WS_FS: i32 = 44;
export const WS_FA: i32 = 48;
export const WS_FB: i32 = 52;
/** f64 sums of a row block after the first, before they are added to S1 and S2 (see rowSums). */
export const WS_P1: i32 = 56;
export const WS_P2: i32 = 64;
/** Workspace bytes per channel. */
export const WS_UNITS: i32 = 72;

// Channel-first x[n][c][l] is channels-last x[n][c·l] with l "virtual channels" per channel, each
// summed over the n rows and merged per channel in f64: for short runs and enough rows that beats a
// pass per run, whose fixed cost per run (shift, flush, constants) dominates there.
// see: docs/performance.md#short-runs
/** Runs shorter than this take the channels-last passes over c·l virtual channels... */
const SHORT_RUN: i32 = 64;
/** ...given at least this many rows (batch items)... */
const MIN_ROWS: i32 = 32;
/** ...and at most this many virtual channels (the workspace holds WS_UNITS bytes for each). */
const MAX_VIRTUAL: i64 = 1 << 16;

/** True when channel-first x[n][c][l] takes the channels-last passes. */
export function shortRuns(n: i32, c: i32, l: i32): bool {
  return l > 1 && l < SHORT_RUN && n >= MIN_ROWS && <i64>c * <i64>l <= MAX_VIRTUAL;
}

// Few channels (c < 16, not a multiple of 8) leave the vector lanes mostly idle: k rows of x[m][c]
// are then one row of x[m/k][k·c], k·c "virtual channels" (v is channel v mod c), summed over the
// rows and merged per channel in f64; the m mod k rows left over take the passes with c channels.
// see: docs/performance.md#folded-rows
/** Rows folded into one for channels-last x[m][c] (1: none). */
export function foldRows(m: i32, c: i32): i32 {
  if (!ASC_FEATURE_SIMD || c >= 16 || (c & 7) == 0) return 1;
  let k = 8 >> min(ctz(c), 3); // k·c a multiple of 8
  while (k * c < 16) k <<= 1;
  return m >= 2 * k ? k : 1;
}

/** p[v] = q[v mod c] for v < n: per-channel f32 values repeated for the virtual channels. */
export function repeatChannels(q: usize, c: i32, p: usize, n: i32): void {
  for (let v = 0; v < n; v++) store<f32>(p + (<usize>v << 2), load<f32>(q + (<usize>(v % c) << 2)));
}

/** Rows a block where a row's last channels (past a multiple of 8) take a loop of their own, while the block is in cache. */
// see: docs/performance.md#channel-tails
const TAIL_ROWS: i32 = 8;

/** Above this many bytes of x, the passes read x the way memory streams best (see each pass). */
export const STREAM_BYTES: usize = 8 << 20;
/** Beyond STREAM_BYTES, rows at most this long go two at a time, longer ones one at a time (the prefetchers take two for one stream with jumps). */
// see: docs/performance.md#pair-stride
const PAIR_STRIDE: usize = 256;

// @ts-ignore: decorator
@inline export function at(ws: usize, c: i32, unit: i32): usize {
  return ws + <usize>c * <usize>unit;
}

// Row blocks: the sums over the rows are taken block by block, each from zero, and the blocks' f64
// sums added to S1, S2 in block order. The blocks are a function of the shape alone, so the threaded
// build's parts, which take one block each (parts_bn_rows.ts), give the bits of one thread.
/** Elements of x[m][c] per row block (at least; below twice this, one block). */
const BLOCK_ELEMENTS: i64 = 1 << 15;
/** Most row blocks of a call. */
const MAX_ROW_BLOCKS: i64 = 64;
/** Rows per unit of a block (a step of 4 rows stays within a block). */
const BLOCK_ROWS: i32 = 4;

/** Row blocks of the sums over x[m][c]: a function of the shape alone. */
export function rowBlocks(m: i32, c: i32): i32 {
  let units = <i64>((m + BLOCK_ROWS - 1) / BLOCK_ROWS);
  return <i32>max<i64>(1, min<i64>(min<i64>((<i64>m * <i64>c) / BLOCK_ELEMENTS, MAX_ROW_BLOCKS), units));
}

/** First row of block b of nb over m rows (whole units of BLOCK_ROWS; the last ends at m). */
export function rowBlockStart(b: i32, nb: i32, m: i32): i32 {
  let units = (m + BLOCK_ROWS - 1) / BLOCK_ROWS;
  return min(m, <i32>((<i64>b * <i64>units) / <i64>nb) * BLOCK_ROWS);
}

/**
 * S1 = Σa, S2 = Σb per channel over all rows, where (dot = 0) a = x − K, b = (x − K)², or
 * (dot = 1) a = dy, b = dy·(x − K): block by block (rowBlocks), each block's sums (rowBlockSums)
 * added in order.
 */
export function rowSums(x: usize, dy: usize, m: i32, c: i32, ws: usize, dot: bool, relu: bool): void {
  let nb = rowBlocks(m, c);
  let s1 = at(ws, c, WS_S1), s2 = at(ws, c, WS_S2), p1 = at(ws, c, WS_P1), p2 = at(ws, c, WS_P2);
  let a1 = at(ws, c, WS_A1), a2 = at(ws, c, WS_A2);
  rowBlockSums(x, dy, m, c, ws, 0, nb, a1, a2, s1, s2, dot, relu);
  for (let b = 1; b < nb; b++) {
    rowBlockSums(x, dy, m, c, ws, b, nb, a1, a2, p1, p2, dot, relu);
    addSums(c, p1, p2, s1, s2);
  }
}

/** S1 += P1, S2 += P2 (f64[c] each). */
export function addSums(c: i32, p1: usize, p2: usize, s1: usize, s2: usize): void {
  for (let ch = 0; ch < c; ch++) {
    let o = <usize>ch << 3;
    store<f64>(s1 + o, load<f64>(s1 + o) + load<f64>(p1 + o));
    store<f64>(s2 + o, load<f64>(s2 + o) + load<f64>(p2 + o));
  }
}

/**
 * Σa, Σb per channel (f64 at s1, s2, from zero) over the rows of block b of nb, with the shifts
 * (and the forward's constants, relu) of ws; f32 partial sums at a1, a2 (f32[c] each) take FLUSH
 * terms (of 2 or 4 rows each) before they are flushed to f64.
 */
export function rowBlockSums(x: usize, dy: usize, m: i32, c: i32, ws: usize, b: i32, nb: i32, a1: usize, a2: usize, s1: usize, s2: usize, dot: bool, relu: bool): void {
  // one compiled copy of the loops per mode (flags as type arguments): no branches in the inner loop,
  // no subtraction where every K = 0 (see: docs/performance.md#mode-flags)
  let shifted = !allZero(at(ws, c, WS_K), c);
  // the whole tensor's size decides how the rows are read, for every block
  let big = streams(m, c);
  let r0 = rowBlockStart(b, nb, m), r1 = rowBlockStart(b + 1, nb, m), o = <usize>r0 * (<usize>c << 2);
  let px = x + o, pdy = dot ? dy + o : 0, rows = r1 - r0;
  if (!dot) {
    if (shifted) rowSumsMode<Off, On, Off>(px, pdy, rows, c, big, ws, a1, a2, s1, s2);
    else rowSumsMode<Off, Off, Off>(px, pdy, rows, c, big, ws, a1, a2, s1, s2);
  } else if (!relu) {
    if (shifted) rowSumsMode<On, On, Off>(px, pdy, rows, c, big, ws, a1, a2, s1, s2);
    else rowSumsMode<On, Off, Off>(px, pdy, rows, c, big, ws, a1, a2, s1, s2);
  } else {
    if (shifted) rowSumsMode<On, On, On>(px, pdy, rows, c, big, ws, a1, a2, s1, s2);
    else rowSumsMode<On, Off, On>(px, pdy, rows, c, big, ws, a1, a2, s1, s2);
  }
}

function rowSumsMode<DOT, SHIFTED, RELU>(x: usize, dy: usize, m: i32, c: i32, big: bool, ws: usize, a1: usize, a2: usize, s1: usize, s2: usize): void {
  const dot = isInteger<DOT>(), shifted = isInteger<SHIFTED>(), relu = isInteger<RELU>();
  let stride = <usize>c << 2;
  let pk = at(ws, c, WS_K);
  let fs = at(ws, c, WS_FS), fa = at(ws, c, WS_FA), fb = at(ws, c, WS_FB);
  let c4 = ASC_FEATURE_SIMD ? c & ~3 : 0;
  memory.fill(s1, 0, <usize>c << 3);
  memory.fill(s2, 0, <usize>c << 3);
  if (ASC_FEATURE_SIMD && c4 > 0) {
    // 4 neighbouring rows a step in cache. Beyond the caches the statistics read two halves of x at
    // once (rows r and r + h), with rows up to PAIR_STRIDE long two neighbouring rows of each half a
    // step; the backward's sums read two streams already (x and dy): 2 rows a step, or 1 for longer
    // rows. see: docs/performance.md#rows-per-step, #two-streams
    let pairs = stride <= PAIR_STRIDE;
    let h = 0, R = 4, rowsPerStep = 4;
    let gap: usize = stride, far: usize = 2 * stride;
    if (big && !dot) {
      h = pairs ? (m >> 2) << 1 : m >> 1; // rows in each half
      R = pairs ? 4 : 2; rowsPerStep = pairs ? 2 : 1;
      if (pairs) far = <usize>h * stride;
      else gap = <usize>h * stride;
    } else if (big) {
      R = pairs ? 2 : 1; rowsPerStep = R;
    }
    let steps = h > 0 ? h / rowsPerStep : m / R, step = <usize>rowsPerStep * stride;
    for (let s0 = 0; s0 < steps; s0 += FLUSH) {
      let n = min(FLUSH, steps - s0), o = <usize>s0 * step;
      memory.fill(a1, 0, <usize>c << 2);
      memory.fill(a2, 0, <usize>c << 2);
      if (R == 4) rowsSums(x + o, dy + o, n, step, gap, far, c4, pk, a1, a2, fs, fa, fb, 4, dot, shifted, relu);
      else if (R == 2) rowsSums(x + o, dy + o, n, step, gap, far, c4, pk, a1, a2, fs, fa, fb, 2, dot, shifted, relu);
      else rowsSums(x + o, dy + o, n, step, gap, far, c4, pk, a1, a2, fs, fa, fb, 1, dot, shifted, relu);
      flushSums(c4, a1, a2, s1, s2);
      // the channels past c4 of the same rows, while they are in cache
      let r0 = s0 * rowsPerStep, r1 = r0 + n * rowsPerStep;
      tailSums(x, dy, r0, r1, stride, c4, c, pk, fs, fa, fb, s1, s2, dot, relu);
      if (h > 0) tailSums(x, dy, h + r0, h + r1, stride, c4, c, pk, fs, fa, fb, s1, s2, dot, relu);
    }
    // the rows left over (fewer than R), one a step
    let done = steps * R;
    if (done < m) {
      let o = <usize>done * stride;
      memory.fill(a1, 0, <usize>c << 2);
      memory.fill(a2, 0, <usize>c << 2);
      rowsSums(x + o, dy + o, m - done, stride, stride, 2 * stride, c4, pk, a1, a2, fs, fa, fb, 1, dot, shifted, relu);
      flushSums(c4, a1, a2, s1, s2);
      tailSums(x, dy, done, m, stride, c4, c, pk, fs, fa, fb, s1, s2, dot, relu);
    }
  } else {
    tailSums(x, dy, 0, m, stride, 0, c, pk, fs, fa, fb, s1, s2, dot, relu);
  }
}

/** Channels from..c of rows r0..r1: S1 += Σa, S2 += Σb in f64, one value at a time (tails, and the scalar build). */
// @ts-ignore: decorator
@inline function tailSums(x: usize, dy: usize, r0: i32, r1: i32, stride: usize, from: i32, c: i32, pk: usize, fs: usize, fa: usize, fb: usize, s1: usize, s2: usize, dot: bool, relu: bool): void {
  if (from >= c) return;
  if (ASC_FEATURE_SIMD) {
    // at most 3 channels of rows in cache: a channel at a time, its sums in registers (the same
    // additions in the same order as below; through memory they wait on each other's stores)
    for (let ch = from; ch < c; ch++) {
      let o = <usize>ch << 2, o8 = <usize>ch << 3;
      let k = load<f32>(pk + o), a = load<f64>(s1 + o8), b = load<f64>(s2 + o8);
      let vs: f32 = relu ? load<f32>(fs + o) : 0, va: f32 = relu ? load<f32>(fa + o) : 0, vb: f32 = relu ? load<f32>(fb + o) : 0;
      for (let rr = r0; rr < r1; rr++) {
        let p = <usize>rr * stride + o;
        let xv = load<f32>(x + p), e = <f64>(xv - k);
        let g = dot ? <f64>load<f32>(dy + p) : e;
        if (relu && !((xv - vs) * va + vb > 0)) g = 0;
        a += g; b += g * e;
      }
      store<f64>(s1 + o8, a); store<f64>(s2 + o8, b);
    }
    return;
  }
  for (let rr = r0; rr < r1; rr++) {
    let p = <usize>rr * stride;
    for (let ch = from; ch < c; ch++) {
      let o = <usize>ch << 2, o8 = <usize>ch << 3;
      let xv = load<f32>(x + p + o);
      let e = <f64>(xv - load<f32>(pk + o));
      let gg = dot ? <f64>load<f32>(dy + p + o) : e;
      if (relu && !((xv - load<f32>(fs + o)) * load<f32>(fa + o) + load<f32>(fb + o) > 0)) gg = 0;
      store<f64>(s1 + o8, load<f64>(s1 + o8) + gg);
      store<f64>(s2 + o8, load<f64>(s2 + o8) + gg * e);
    }
  }
}

/** S1, S2 (f64 at s1, s2) += the f32 partial sums at a1, a2 of channels 0..c4. */
// @ts-ignore: decorator
@inline function flushSums(c4: i32, a1: usize, a2: usize, s1: usize, s2: usize): void {
  for (let g = 0; g < c4; g += 4) {
    flush4(s1 + (<usize>g << 3), v128.load(a1 + (<usize>g << 2)));
    flush4(s2 + (<usize>g << 3), v128.load(a2 + (<usize>g << 2)));
  }
}

/** True when the c f32 values at p are all 0 (every kS, or K): the loops skip the subtraction. */
function allZero(p: usize, c: i32): bool {
  for (let ch = 0; ch < c; ch++) if (load<f32>(p + (<usize>ch << 2)) != 0) return false;
  return true;
}

/** True when x[m][c] is beyond the caches: the passes then read it the way memory streams best. */
// @ts-ignore: decorator
@inline export function streams(m: i32, c: i32): bool {
  return <usize>m * (<usize>c << 2) > STREAM_BYTES;
}

/**
 * y = (x − kS)·kA + kB per channel (then max(·, 0) for BN+ReLU), constants from the workspace;
 * `big` (streams) of the whole tensor, so a slice of its rows takes the whole pass's loops.
 */
export function normalizePass(x: usize, y: usize, m: i32, c: i32, ws: usize, relu: bool, big: bool): void {
  // one compiled copy of the loops per mode (see rowSums)
  if (allZero(at(ws, c, WS_KS), c)) {
    if (relu) normalizeMode<On, On>(x, y, m, c, ws, big);
    else normalizeMode<On, Off>(x, y, m, c, ws, big);
  } else {
    if (relu) normalizeMode<Off, On>(x, y, m, c, ws, big);
    else normalizeMode<Off, Off>(x, y, m, c, ws, big);
  }
}

function normalizeMode<FOLDED, RELU>(x: usize, y: usize, m: i32, c: i32, ws: usize, big: bool): void {
  const folded = isInteger<FOLDED>(), relu = isInteger<RELU>();
  let stride = <usize>c << 2;
  let ps = at(ws, c, WS_KS), pa = at(ws, c, WS_KA), pb = at(ws, c, WS_KB);
  let c8 = ASC_FEATURE_SIMD ? c & ~7 : 0;
  if (ASC_FEATURE_SIMD && c8 > 0) {
    if (!big && (c & 15) == 0 && stride <= BLOCK_STRIDE) {
      // in cache: blocks of 16 channels with their constants in registers, a few rows at a time;
      // not for longer rows, whose lines a block apart crowd the same L1 sets
      // see: docs/performance.md#normalize-blocks
      let br = blockRows(stride);
      for (let rs = 0; rs < m; rs += br) {
        let q = <usize>rs * stride, rr = min(br, m - rs);
        for (let g = 0; g < c; g += 16) {
          let o = <usize>g << 2;
          block16Normalize(x + q + o, y + q + o, rr, stride, ps + o, pa + o, pb + o, folded, relu);
        }
      }
      return;
    }
    // the channels past c8 a block of rows after the rest of those rows, while they are in cache
    let block = c8 < c ? TAIL_ROWS : m;
    for (let r0 = 0; r0 < m; r0 += block) {
      let n = min(block, m - r0), q = <usize>r0 * stride, px = x + q, py = y + q;
      let r = !big ? rowsNormalize(px, py, n, stride, c8, ps, pa, pb, 4, folded, relu)
        : stride <= PAIR_STRIDE ? rows16Normalize(px, py, n, stride, c8, ps, pa, pb, folded, relu) : 0;
      if (r < n) {
        let o = <usize>r * stride;
        rowsNormalize(px + o, py + o, n - r, stride, c8, ps, pa, pb, 1, folded, relu);
      }
      columnsNormalize(px, py, n, stride, c8, c, ps, pa, pb, folded, relu);
    }
    return;
  }
  columnsNormalize(x, y, m, stride, c8, c, ps, pa, pb, folded, relu);
}

/**
 * dx = kA·g − kB·(x − kS) − kC per channel (kA·g when !train), g = dy, or for BN+ReLU dy where the
 * forward's output was positive; constants from the workspace; `big` as normalizePass's.
 */
export function dxPass(x: usize, dy: usize, dx: usize, m: i32, c: i32, ws: usize, train: i32, relu: bool, big: bool): void {
  // one compiled copy of the loops per mode (see rowSums)
  if (!train) {
    if (relu) dxMode<Off, On, On>(x, dy, dx, m, c, ws, big);
    else dxMode<Off, On, Off>(x, dy, dx, m, c, ws, big);
  } else if (allZero(at(ws, c, WS_KS), c)) {
    if (relu) dxMode<On, On, On>(x, dy, dx, m, c, ws, big);
    else dxMode<On, On, Off>(x, dy, dx, m, c, ws, big);
  } else {
    if (relu) dxMode<On, Off, On>(x, dy, dx, m, c, ws, big);
    else dxMode<On, Off, Off>(x, dy, dx, m, c, ws, big);
  }
}

function dxMode<TRAIN, FOLDED, RELU>(x: usize, dy: usize, dx: usize, m: i32, c: i32, ws: usize, big: bool): void {
  const train = isInteger<TRAIN>(), folded = isInteger<FOLDED>(), relu = isInteger<RELU>();
  let stride = <usize>c << 2;
  let ps = at(ws, c, WS_KS), pa = at(ws, c, WS_KA), pb = at(ws, c, WS_KB), pk = at(ws, c, WS_KC);
  let fs = at(ws, c, WS_FS), fa = at(ws, c, WS_FA), fb = at(ws, c, WS_FB);
  let c8 = ASC_FEATURE_SIMD ? c & ~7 : 0;
  if (ASC_FEATURE_SIMD && c8 > 0) {
    // 4 rows a step in cache, 2 beyond, 1 for rows longer than PAIR_STRIDE (see:
    // docs/performance.md#rows-per-step); the channels past c8 a block of rows after the rest of
    // those rows, while they are in cache
    let block = c8 < c ? TAIL_ROWS : m;
    for (let r0 = 0; r0 < m; r0 += block) {
      let n = min(block, m - r0), q = <usize>r0 * stride, px = x + q, pdy = dy + q, pdx = dx + q;
      let r = !big ? rowsDx(px, pdy, pdx, n, stride, c8, ps, pa, pb, pk, fs, fa, fb, 4, train, folded, relu)
        : stride <= PAIR_STRIDE ? rowsDx(px, pdy, pdx, n, stride, c8, ps, pa, pb, pk, fs, fa, fb, 2, train, folded, relu) : 0;
      if (r < n) {
        let o = <usize>r * stride;
        rowsDx(px + o, pdy + o, pdx + o, n - r, stride, c8, ps, pa, pb, pk, fs, fa, fb, 1, train, folded, relu);
      }
      columnsDx(px, pdy, pdx, n, stride, c8, c, ps, pa, pb, pk, fs, fa, fb, train, folded, relu);
    }
    return;
  }
  columnsDx(x, dy, dx, m, stride, c8, c, ps, pa, pb, pk, fs, fa, fb, train, folded, relu);
}
