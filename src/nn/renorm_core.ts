// Batch Renormalization's training step on BN's statistics, normalize and backward kernels. With
// the batch statistics μ_B, σ_B and the running μ, σ (before their update), r = clip(σ_B/σ,
// 1/rMax, rMax) and d = clip((μ_B − μ)/σ, −dMax, dMax) are constants, and y = γ·(x̂·r + d) + β is
// BN's normalize with γ' = γ·r and β' = β + γ·d; its backward is BN's training backward with γ'
// (∂ℓ/∂x̂ carries r), with dγ = r·Σdy·x̂ + d·Σdy.
// see: Ioffe 2017, Batch Renormalization, https://arxiv.org/abs/1702.03275 (Algorithm 1 and §3)
import { Tensor } from '../tensor';
import { runtime } from '../runtime/index';
import { F64Block } from '../runtime/block';
import { gradSink, record } from '../autograd/functional';
import { bnBackward, bnNormalize, bnStats, type Geometry } from '../kernels/batchnorm';
import type { Stats } from './bn_core';

/**
 * One training step's correction: r and d (f64[c] each) and BN's affine that applies them, γ' and
 * β' (f32[c] each). `identity` when every r is 1 and every d is 0 (rMax = 1, dMax = 0: the warm-up's
 * start), where the step is BN's: γ and β themselves, no second pass, BN's gradient bits.
 */
export class Correction {
  readonly rd: F64Block;
  readonly affine: Tensor;
  identity = false;
  constructor(readonly c: number) {
    this.rd = new F64Block(2 * Math.max(c, 1));
    try {
      this.affine = Tensor.empty([2 * Math.max(c, 1)]);
    } catch (e) {
      this.rd.dispose();
      throw e;
    }
  }
  get r(): number {
    return this.rd.ptr;
  }
  get d(): number {
    return this.rd.ptr + 8 * this.c;
  }
  get gamma(): number {
    return this.affine.ptr;
  }
  get beta(): number {
    return this.affine.ptr + 4 * this.c;
  }
  dispose(): void {
    this.rd.dispose();
    this.affine.dispose();
  }
}

const clip = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi); // NaN stays NaN

/**
 * Training forward: BN's statistics (into `stats`), then r and d from them and the running
 * statistics (into `corr`), then y by BN's normalize with γ', β' (γ, β when the correction is the identity).
 */
export function renormForward(
  g: Geometry,
  x: Tensor,
  y: Tensor,
  w: Tensor | null,
  b: Tensor | null,
  eps: number,
  stats: Stats,
  runMean: Tensor,
  runVar: Tensor,
  rMax: number,
  dMax: number,
  corr: Correction,
  relu: boolean,
): void {
  const wp = w ? w.ptr : 0,
    bp = b ? b.ptr : 0;
  if (g.size === 0) {
    corr.identity = true;
    return;
  }
  bnStats(g, x.ptr, eps, stats.mean, stats.vari, stats.invstd);
  const rt = runtime(),
    c = g.c;
  const mean = rt.f64(stats.mean, c),
    vari = rt.f64(stats.vari, c),
    r = rt.f64(corr.r, c),
    d = rt.f64(corr.d, c);
  const rm = runMean.view(),
    rv = runVar.view();
  const gw = w ? w.view() : null,
    gb = b ? b.view() : null;
  const ga = rt.f32(corr.gamma, c),
    ba = rt.f32(corr.beta, c);
  let identity = true;
  for (let ch = 0; ch < c; ch++) {
    // σ as eval uses it: √(running_var + ε), beside σ_B = √(var_B + ε)
    const sigma = Math.sqrt(rv[ch] + eps);
    r[ch] = clip(Math.sqrt(vari[ch] + eps) / sigma, 1 / rMax, rMax);
    d[ch] = clip((mean[ch] - rm[ch]) / sigma, -dMax, dMax);
    identity &&= r[ch] === 1 && d[ch] === 0;
    const gam = gw ? gw[ch] : 1;
    ga[ch] = gam * r[ch];
    ba[ch] = (gb ? gb[ch] : 0) + gam * d[ch];
  }
  corr.identity = identity;
  // one pass over x for y either way; the identity's is BN's training forward bit for bit
  if (identity) bnNormalize(g, x.ptr, y.ptr, wp, bp, stats.mean, stats.invstd, relu);
  else bnNormalize(g, x.ptr, y.ptr, corr.gamma, corr.beta, stats.mean, stats.invstd, relu);
}

