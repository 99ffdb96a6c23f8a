// batchRenorm(): Batch Renormalization's functional form, for users who keep their own parameters
// and running statistics; batchNorm's signature with the clips of this step (a warm-up is the
// caller's: it owns the step count). see: Ioffe 2017, https://arxiv.org/abs/1702.03275 (Algorithm 1)
import { Tensor } from '../tensor';
import { track } from '../autograd/engine';
import { Stats, updateRunning } from './bn_core';
import { batchNorm, checkBatchNormArgs, type BatchNormFunctionalOptions } from './functional';
import { Correction, recordRenorm, renormForward } from './renorm_core';
import { describe } from '../validate';

/** Options of batchRenorm and F.batchRenorm: batchNorm's and the clips of r and d for this step. */
export interface BatchRenormFunctionalOptions extends BatchNormFunctionalOptions {
  /** Clip of r = σ_B/σ to [1/rMax, rMax]; ≥ 1 (Infinity: no clip). Default 3. */
  rMax?: number;
  /** Clip of d = (μ_B − μ)/σ to [−dMax, dMax]; ≥ 0 (Infinity: no clip). Default 5. */
  dMax?: number;
}

const KEYS = ['weight', 'bias', 'training', 'momentum', 'eps', 'layout', 'rMax', 'dMax'] as const;

/**
 * `training: true`: y = γ·(x̂·r + d) + β with the batch's x̂ and r = clip(σ_B/σ, 1/rMax, rMax),
 * d = clip((μ_B − μ)/σ, −dMax, dMax) from `runningMean`/`runningVar` (required; σ = √(running_var + eps)),
 * which are then updated in place as batchNorm updates them; r and d get no gradient.
 * `training: false`: batchNorm's eval. Records its backward when an input requires a gradient.
 */
export function batchRenorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchRenormFunctionalOptions = {},
): Tensor {
  const where = 'batchRenorm';
  const { rMax = 3, dMax = 5, ...rest } = options ?? {};
  const a = checkBatchNormArgs(where, input, runningMean, runningVar, options, KEYS);
  if (typeof rMax !== 'number' || !(rMax >= 1)) throw new RangeError(`${where}: rMax: expected a number ≥ 1, got ${describe(rMax)}`);
  if (typeof dMax !== 'number' || !(dMax >= 0)) throw new RangeError(`${where}: dMax: expected a number ≥ 0, got ${describe(dMax)}`);
  if (!a.training) return batchNorm(input, runningMean, runningVar, rest);
  if (a.rm === null) throw new TypeError(`${where}: runningMean/runningVar: required (r and d are taken against them)`);
  const { x, g, w, b, rm, rv } = a;
  let stats: Stats | null = null,
    corr: Correction | null = null,
    y: Tensor | null = null;
  try {
    stats = new Stats(g.c);
    corr = new Correction(g.c);
    y = track(Tensor.empty(x.shape));
    renormForward(g, x, y, w, b, a.eps, stats, rm, rv!, rMax, dMax, corr, false);
  } catch (e) {
    y?.dispose(); // a kernel's workspace could not be allocated
    stats?.block.dispose();
    corr?.dispose();
    throw e;
  }
  updateRunning(g, stats, a.momentum, rm, rv!);
  return recordRenorm(y, x, g, stats, corr, w, b, false);
}
