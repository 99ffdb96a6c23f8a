// Pure-JS gate kernels of the recurrent layers: the same entry points as assembly/recurrent.ts,
// every operation rounded to f32 in the WASM kernels' order (f32 +, −, ·, ÷ computed in f64 and
// rounded once are exact f32 operations), so this backend gives the WASM builds' bits.
// see: https://github.com/jeremybarnes/cephes/blob/master/single/expf.c (expf)
import { f32 } from './memory';

const fr = Math.fround;
const LOG2E = fr(1.44269504088896341),
  C1 = fr(0.693359375),
  C2 = fr(-2.1219444e-4),
  MAGIC = 12582912,
  LO = -87;
const P0 = fr(1.98756915e-4),
  P1 = fr(1.3981999507e-3),
  P2 = fr(8.3334519073e-3),
  P3 = fr(4.1665795894e-2),
  P4 = fr(1.6666665459e-1),
  P5 = fr(5.0000001201e-1);
/** 2^n for n in [−126, 0], exact: the WASM kernels build it from n's bits. */
const POW2 = Float64Array.from({ length: 127 }, (_, k) => 2 ** (k - 126));

/** e^x for x ≤ 0 (NaN stays NaN), as assembly/recurrent.ts's expNeg. */
function expNeg(x0: number): number {
  const x = Math.max(x0, LO);
  const t = fr(fr(x * LOG2E) + MAGIC);
  const n = t - MAGIC; // exact
  const r = fr(fr(x - fr(n * C1)) - fr(n * C2));
  const z = fr(r * r);
  let y = fr(fr(P0 * r) + P1);
  y = fr(fr(y * r) + P2);
  y = fr(fr(y * r) + P3);
  y = fr(fr(y * r) + P4);
  y = fr(fr(y * r) + P5);
  y = fr(fr(fr(y * z) + r) + 1);
  return fr(y * POW2[n + 126]);
}

function sigm(x: number): number {
  const e = expNeg(-Math.abs(x));
  const d = fr(1 + e);
  return x >= 0 ? fr(1 / d) : fr(e / d);
}

function tanhf(x: number): number {
  const e = expNeg(-2 * Math.abs(x));
  const t = fr(fr(1 - e) / fr(1 + e));
  return x < 0 ? -t : t;
}

/** One LSTM step: g [rows, 4H] (i, f, g, o) becomes the activated gates; c = f·cPrev + i·g, h = o·tanh(c). */
export function lstmCellForward(g: number, cPrev: number, c: number, h: number, rows: number, hs: number): void {
  const G = f32(g, rows * 4 * hs),
    CP = f32(cPrev, rows * hs),
    C = f32(c, rows * hs),
    Hh = f32(h, rows * hs);
  for (let r = 0; r < rows; r++) {
    const b = r * 4 * hs;
    for (let j = 0; j < hs; j++) {
      const k = r * hs + j;
      const i = sigm(G[b + j]),
        f = sigm(G[b + hs + j]),
        gv = tanhf(G[b + 2 * hs + j]),
        o = sigm(G[b + 3 * hs + j]);
      const cv = fr(fr(f * CP[k]) + fr(i * gv));
      G[b + j] = i;
      G[b + hs + j] = f;
      G[b + 2 * hs + j] = gv;
      G[b + 3 * hs + j] = o;
      C[k] = cv;
      Hh[k] = o * tanhf(cv);
    }
  }
}

/** The backward of lstmCellForward: dg from dh and dc; dc becomes dL/dcPrev, dh becomes 0. */
export function lstmCellBackward(g: number, cPrev: number, c: number, dh: number, dc: number, dg: number, rows: number, hs: number): void {
  const G = f32(g, rows * 4 * hs),
    CP = f32(cPrev, rows * hs),
    C = f32(c, rows * hs),
    DH = f32(dh, rows * hs),
    DC = f32(dc, rows * hs),
    DG = f32(dg, rows * 4 * hs);
  for (let r = 0; r < rows; r++) {
    const b = r * 4 * hs;
    for (let j = 0; j < hs; j++) {
      const k = r * hs + j;
      const i = G[b + j],
        f = G[b + hs + j],
        gv = G[b + 2 * hs + j],
        o = G[b + 3 * hs + j];
      const tc = tanhf(C[k]),
        h = DH[k];
      const dcv = fr(DC[k] + fr(fr(h * o) * fr(1 - fr(tc * tc))));
      DG[b + j] = fr(dcv * gv) * fr(i * fr(1 - i));
      DG[b + hs + j] = fr(dcv * CP[k]) * fr(f * fr(1 - f));
      DG[b + 2 * hs + j] = fr(dcv * i) * fr(1 - fr(gv * gv));
      DG[b + 3 * hs + j] = fr(h * tc) * fr(o * fr(1 - o));
      DC[k] = dcv * f;
      DH[k] = 0;
    }
  }
}

