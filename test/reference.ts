// Float64 references, written plainly (tests only; the library never imports them): BatchNorm for
// any layout through index lists, direct convolution and pooling; with the seeded inputs they are
// fed, the distances they are compared by and the f32 error bound. Other helpers: helpers.ts.
import { expect } from 'vitest';

// BatchNorm. see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167 (Alg. 1, §3 backward)

export type Layout = 'NC' | 'NCL' | 'NLC' | 'NCHW' | 'NHWC' | 'NCDHW' | 'NDHWC';
export const CHANNELS_LAST: Record<Layout, boolean> = {
  NC: true,
  NCL: false,
  NLC: true,
  NCHW: false,
  NHWC: true,
  NCDHW: false,
  NDHWC: true,
};

/** Flat indices of every element of each channel. */
export function channelIndices(layout: Layout, shape: readonly number[]): number[][] {
  const ax = CHANNELS_LAST[layout] ? shape.length - 1 : 1;
  const C = shape[ax];
  const inner = shape.slice(ax + 1).reduce((a, b) => a * b, 1);
  const size = shape.reduce((a, b) => a * b, 1);
  const out: number[][] = Array.from({ length: C }, () => []);
  for (let i = 0; i < size; i++) out[Math.floor(i / inner) % C].push(i);
  return out;
}

export interface RefForward {
  y: Float64Array;
  mean: Float64Array;
  var: Float64Array;
  invstd: Float64Array;
}

/** Training forward with batch statistics (biased variance). */
export function refForwardTrain(
  x: ArrayLike<number>,
  layout: Layout,
  shape: readonly number[],
  eps: number,
  gamma?: ArrayLike<number> | null,
  beta?: ArrayLike<number> | null,
): RefForward {
  const idx = channelIndices(layout, shape);
  const C = idx.length;
  const y = new Float64Array(x.length),
    mean = new Float64Array(C),
    vr = new Float64Array(C),
    invstd = new Float64Array(C);
  idx.forEach((ix, c) => {
    let s = 0;
    for (const i of ix) s += x[i];
    const m = s / ix.length;
    let q = 0;
    for (const i of ix) q += (x[i] - m) ** 2;
    mean[c] = m;
    vr[c] = q / ix.length;
    invstd[c] = 1 / Math.sqrt(vr[c] + eps);
    const g = gamma ? gamma[c] : 1,
      b = beta ? beta[c] : 0;
    for (const i of ix) y[i] = g * (x[i] - m) * invstd[c] + b;
  });
  return { y, mean, var: vr, invstd };
}

/** Eval forward with given running statistics. */
export function refForwardEval(
  x: ArrayLike<number>,
  layout: Layout,
  shape: readonly number[],
  eps: number,
  runMean: ArrayLike<number>,
  runVar: ArrayLike<number>,
  gamma?: ArrayLike<number> | null,
  beta?: ArrayLike<number> | null,
): Float64Array {
  const y = new Float64Array(x.length);
  channelIndices(layout, shape).forEach((ix, c) => {
    const inv = 1 / Math.sqrt(runVar[c] + eps),
      g = gamma ? gamma[c] : 1,
      b = beta ? beta[c] : 0;
    for (const i of ix) y[i] = g * (x[i] - runMean[c]) * inv + b;
  });
  return y;
}

export interface RefBackward {
  dx: Float64Array;
  dgamma: Float64Array;
  dbeta: Float64Array;
}

/**
 * Backward of y = γ·x̂ + β. Training (batch statistics): dx = γ·invstd/M·(M·dy − Σdy − x̂·Σdy·x̂);
 * eval (running statistics are constants): dx = γ·invstd·dy.
 */
export function refBackward(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  layout: Layout,
  shape: readonly number[],
  eps: number,
  gamma: ArrayLike<number> | null,
  train: boolean,
  runMean?: ArrayLike<number>,
  runVar?: ArrayLike<number>,
): RefBackward {
  const idx = channelIndices(layout, shape);
  const C = idx.length;
  const dx = new Float64Array(x.length),
    dgamma = new Float64Array(C),
    dbeta = new Float64Array(C);
  const st = train ? refForwardTrain(x, layout, shape, eps) : null;
  idx.forEach((ix, c) => {
    const m = st ? st.mean[c] : runMean![c];
    const inv = st ? st.invstd[c] : 1 / Math.sqrt(runVar![c] + eps);
    const g = gamma ? gamma[c] : 1;
    let sdy = 0,
      sdyx = 0;
    for (const i of ix) {
      sdy += dy[i];
      sdyx += dy[i] * (x[i] - m) * inv;
    }
    dbeta[c] = sdy;
    dgamma[c] = sdyx;
    const M = ix.length;
    for (const i of ix) {
      dx[i] = train ? ((g * inv) / M) * (M * dy[i] - sdy - (x[i] - m) * inv * sdyx) : g * inv * dy[i];
    }
  });
  return { dx, dgamma, dbeta };
}

type Arr = ArrayLike<number>;
/** A convolution or pooling case: NCHW input [n, c, h, w], o output channels, kernel k, stride s, padding p. */
export interface ConvCase {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  k: [number, number];
  s: [number, number];
  p: [number, number];
  bias: boolean;
}
/** Output size of a window of k with stride s and padding p over d. */
export const size = (d: number, k: number, s: number, p: number) => Math.floor((d + 2 * p - k) / s) + 1;

