// Pure-JS row normalization: the same entry points as assembly/rownorm.ts, and the same operations
// in the same order as its scalar build (f32 roundings by Math.fround, sums in f64), so the two
// agree bit for bit.
// see: Ba et al. 2016, Layer Normalization, https://arxiv.org/abs/1607.06450 (§3)
import { f32, f64 } from './memory';

const fr = Math.fround;
/** The largest finite f32 (assembly/stats.ts F32_MAX). */
const F32_MAX = 3.4028234663852886e38;
/** (mean − K)²/var above which a row is summed again around its mean (assembly/stats.ts RESHIFT). */
const RESHIFT = 16;
const finiteScale = (a: number) => (a > F32_MAX ? F32_MAX : a < -F32_MAX ? -F32_MAX : a);

/** Workspace bytes of rowNormBackward for rows of `d` values. */
export function rowNormWorkspace(d: number): number {
  return 24 * d + 16 * 64 + 16;
}

/** Σ(x − k), Σ(x − k)² of X[o, o + d) as the scalar build sums them (again with x − k in f64 where they overflow). */
function rowSums(X: Float32Array, o: number, d: number, k: number): [number, number] {
  let a = 0,
    b = 0;
  for (let j = 0; j < d; j++) {
    const e = fr(X[o + j] - k);
    a += e;
    b += e * e;
  }
  if (Math.abs(a) < Infinity && Math.abs(b) < Infinity) return [a, b];
  a = 0;
  b = 0;
  for (let j = 0; j < d; j++) {
    const e = X[o + j] - k;
    a += e;
    b += e * e;
  }
  return [a, b];
}

/** Training forward: statistics per row into mean/vari/invstd (f64[rows]), then y (clamped at 0 when relu); γ, β (f32[d]) may be 0. */
export function rowNormForward(
  x: number,
  y: number,
  rows: number,
  d: number,
  gamma: number,
  beta: number,
  eps: number,
  mean: number,
  vari: number,
  invstd: number,
  relu: number,
): void {
  if (rows * d === 0) return;
  const X = f32(x, rows * d),
    Y = f32(y, rows * d),
    G = gamma ? f32(gamma, d) : null,
    B = beta ? f32(beta, d) : null;
  const M = f64(mean, rows),
    V = f64(vari, rows),
    I = f64(invstd, rows);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let k = X[o];
    for (let pass = 0; pass < 2; pass++) {
      const [s1, s2] = rowSums(X, o, d, k);
      const m2 = s2 - (s1 * s1) / d;
      const v = (m2 < 0 ? 0 : m2) / d,
        dm = s1 / d;
      M[r] = k + dm;
      V[r] = v;
      I[r] = 1 / Math.sqrt(v + eps);
      if (!(dm * dm > RESHIFT * v)) break;
      k = fr(M[r]);
    }
    normalizeRow(X, Y, o, d, G, B, M[r], I[r], relu);
  }
}

/** y of the row at o from its mean and invstd (then ReLU: v < 0 ? 0 : v). */
function normalizeRow(
  X: Float32Array,
  Y: Float32Array,
  o: number,
  d: number,
  G: Float32Array | null,
  B: Float32Array | null,
  m: number,
  inv: number,
  relu: number,
): void {
  const s = fr(m),
    i = fr(finiteScale(inv)),
    rem = fr((m - s) * inv);
  for (let j = 0; j < d; j++) {
    const t = fr(fr(fr(X[o + j] - s) * i) - rem);
    const v = fr(fr(t * (G ? G[j] : 1)) + (B ? B[j] : 0));
    Y[o + j] = relu && v < 0 ? 0 : v;
  }
}

/** y from given per-row mean and invstd (f64[rows]), clamped at 0 when relu: rowNormForward's normalize alone. */
export function rowNormNormalize(
  x: number,
  y: number,
  rows: number,
  d: number,
  gamma: number,
  beta: number,
  mean: number,
  invstd: number,
  relu: number,
): void {
  if (rows * d === 0) return;
  const X = f32(x, rows * d),
    Y = f32(y, rows * d),
    G = gamma ? f32(gamma, d) : null,
    B = beta ? f32(beta, d) : null;
  const M = f64(mean, rows),
    I = f64(invstd, rows);
  for (let r = 0; r < rows; r++) normalizeRow(X, Y, r * d, d, G, B, M[r], I[r], relu);
}