/** One GRU step: xg [rows, 3H] (r, z, n) becomes r, z, n; h = n + z·(hPrev − n); hg is kept. */
export function gruCellForward(xg: number, hg: number, hPrev: number, h: number, rows: number, hs: number): void {
  const X = f32(xg, rows * 3 * hs),
    HG = f32(hg, rows * 3 * hs),
    HP = f32(hPrev, rows * hs),
    Hh = f32(h, rows * hs);
  for (let r = 0; r < rows; r++) {
    const b = r * 3 * hs;
    for (let j = 0; j < hs; j++) {
      const k = r * hs + j;
      const rv = sigm(fr(X[b + j] + HG[b + j]));
      const zv = sigm(fr(X[b + hs + j] + HG[b + hs + j]));
      const nv = tanhf(fr(X[b + 2 * hs + j] + fr(rv * HG[b + 2 * hs + j])));
      X[b + j] = rv;
      X[b + hs + j] = zv;
      X[b + 2 * hs + j] = nv;
      Hh[k] = nv + fr(zv * fr(HP[k] - nv));
    }
  }
}

/** The backward of gruCellForward: dxg and dhg from dh; dh becomes z·dh. */
export function gruCellBackward(
  xg: number,
  hg: number,
  hPrev: number,
  dh: number,
  dxg: number,
  dhg: number,
  rows: number,
  hs: number,
): void {
  const X = f32(xg, rows * 3 * hs),
    HG = f32(hg, rows * 3 * hs),
    HP = f32(hPrev, rows * hs),
    DH = f32(dh, rows * hs),
    DX = f32(dxg, rows * 3 * hs),
    DHG = f32(dhg, rows * 3 * hs);
  for (let r = 0; r < rows; r++) {
    const b = r * 3 * hs;
    for (let j = 0; j < hs; j++) {
      const k = r * hs + j;
      const rv = X[b + j],
        zv = X[b + hs + j],
        nv = X[b + 2 * hs + j],
        d = DH[k];
      const dn = fr(fr(d * fr(1 - zv)) * fr(1 - fr(nv * nv)));
      const dz = fr(fr(d * fr(HP[k] - nv)) * fr(zv * fr(1 - zv)));
      const dr = fr(fr(dn * HG[b + 2 * hs + j]) * fr(rv * fr(1 - rv)));
      DX[b + j] = dr;
      DX[b + hs + j] = dz;
      DX[b + 2 * hs + j] = dn;
      DHG[b + j] = dr;
      DHG[b + hs + j] = dz;
      DHG[b + 2 * hs + j] = dn * rv;
      DH[k] = d * zv;
    }
  }
}

/** One Elman RNN step over n values: h = tanh(pre), or max(pre, 0) when `relu`. */
export function rnnCellForward(pre: number, h: number, n: number, relu: number): void {
  const P = f32(pre, n),
    Hh = f32(h, n);
  for (let i = 0; i < n; i++) Hh[i] = relu ? (P[i] < 0 ? 0 : P[i]) : tanhf(P[i]);
}

/** The backward of rnnCellForward from its output h: dpre = dh·f′; dh becomes 0. */
export function rnnCellBackward(h: number, dh: number, dpre: number, n: number, relu: number): void {
  const Hh = f32(h, n),
    DH = f32(dh, n),
    DP = f32(dpre, n);
  for (let i = 0; i < n; i++) {
    DP[i] = relu ? (Hh[i] > 0 ? DH[i] : 0) : DH[i] * fr(1 - fr(Hh[i] * Hh[i]));
    DH[i] = 0;
  }
}

/** The output gate of a normalized LSTM step: h = σ(o)·tanh(z), o the last H columns of each row of g [rows, 4H] (kept). */
export function lstmOutForward(g: number, z: number, h: number, rows: number, hs: number): void {
  const G = f32(g, rows * 4 * hs),
    Z = f32(z, rows * hs),
    Hh = f32(h, rows * hs);
  for (let r = 0; r < rows; r++) {
    const b = r * 4 * hs + 3 * hs;
    for (let j = 0; j < hs; j++) Hh[r * hs + j] = sigm(G[b + j]) * tanhf(Z[r * hs + j]);
  }
}

/** The backward of lstmOutForward: dg [rows, 4H] (o's columns, the others 0) and dz [rows, H]. */
export function lstmOutBackward(g: number, z: number, dh: number, dg: number, dz: number, rows: number, hs: number): void {
  const G = f32(g, rows * 4 * hs),
    Z = f32(z, rows * hs),
    DH = f32(dh, rows * hs),
    DG = f32(dg, rows * 4 * hs),
    DZ = f32(dz, rows * hs);
  DG.fill(0);
  for (let r = 0; r < rows; r++) {
    const b = r * 4 * hs + 3 * hs;
    for (let j = 0; j < hs; j++) {
      const k = r * hs + j;
      const o = sigm(G[b + j]),
        tz = tanhf(Z[k]),
        d = DH[k];
      DG[b + j] = fr(d * tz) * fr(o * fr(1 - o));
      DZ[k] = fr(d * o) * fr(1 - fr(tz * tz));
    }
  }
}