/**
 * Backward of renormForward: dx (into dx), dγ = Σ dy·(x̂·r + d) and dβ = Σ dy added into dw and db
 * (f32, 0 = not wanted). r and d are constants (no gradient flows into them, as the paper has it).
 */
export function renormBackward(
  g: Geometry,
  x: Tensor,
  dy: Tensor,
  dx: Tensor,
  w: Tensor | null,
  b: Tensor | null,
  stats: Stats,
  corr: Correction,
  dw: number,
  db: number,
  relu: boolean,
): void {
  if (g.size === 0) return;
  if (corr.identity) {
    bnBackward(g, x.ptr, dy.ptr, dx.ptr, w ? w.ptr : 0, stats.mean, stats.invstd, dw, db, true, relu, b ? b.ptr : 0);
    return;
  }
  const c = g.c;
  if (dw === 0 && db === 0) {
    bnBackward(g, x.ptr, dy.ptr, dx.ptr, corr.gamma, stats.mean, stats.invstd, 0, 0, true, relu, corr.beta);
    return;
  }
  // the kernel's Σdy·x̂ and Σdy go to temporaries: dγ needs both, and nothing is added if it throws
  const tw = Tensor.full([c], 0);
  let tb: Tensor | null = null;
  try {
    tb = Tensor.full([c], 0);
    bnBackward(g, x.ptr, dy.ptr, dx.ptr, corr.gamma, stats.mean, stats.invstd, tw.ptr, tb.ptr, true, relu, corr.beta);
    const rt = runtime();
    const r = rt.f64(corr.r, c),
      d = rt.f64(corr.d, c),
      sx = tw.view(),
      s = tb.view();
    if (dw) {
      const gw = rt.f32(dw, c);
      for (let ch = 0; ch < c; ch++) gw[ch] += r[ch] * sx[ch] + d[ch] * s[ch];
    }
    if (db) {
      const gb = rt.f32(db, c);
      for (let ch = 0; ch < c; ch++) gb[ch] += s[ch];
    }
  } finally {
    tw.dispose();
    tb?.dispose();
  }
}

/** Records renormForward's backward on y; the tape then owns `stats` and `corr`. */
export function recordRenorm(
  y: Tensor,
  x: Tensor,
  g: Geometry,
  stats: Stats,
  corr: Correction,
  w: Tensor | null,
  b: Tensor | null,
  relu: boolean,
): Tensor {
  const inputs = [x, ...(w ? [w] : []), ...(b ? [b] : [])];
  return record(
    y,
    'batchRenorm',
    inputs,
    (gy) => {
      const gx = Tensor.empty(x.shape);
      const gw = gradSink(w),
        gb = gradSink(b);
      renormBackward(g, x, gy, gx, w, b, stats, corr, gw ? gw.into.ptr : 0, gb ? gb.into.ptr : 0, relu);
      return [gx, ...(gw ? [gw.give] : []), ...(gb ? [gb.give] : [])];
    },
    () => {
      stats.block.dispose();
      corr.dispose();
    },
  );
}

/** A warm-up ramp at step t: `from` up to step `hold`, then linear to `to` at step `at`, then `to`. */
export function ramp(t: number, hold: number, at: number, from: number, to: number): number {
  if (t <= hold) return from;
  if (t >= at) return to;
  return from + ((to - from) * (t - hold)) / (at - hold);
}
