// Batch Renormalization in float64, written from the paper's Algorithm 1 (forward, r and d against
// the running statistics before their update, the backward with r and d as constants), and a
// finite-difference check of that backward. Tests only.
// see: Ioffe 2017, https://arxiv.org/abs/1702.03275 (Algorithm 1; the gradients in §3)
import { channelIndices, type Layout } from './reference';

/** Running statistics as the layer keeps them (the update is BN's: unbiased variance). */
export interface RefRunning {
  mean: Float64Array;
  var: Float64Array;
  count: number;
}

export interface RenormStep {
  y: Float64Array;
  dx: Float64Array;
  dgamma: Float64Array;
  dbeta: Float64Array;
  r: Float64Array;
  d: Float64Array;
}

const clip = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);

/**
 * One training step: y = γ·(x̂·r + d) + β with x̂ = (x − μ_B)/σ_B, then ReLU when `relu`; the
 * backward of Σ dy·y; then the running update (momentum null: cumulative average). `fixed` gives r
 * and d instead of taking them from the statistics (the finite differences hold them constant).
 */
export function renormRef(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  layout: Layout,
  shape: readonly number[],
  o: { eps: number; rMax: number; dMax: number; momentum: number | null; relu?: boolean },
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  run: RefRunning,
  fixed?: { r: Float64Array; d: Float64Array },
): RenormStep {
  const idx = channelIndices(layout, shape);
  const C = idx.length;
  const y = new Float64Array(x.length),
    dx = new Float64Array(x.length),
    dgamma = new Float64Array(C),
    dbeta = new Float64Array(C),
    rs = new Float64Array(C),
    ds = new Float64Array(C);
  const means = new Float64Array(C),
    vars = new Float64Array(C);
  idx.forEach((ix, c) => {
    const m = ix.length;
    const mu = ix.reduce((p, i) => p + x[i], 0) / m;
    const v = ix.reduce((p, i) => p + (x[i] - mu) ** 2, 0) / m;
    means[c] = mu;
    vars[c] = v;
    const sB = Math.sqrt(v + o.eps),
      sigma = Math.sqrt(run.var[c] + o.eps);
    const r = fixed ? fixed.r[c] : clip(sB / sigma, 1 / o.rMax, o.rMax);
    const d = fixed ? fixed.d[c] : clip((mu - run.mean[c]) / sigma, -o.dMax, o.dMax);
    rs[c] = r;
    ds[c] = d;
    const g = gamma[c];
    // ∂ℓ/∂x̂ = ∂ℓ/∂y·γ; ∂ℓ/∂σ_B = Σ ∂ℓ/∂x̂·(x − μ_B)·(−r/σ_B²); ∂ℓ/∂μ_B = Σ ∂ℓ/∂x̂·(−r/σ_B)
    let dsB = 0,
      dmu = 0;
    const gy = new Float64Array(m);
    ix.forEach((i, k) => {
      const xh = ((x[i] - mu) / sB) * r + d;
      const out = g * xh + beta[c];
      y[i] = o.relu ? Math.max(out, 0) : out;
      gy[k] = o.relu && !(out > 0) ? 0 : dy[i];
      dgamma[c] += gy[k] * xh;
      dbeta[c] += gy[k];
      dsB += gy[k] * g * (x[i] - mu) * (-r / (sB * sB));
      dmu += gy[k] * g * (-r / sB);
    });
    // ∂ℓ/∂x = ∂ℓ/∂x̂·r/σ_B + ∂ℓ/∂σ_B·(x − μ_B)/(m·σ_B) + ∂ℓ/∂μ_B/m
    ix.forEach((i, k) => (dx[i] = (gy[k] * g * r) / sB + (dsB * (x[i] - mu)) / (m * sB) + dmu / m));
  });
  run.count += 1;
  const f = o.momentum === null ? 1 / run.count : o.momentum;
  idx.forEach((ix, c) => {
    const m = ix.length;
    run.mean[c] = (1 - f) * run.mean[c] + f * means[c];
    run.var[c] = (1 - f) * run.var[c] + (f * vars[c] * m) / (m - 1);
  });
  return { y, dx, dgamma, dbeta, r: rs, d: ds };
}

/**
 * Central differences of L = Σ dy·y(x, γ, β) with r and d held at the given values (stop_gradient):
 * dx, dγ, dβ to compare with renormRef's analytic backward.
 */
export function renormFiniteDiff(
  x: Float64Array,
  dy: ArrayLike<number>,
  layout: Layout,
  shape: readonly number[],
  o: { eps: number; rMax: number; dMax: number; momentum: number | null },
  gamma: Float64Array,
  beta: Float64Array,
  fixed: { r: Float64Array; d: Float64Array },
  h = 1e-6,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const loss = () => {
    const run = { mean: new Float64Array(gamma.length), var: new Float64Array(gamma.length).fill(1), count: 0 };
    const { y } = renormRef(x, dy, layout, shape, o, gamma, beta, run, fixed);
    return y.reduce((p, v, i) => p + v * dy[i], 0);
  };
  const diff = (a: Float64Array) =>
    Float64Array.from(a, (_, i) => {
      const keep = a[i];
      a[i] = keep + h;
      const up = loss();
      a[i] = keep - h;
      const down = loss();
      a[i] = keep;
      return (up - down) / (2 * h);
    });
  return { dx: diff(x), dgamma: diff(gamma), dbeta: diff(beta) };
}
