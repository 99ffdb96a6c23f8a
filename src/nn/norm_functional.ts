// layerNorm, groupNorm and instanceNorm: the functional forms (PyTorch's F.layer_norm,
// F.group_norm, F.instance_norm), differentiable on the tape like F.batchNorm.
// see: https://pytorch.org/docs/stable/nn.functional.html#normalization-functions
import { Tensor } from '../tensor';
import { track } from '../autograd/engine';
import { forwardCore, Stats } from './bn_core';
import { recordBatchNorm } from './functional';
import { normForward, recordNorm, updateRunningInstances, type NormPlan } from './norm_core';
import { checkNormalizedShape, given, groupNormPlan, instanceNormPlan, layerNormPlan } from './norm_checks';
import { checkBool, checkOptions, checkPositive, checkTensor, checkUnit, describe } from '../validate';

/** Options of layerNorm and groupNorm: the affine (omitted = none) and eps. */
export interface NormFunctionalOptions {
  /** γ (LayerNorm: shaped as normalizedShape; GroupNorm: f32[C]); omitted = 1. */
  weight?: Tensor | null;
  /** β, shaped as weight; omitted = 0. */
  bias?: Tensor | null;
  /** Default 1e-5. */
  eps?: number;
}

/** Options of instanceNorm (PyTorch's F.instance_norm keyword arguments). */
export interface InstanceNormFunctionalOptions extends NormFunctionalOptions {
  /** true (default): each instance's own statistics (and update the running ones when given); false: the running ones. */
  useInputStats?: boolean;
  /** Running update weight (PyTorch convention). Default 0.1. */
  momentum?: number;
}

/** γ or β of `shape`, checked; null when omitted. */
function affineArg(where: string, name: string, t: Tensor | null | undefined, shape: readonly number[]): Tensor | null {
  if (t === null || t === undefined) return null;
  checkTensor(where, name, t);
  if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i]))
    throw new RangeError(`${where}: ${name}: expected shape [${shape.join(', ')}], got [${t.shape.join(', ')}]`);
  return t;
}

/** The forward on the input's own statistics, recorded as `name`; `after` reads the statistics before the op may free them. */
function run(
  name: string,
  x: Tensor,
  plan: NormPlan,
  w: Tensor | null,
  b: Tensor | null,
  eps: number,
  after?: (stats: Stats) => void,
): Tensor {
  const stats = new Stats(plan.view.c);
  let y: Tensor | null = null;
  try {
    y = track(Tensor.empty(x.shape));
    normForward(plan, x, y, w, b, eps, stats);
    after?.(stats);
  } catch (e) {
    y?.dispose();
    stats.block.dispose();
    throw e;
  }
  return recordNorm(name, y, x, plan, stats, w, b);
}

/**
 * Layer Normalization over the last dims of `input` (they must equal normalizedShape), then
 * y·γ + β elementwise when weight/bias are given. Records its backward when an input requires a gradient.
 */
export function layerNorm(input: Tensor, normalizedShape: number | readonly number[], options: NormFunctionalOptions = {}): Tensor {
  const where = 'layerNorm';
  const x = checkTensor(where, 'input', input);
  const ns = checkNormalizedShape(where, normalizedShape);
  checkOptions(where, options, ['weight', 'bias', 'eps']);
  const eps = checkPositive(where, 'eps', given(options.eps, 1e-5));
  const plan = layerNormPlan(where, x.shape, ns);
  const w = affineArg(where, 'weight', options.weight, ns),
    b = affineArg(where, 'bias', options.bias, ns);
  return run('layerNorm', x, plan, w, b, eps);
}

/** Group Normalization of `input` [N, C, *] in numGroups groups of channels, then the per-channel affine. */
export function groupNorm(input: Tensor, numGroups: number, options: NormFunctionalOptions = {}): Tensor {
  const where = 'groupNorm';
  const x = checkTensor(where, 'input', input);
  checkOptions(where, options, ['weight', 'bias', 'eps']);
  const eps = checkPositive(where, 'eps', given(options.eps, 1e-5));
  if (x.shape.length < 2)
    throw new RangeError(`${where}: input: expected a tensor [N, C, *] (rank 2 or more), got [${x.shape.join(', ')}]`);
  const c = x.shape[1];
  if (!Number.isInteger(numGroups) || numGroups < 1 || c % numGroups !== 0)
    throw new RangeError(`${where}: numGroups: expected a positive integer dividing the ${c} channels, got ${describe(numGroups)}`);
  const plan = groupNormPlan(where, x.shape, numGroups, c);
  const w = affineArg(where, 'weight', options.weight, [c]),
    b = affineArg(where, 'bias', options.bias, [c]);
  return run('groupNorm', x, plan, w, b, eps);
}

/**
 * Instance Normalization of `input` [N, C, *spatial] (rank 3 to 5): each channel of each sample over
 * its positions. With `useInputStats` (default) and running statistics given, updates them in place
 * with the batch's mean of the instance statistics; `useInputStats: false` normalizes with them.
 */
export function instanceNorm(
  input: Tensor,
  runningMean: Tensor | null = null,
  runningVar: Tensor | null = null,
  options: InstanceNormFunctionalOptions = {},
): Tensor {
  const where = 'instanceNorm';
  const x = checkTensor(where, 'input', input);
  checkOptions(where, options, ['weight', 'bias', 'useInputStats', 'momentum', 'eps']);
  const useInput = checkBool(where, 'useInputStats', given(options.useInputStats, true));
  const momentum = checkUnit(where, 'momentum', given(options.momentum, 0.1));
  const eps = checkPositive(where, 'eps', given(options.eps, 1e-5));
  const rank = x.shape.length;
  if (rank < 3 || rank > 5)
    throw new RangeError(`${where}: input: expected a rank-3 to rank-5 tensor [N, C, *spatial], got [${x.shape.join(', ')}]`);
  const c = x.shape[1];
  const plan = instanceNormPlan(where, x.shape, rank, c, useInput);
  const rm = affineArg(where, 'runningMean', runningMean, [c]),
    rv = affineArg(where, 'runningVar', runningVar, [c]);
  if ((rm === null) !== (rv === null)) throw new TypeError(`${where}: runningMean and runningVar: give both or neither`);
  if (!useInput && rm === null) throw new TypeError(`${where}: runningMean/runningVar: required when useInputStats is false`);
  const w = affineArg(where, 'weight', options.weight, [c]),
    b = affineArg(where, 'bias', options.bias, [c]);
  if (useInput) {
    const { n, c: ch, l } = plan.affine;
    return run('instanceNorm', x, plan, w, b, eps, (st) => rm && rv && updateRunningInstances(n, ch, l, st, momentum, rm, rv));
  }
  const stats = new Stats(c);
  let y: Tensor | null = null;
  try {
    y = track(Tensor.empty(x.shape));
    forwardCore(plan.affine, x, w, b, false, eps, stats, rm, rv, false, y);
  } catch (e) {
    y?.dispose();
    stats.block.dispose();
    throw e;
  }
  return recordBatchNorm(y, x, plan.affine, stats, w, b, false, false);
}
