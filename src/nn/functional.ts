// batchNorm(): the functional form, for users who keep their own parameters and running
// statistics (PyTorch's torch.nn.functional.batch_norm).
// see: https://pytorch.org/docs/stable/generated/torch.nn.functional.batch_norm.html
import { Tensor } from '../tensor';
import { track } from '../autograd/engine';
import { gradSink, record } from '../autograd/functional';
import type { Geometry } from '../kernels/batchnorm';
import { bnBackward, channelAxis, LAYOUT_RANK, type Layout } from '../kernels/batchnorm';
import { checkBatchSize, checkInput, forwardCore, Stats, updateRunning } from './bn_core';
import { checkBool, checkOneOf, checkOptions, checkPositive, checkTensor, checkUnit } from '../validate';

/** Options of batchNorm and F.batchNorm (PyTorch's F.batch_norm keyword arguments). */
export interface BatchNormFunctionalOptions {
  /** γ, f32[C]; omitted = 1. */
  weight?: Tensor | null;
  /** β, f32[C]; omitted = 0. */
  bias?: Tensor | null;
  /** true: batch statistics (and update the running ones when given). Default false. */
  training?: boolean;
  /** Running update weight (PyTorch convention). Default 0.1. */
  momentum?: number;
  /** Default 1e-5. */
  eps?: number;
  /** Input layout; default by rank: NC, NCL, NCHW, NCDHW. */
  layout?: Layout;
}

const DEFAULT_LAYOUT: Record<number, Layout> = { 2: 'NC', 3: 'NCL', 4: 'NCHW', 5: 'NCDHW' };
const KEYS = ['weight', 'bias', 'training', 'momentum', 'eps', 'layout'] as const;

/**
 * y = γ·(x − mean)/√(var + eps) + β per channel.
 * `training: true` uses the batch's mean and biased variance and, when `runningMean`/`runningVar`
 * are given, updates them in place: running = (1 − momentum)·running + momentum·batch (unbiased var).
 * `training: false` uses `runningMean`/`runningVar`, which are then required.
 * Returns a new tensor; when the input, γ or β requires a gradient, records its backward (as F.batchNorm).
 */
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormFunctionalOptions = {},
): Tensor {
  const { x, g, rm, rv, w, b, training, momentum, eps } = checkBatchNormArgs('batchNorm', input, runningMean, runningVar, options, KEYS);
  const stats = new Stats(g.c);
  let y: Tensor | null = null;
  try {
    y = track(Tensor.empty(x.shape));
    forwardCore(g, x, w, b, training, eps, stats, rm, rv, false, y);
    if (training && rm && rv) updateRunning(g, stats, momentum, rm, rv);
  } catch (e) {
    y?.dispose(); // a kernel's workspace could not be allocated
    stats.block.dispose();
    throw e;
  }
  return recordBatchNorm(y!, x, g, stats, w, b, training, false);
}

/** batchNorm's arguments, checked (and those of the functional forms that share its signature). */
export function checkBatchNormArgs(
  where: string,
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options: BatchNormFunctionalOptions,
  keys: readonly string[],
) {
  const x = checkTensor(where, 'input', input);
  checkOptions(where, options, keys);
  // undefined means omitted; null is not a value here (unlike the layers' momentum: null)
  const training = checkBool(where, 'training', options.training === undefined ? false : options.training);
  const momentum = checkUnit(where, 'momentum', options.momentum === undefined ? 0.1 : options.momentum);
  const eps = checkPositive(where, 'eps', options.eps === undefined ? 1e-5 : options.eps);
  const layout =
    options.layout === undefined
      ? DEFAULT_LAYOUT[x.shape.length]
      : checkOneOf(where, 'layout', options.layout, Object.keys(LAYOUT_RANK) as Layout[]);
  if (layout === undefined) throw new RangeError(`${where}: input: expected rank 2 to 5, got [${x.shape.join(', ')}]`);
  if (x.shape.length !== LAYOUT_RANK[layout]) {
    throw new RangeError(`${where}: input: expected a rank-${LAYOUT_RANK[layout]} ${layout} tensor, got [${x.shape.join(', ')}]`);
  }
  const g = checkInput(where, 'input', x, layout, x.shape[channelAxis(layout)]);
  const perChannel = (name: string, t: Tensor | null | undefined): Tensor | null => {
    if (t === null || t === undefined) return null;
    checkTensor(where, name, t);
    if (t.shape.length !== 1 || t.shape[0] !== g.c)
      throw new RangeError(`${where}: ${name}: expected shape [${g.c}], got [${t.shape.join(', ')}]`);
    return t;
  };
  const rm = perChannel('runningMean', runningMean),
    rv = perChannel('runningVar', runningVar);
  if ((rm === null) !== (rv === null)) throw new TypeError(`${where}: runningMean and runningVar: give both or neither`);
  if (!training && rm === null) throw new TypeError(`${where}: runningMean/runningVar: required when training is false`);
  const w = perChannel('weight', options.weight),
    b = perChannel('bias', options.bias);
  if (training) checkBatchSize(where, g, x.shape);
  return { x, g, rm, rv, w, b, training, momentum, eps };
}

/**
 * Records the backward of a batch normalization on y (the tape then owns `stats`): through the batch
 * statistics when `useBatch`, with the running ones as constants otherwise; `relu` when ReLU was fused.
 * `release` frees `stats` when the op is done (default: dispose; a layer takes them back for its next forward).
 */
export function recordBatchNorm(
  y: Tensor,
  x: Tensor,
  g: Geometry,
  stats: Stats,
  w: Tensor | null,
  b: Tensor | null,
  useBatch: boolean,
  relu: boolean,
  release: () => void = () => stats.block.dispose(),
): Tensor {
  const inputs = w ? (b ? [x, w, b] : [x, w]) : b ? [x, b] : [x];
  return record(
    y,
    'batchNorm',
    inputs,
    (gy) => {
      const gx = Tensor.empty(x.shape);
      // γ's and β's gradients go straight into their .grad when they are leaves (the kernel adds)
      const gw = gradSink(w),
        gb = gradSink(b);
      if (g.size > 0)
        bnBackward(
          g,
          x.ptr,
          gy.ptr,
          gx.ptr,
          w ? w.ptr : 0,
          stats.mean,
          stats.invstd,
          gw ? gw.into.ptr : 0,
          gb ? gb.into.ptr : 0,
          useBatch,
          relu,
          b ? b.ptr : 0,
        );
      return [gx, ...(gw ? [gw.give] : []), ...(gb ? [gb.give] : [])];
    },
    release,
  );
}