/** For every output (i, q) of a conv/pool, calls f(i, q, iy, ix, ki, kj) for each in-image window element. */
export function windows(
  c: ConvCase,
  f: (img: number, oy: number, ox: number, iy: number, ix: number, ki: number, kj: number) => void,
): void {
  const oh = size(c.h, c.k[0], c.s[0], c.p[0]),
    ow = size(c.w, c.k[1], c.s[1], c.p[1]);
  for (let img = 0; img < c.n; img++)
    for (let oy = 0; oy < oh; oy++)
      for (let ox = 0; ox < ow; ox++) {
        for (let ki = 0; ki < c.k[0]; ki++)
          for (let kj = 0; kj < c.k[1]; kj++) {
            const iy = oy * c.s[0] - c.p[0] + ki,
              ix = ox * c.s[1] - c.p[1] + kj;
            if (iy >= 0 && iy < c.h && ix >= 0 && ix < c.w) f(img, oy, ox, iy, ix, ki, kj);
          }
      }
}

/** Direct convolution in float64 (NCHW), with Σ|term| per output, and its exact gradients. */
export function convRef(c: ConvCase, x: Arr, W: Arr, b: Arr | null, dy: Arr) {
  const oh = size(c.h, c.k[0], c.s[0], c.p[0]),
    ow = size(c.w, c.k[1], c.s[1], c.p[1]),
    P = oh * ow;
  const y = new Float64Array(c.n * c.o * P),
    ya = new Float64Array(y.length);
  const dx = new Float64Array(c.n * c.c * c.h * c.w),
    dxa = new Float64Array(dx.length);
  const dW = new Float64Array(W.length),
    dWa = new Float64Array(W.length),
    db = new Float64Array(c.o),
    dba = new Float64Array(c.o);
  windows(c, (img, oy, ox, iy, ix, ki, kj) => {
    for (let o = 0; o < c.o; o++) {
      const yi = (img * c.o + o) * P + oy * ow + ox;
      for (let ci = 0; ci < c.c; ci++) {
        const xi = ((img * c.c + ci) * c.h + iy) * c.w + ix,
          wi = ((o * c.c + ci) * c.k[0] + ki) * c.k[1] + kj;
        y[yi] += W[wi] * x[xi];
        ya[yi] += Math.abs(W[wi] * x[xi]);
        dx[xi] += W[wi] * dy[yi];
        dxa[xi] += Math.abs(W[wi] * dy[yi]);
        dW[wi] += dy[yi] * x[xi];
        dWa[wi] += Math.abs(dy[yi] * x[xi]);
      }
    }
  });
  for (let i = 0; i < y.length; i++) {
    const o = Math.floor(i / P) % c.o;
    if (b) {
      y[i] += b[o];
      ya[i] += Math.abs(b[o]);
    }
    db[o] += dy[i];
    dba[o] += Math.abs(dy[i]);
  }
  return { y, ya, dx, dxa, dW, dWa, db, dba, oh, ow };
}

/** A pooling case in float64: output, dx for dy, and (max) the argmax per output. */
export function poolRef(kind: 'max' | 'avg', c: ConvCase, x: Arr, dy: Arr) {
  const oh = size(c.h, c.k[0], c.s[0], c.p[0]),
    ow = size(c.w, c.k[1], c.s[1], c.p[1]),
    planes = c.n * c.c;
  const y = new Float64Array(planes * oh * ow).fill(kind === 'max' ? -Infinity : 0),
    arg = new Int32Array(y.length).fill(-1);
  const dx = new Float64Array(planes * c.h * c.w),
    kk = c.k[0] * c.k[1];
  windows({ ...c, n: planes }, (pl, oy, ox, iy, ix) => {
    const q = (pl * oh + oy) * ow + ox,
      v = x[(pl * c.h + iy) * c.w + ix];
    if (kind === 'avg') y[q] += v / kk;
    else if (arg[q] < 0 || v > y[q] || v !== v) {
      y[q] = v;
      arg[q] = iy * c.w + ix;
    }
  });
  windows({ ...c, n: planes }, (pl, oy, ox, iy, ix) => {
    if (kind === 'avg') dx[(pl * c.h + iy) * c.w + ix] += dy[(pl * oh + oy) * ow + ox] / kk;
  });
  if (kind === 'max')
    arg.forEach((a, q) => {
      dx[Math.floor(q / (oh * ow)) * c.h * c.w + a] += dy[q];
    });
  return { y, dx, oh, ow };
}

// NOTE: a sum of t f32 terms rounded in any order is within t·u·Σ|term| of the exact sum, u = 2⁻²⁴
// (Higham, "Accuracy and Stability of Numerical Algorithms", §3.1).
/** The f32 unit roundoff. */
export const U = 2 ** -24;

/**
 * Every |got − want| ≤ (t + 3)·u·abs (+ slack), with a message naming the first failure; abs is
 * Σ|term| per element (3: the bias, the accumulation into a gradient, and the rounding of the products).
 */
export function within(name: string, got: Arr, want: Arr, abs: Arr, t: number, slack = 0): void {
  expect(got.length, `${name} length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const tol = (t + 3) * U * abs[i] * 1.001 + slack + 1e-30;
    if (!(Math.abs(got[i] - want[i]) <= tol)) expect.fail(`${name}[${i}]: got ${got[i]}, want ${want[i]} ± ${tol}`);
  }
}

/** Seeded normal values (xorshift32 + Box–Muller): the same data in every run and runtime. */
export function randn(n: number, seed: number, mean = 0, std = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** Largest |a − b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return a.length === b.length ? m : Infinity;
}

/** Largest |a|. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
