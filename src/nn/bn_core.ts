// What the BatchNorm layers and the functional form share: input checks, the forward with batch
// or running statistics, and the running-statistics update (PyTorch's conventions).
// see: https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html
import { Tensor } from '../tensor';
import { runtime } from '../runtime/index';
import { F64Block } from '../runtime/block';
import { checkTensor } from '../validate';
import {
  bnNormalize,
  bnTrain,
  bnUpdateRunning,
  channelAxis,
  geometry,
  LAYOUT_RANK,
  type Geometry,
  type Layout,
} from '../kernels/batchnorm';

const AXES: Record<Layout, string> = {
  NC: 'N, C',
  NCL: 'N, C, L',
  NLC: 'N, L, C',
  NCHW: 'N, C, H, W',
  NHWC: 'N, H, W, C',
  NCDHW: 'N, C, D, H, W',
  NDHWC: 'N, D, H, W, C',
};

/** Checks `x` against a layout and channel count; returns its geometry. */
export function checkInput(where: string, name: string, x: unknown, layout: Layout, channels: number): Geometry {
  return checkInputShape(where, name, checkTensor(where, name, x).shape, layout, channels);
}

/** As checkInput, for the shape alone (what a forward would get). */
export function checkInputShape(where: string, name: string, shape: readonly number[], layout: Layout, channels: number): Geometry {
  const rank = LAYOUT_RANK[layout];
  const ax = channelAxis(layout);
  if (shape.length !== rank || shape[ax] !== channels) {
    const want = AXES[layout]
      .split(', ')
      .map((a) => (a === 'C' ? String(channels) : a))
      .join(', ');
    throw new RangeError(
      `${where}: ${name}: expected a rank-${rank} ${layout} tensor with ${channels} channels ([${want}]), got [${shape.join(', ')}]`,
    );
  }
  return geometry(layout, shape);
}

/** PyTorch's check: batch statistics need more than one value per channel. */
export function checkBatchSize(where: string, g: Geometry, shape: readonly number[]): void {
  if (g.m === 1)
    throw new RangeError(`${where}: expected more than 1 value per channel when training, got input size [${shape.join(', ')}]`);
}

/** Per-channel saved statistics: mean, biased var and invstd as f64[c] in one block. */
export class Stats {
  readonly block: F64Block;
  constructor(readonly c: number) {
    this.block = new F64Block(Math.max(c, 1) * 3);
  }
  get mean(): number {
    return this.block.ptr;
  }
  get vari(): number {
    return this.block.ptr + 8 * this.c;
  }
  get invstd(): number {
    return this.block.ptr + 16 * this.c;
  }
}

/**
 * y = BN(x), or ReLU(BN(x)) in one pass when `relu`. Batch statistics (into `stats`) when `useBatch`,
 * else `runMean`/`runVar` (f32 tensors).
 * Checks are the caller's; this only computes. Into `y` when given: a caller that frees it when
 * a kernel's workspace cannot be allocated. With `cache`, the eval constants in `stats` are reused
 * while the running statistics are unchanged.
 */
export function forwardCore(
  g: Geometry,
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  useBatch: boolean,
  eps: number,
  stats: Stats,
  runMean: Tensor | null,
  runVar: Tensor | null,
  relu = false,
  y: Tensor = Tensor.empty(x.shape),
  cache: EvalCache | null = null,
): Tensor {
  if (g.size === 0) return y;
  const gamma = weight ? weight.ptr : 0,
    beta = bias ? bias.ptr : 0;
  if (useBatch) {
    bnTrain(g, x.ptr, y.ptr, gamma, beta, eps, stats.mean, stats.vari, stats.invstd, relu);
  } else {
    if (cache === null) evalConstants(g.c, stats, runMean!, runVar!, eps);
    else cache.fill(g.c, stats, runMean!, runVar!, eps);
    bnNormalize(g, x.ptr, y.ptr, gamma, beta, stats.mean, stats.invstd, relu);
  }
  return y;
}

/** The eval constants: the running mean as f64 and 1/√(running var + eps), into stats.mean and stats.invstd. */
function evalConstants(c: number, stats: Stats, runMean: Tensor, runVar: Tensor, eps: number): void {
  const rt = runtime();
  // raw views: reading the statistics is no write (view() would bump their _version)
  const rm = rt.f32(runMean.ptr, c),
    rv = rt.f32(runVar.ptr, c);
  const mean = rt.f64(stats.mean, c),
    inv = rt.f64(stats.invstd, c);
  for (let i = 0; i < c; i++) {
    mean[i] = rm[i];
    inv[i] = 1 / Math.sqrt(rv[i] + eps);
  }
}

/**
 * A layer's eval constants kept in its Stats between eval forwards, recomputed only after the running
 * statistics were written (their tensors' _version moved: a training forward's update, loadStateDict,
 * a user's set() or view()) or the Stats were overwritten (invalidate). Comparing two counters, not
 * the statistics' bits, keeps an eval call's cost independent of the channel count.
 */
export class EvalCache {
  #mean = -1;
  #var = -1;

  /** The Stats no longer hold the constants (a training forward wrote its batch statistics there). */
  invalidate(): void {
    this.#mean = -1;
  }

  /** Makes stats.mean and stats.invstd the eval constants of runMean and runVar. */
  fill(c: number, stats: Stats, runMean: Tensor, runVar: Tensor, eps: number): void {
    if (this.#mean === runMean._version && this.#var === runVar._version) return;
    evalConstants(c, stats, runMean, runVar, eps);
    // after evalConstants: its own reads of the statistics do not count as writes
    this.#mean = runMean._version;
    this.#var = runVar._version;
  }
}

/** running = (1 − f)·running + f·batch, with the unbiased batch variance (PyTorch's update), in one kernel call. */
export function updateRunning(g: Geometry, stats: Stats, factor: number, runMean: Tensor, runVar: Tensor): void {
  if (g.size === 0) return;
  bnUpdateRunning(g.c, stats.mean, stats.vari, runMean.ptr, runVar.ptr, factor, g.m / (g.m - 1));
  runMean._version++;
  runVar._version++;
}
