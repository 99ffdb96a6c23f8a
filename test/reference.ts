// Float64 reference BatchNorm: the definition written plainly, layout-agnostic through index lists.
// Tests only; the library never imports it.
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167 (Alg. 1, §3 backward)

export type Layout = 'NC' | 'NCL' | 'NLC' | 'NCHW' | 'NHWC' | 'NCDHW' | 'NDHWC';
export const CHANNELS_LAST: Record<Layout, boolean> = { NC: true, NCL: false, NLC: true, NCHW: false, NHWC: true, NCDHW: false, NDHWC: true };

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

export interface RefForward { y: Float64Array; mean: Float64Array; var: Float64Array; invstd: Float64Array }

/** Training forward with batch statistics (biased variance). */
export function refForwardTrain(x: ArrayLike<number>, layout: Layout, shape: readonly number[], eps: number, gamma?: ArrayLike<number> | null, beta?: ArrayLike<number> | null): RefForward {
  const idx = channelIndices(layout, shape);
  const C = idx.length;
  const y = new Float64Array(x.length), mean = new Float64Array(C), vr = new Float64Array(C), invstd = new Float64Array(C);
  idx.forEach((ix, c) => {
    let s = 0;
    for (const i of ix) s += x[i];
    const m = s / ix.length;
    let q = 0;
    for (const i of ix) q += (x[i] - m) ** 2;
    mean[c] = m;
    vr[c] = q / ix.length;
    invstd[c] = 1 / Math.sqrt(vr[c] + eps);
    const g = gamma ? gamma[c] : 1, b = beta ? beta[c] : 0;
    for (const i of ix) y[i] = g * (x[i] - m) * invstd[c] + b;
  });
  return { y, mean, var: vr, invstd };
}

/** Eval forward with given running statistics. */
export function refForwardEval(x: ArrayLike<number>, layout: Layout, shape: readonly number[], eps: number, runMean: ArrayLike<number>, runVar: ArrayLike<number>, gamma?: ArrayLike<number> | null, beta?: ArrayLike<number> | null): Float64Array {
  const y = new Float64Array(x.length);
  channelIndices(layout, shape).forEach((ix, c) => {
    const inv = 1 / Math.sqrt(runVar[c] + eps), g = gamma ? gamma[c] : 1, b = beta ? beta[c] : 0;
    for (const i of ix) y[i] = g * (x[i] - runMean[c]) * inv + b;
  });
  return y;
}

export interface RefBackward { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array }

/**
 * Backward of y = γ·x̂ + β. Training (batch statistics): dx = γ·invstd/M·(M·dy − Σdy − x̂·Σdy·x̂);
 * eval (running statistics are constants): dx = γ·invstd·dy.
 */
export function refBackward(x: ArrayLike<number>, dy: ArrayLike<number>, layout: Layout, shape: readonly number[], eps: number, gamma: ArrayLike<number> | null, train: boolean, runMean?: ArrayLike<number>, runVar?: ArrayLike<number>): RefBackward {
  const idx = channelIndices(layout, shape);
  const C = idx.length;
  const dx = new Float64Array(x.length), dgamma = new Float64Array(C), dbeta = new Float64Array(C);
  const st = train ? refForwardTrain(x, layout, shape, eps) : null;
  idx.forEach((ix, c) => {
    const m = st ? st.mean[c] : runMean![c];
    const inv = st ? st.invstd[c] : 1 / Math.sqrt(runVar![c] + eps);
    const g = gamma ? gamma[c] : 1;
    let sdy = 0, sdyx = 0;
    for (const i of ix) {
      sdy += dy[i];
      sdyx += dy[i] * (x[i] - m) * inv;
    }
    dbeta[c] = sdy;
    dgamma[c] = sdyx;
    const M = ix.length;
    for (const i of ix) {
      dx[i] = train ? (g * inv / M) * (M * dy[i] - sdy - (x[i] - m) * inv * sdyx) : g * inv * dy[i];
    }
  });
  return { dx, dgamma, dbeta };
}

/** Seeded normal values (xorshift32 + Box–Muller): the same data in every run and runtime. */
export function randn(n: number, seed: number, mean = 0, std = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const u = () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
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