/** Backward of rowNormForward: dx, and Σ dy·x̂, Σ dy per column added to dgamma, dbeta (f32[d], 0 = not wanted). */
export function rowNormBackward(
  x: number,
  dy: number,
  dx: number,
  rows: number,
  d: number,
  gamma: number,
  mean: number,
  invstd: number,
  dgamma: number,
  dbeta: number,
  _ws: number,
): void {
  if (rows * d === 0) return;
  const X = f32(x, rows * d),
    DY = f32(dy, rows * d),
    DX = f32(dx, rows * d),
    G = gamma ? f32(gamma, d) : null;
  const M = f64(mean, rows),
    I = f64(invstd, rows);
  const cw = new Float64Array(d),
    cb = new Float64Array(d),
    cols = dgamma !== 0 || dbeta !== 0;
  for (let r = 0; r < rows; r++) {
    const o = r * d,
      m = M[r],
      inv = I[r];
    const s = fr(m),
      i = fr(finiteScale(inv)),
      rem = fr((m - s) * inv);
    if (cols) {
      for (let j = 0; j < d; j++) {
        const e = DY[o + j],
          xe = fr(X[o + j] - s);
        cw[j] += e * fr(fr(xe * i) - rem);
        cb[j] += e;
      }
    }
    let s1 = 0,
      s2 = 0;
    for (let j = 0; j < d; j++) {
      const g = G ? fr(DY[o + j] * G[j]) : DY[o + j];
      s1 += g;
      s2 += g * fr(X[o + j] - s);
    }
    // dx = kA·g − kB·(x − s) − kC (assembly/rownorm.ts dxRow)
    const a = 0 + s1,
      b = 0 + s2;
    const dg = (b - (m - s) * a) * inv;
    const kb = (inv * inv * dg) / d;
    const ka = fr(finiteScale(inv)),
      kB = fr(finiteScale(kb)),
      kC = fr((inv * a) / d - kb * (m - s));
    for (let j = 0; j < d; j++) {
      const g = G ? fr(DY[o + j] * G[j]) : DY[o + j];
      DX[o + j] = fr(fr(ka * g) - fr(kB * fr(X[o + j] - s))) - kC;
    }
  }
  if (dgamma) addColumns(f32(dgamma, d), cw);
  if (dbeta) addColumns(f32(dbeta, d), cb);
}

/** into += from rounded to f32. */
function addColumns(into: Float32Array, from: Float64Array): void {
  for (let j = 0; j < from.length; j++) into[j] += fr(from[j]);
}

/** Workspace bytes of groupNormBackward for `c` channels. */
export function groupNormWorkspace(c: number): number {
  return 16 * c + 16;
}

/** Σdy, Σdy·(x − s) of a run as the scalar build sums them (again with x − s in f64 where they overflow). */
function runDots(X: Float32Array, DY: Float32Array, o: number, l: number, s: number): [number, number] {
  let a = 0,
    b = 0;
  for (let j = 0; j < l; j++) {
    const g = DY[o + j];
    a += g;
    b += g * fr(X[o + j] - s);
  }
  if (Math.abs(a) < Infinity && Math.abs(b) < Infinity) return [a, b];
  a = 0;
  b = 0;
  for (let j = 0; j < l; j++) {
    const g = DY[o + j];
    a += g;
    b += g * (X[o + j] - s);
  }
  return [a, b];
}

/** GroupNorm's backward in two passes (assembly/rownorm.ts groupNormBackward): dx, and dγ, dβ (f32[c], 0 = not wanted) added to. */
export function groupNormBackward(
  x: number,
  dy: number,
  dx: number,
  rows: number,
  c: number,
  per: number,
  l: number,
  gamma: number,
  mean: number,
  invstd: number,
  dgamma: number,
  dbeta: number,
  _ws: number,
): void {
  const size = rows * per * l;
  if (size === 0) return;
  const X = f32(x, size),
    DY = f32(dy, size),
    DX = f32(dx, size),
    G = gamma ? f32(gamma, c) : null;
  const M = f64(mean, rows),
    I = f64(invstd, rows);
  const cw = new Float64Array(c),
    cb = new Float64Array(c);
  const groups = c / per,
    count = per * l;
  for (let r = 0; r < rows; r++) {
    const m = M[r],
      inv = I[r],
      s = fr(m),
      base = r * per * l,
      ch0 = (r % groups) * per;
    let sg = 0,
      sgx = 0;
    for (let k = 0; k < per; k++) {
      const ch = ch0 + k,
        [a, b] = runDots(X, DY, base + k * l, l, s),
        g = G ? G[ch] : 1;
      sg += g * a;
      sgx += g * b;
      cw[ch] += (b - (m - s) * a) * inv;
      cb[ch] += a;
    }
    const dg = (sgx - (m - s) * sg) * inv;
    const kb = (inv * inv * dg) / count;
    const kB = fr(finiteScale(kb)),
      kC = fr((inv * sg) / count - kb * (m - s));
    for (let k = 0; k < per; k++) {
      const o = base + k * l,
        ka = fr(finiteScale((G ? G[ch0 + k] : 1) * inv));
      for (let j = 0; j < l; j++) DX[o + j] = fr(fr(ka * DY[o + j]) - fr(kB * fr(X[o + j] - s))) - kC;
    }
  }
  if (dgamma) addColumns(f32(dgamma, c), cw);
  if (dbeta) addColumns(f32(dbeta, c), cb);
}
