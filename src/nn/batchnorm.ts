// BatchNorm1d/2d/3d with PyTorch's names and semantics; backward sits beside forward.
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167;
//      https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html
import { track } from '../autograd/engine';
import { checkShape, gradOf, Parameter, Tensor } from '../tensor';
import { bnBackward, type Geometry, type Layout } from '../kernels/batchnorm';
import { checkBatchSize, checkInputShape, EvalCache, forwardCore, Stats, updateRunning } from './bn_core';
import { checkBool, checkOneOf, checkOptions, checkPositive, checkTensor, checkUnit, describe, kindOf } from '../validate';
import { Allocations, checkGradOutput, checkLayerSize, Module, type StateEntry, type StateDictInput, leafLayer } from './module';
import { recordBatchNorm } from './functional';

/** Options of a BatchNorm layer; `L` is the layouts its class takes (a layout it cannot take is a type error). */
export interface BatchNormOptions<L extends Layout = Layout> {
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Weight of the batch statistic in the running update; null = cumulative average. Default 0.1. */
  momentum?: number | null;
  /** 'pytorch' (default): running = (1−m)·running + m·batch. 'keras': m is the decay of the old value. */
  momentumConvention?: 'pytorch' | 'keras';
  /** Learnable per-channel weight (γ, init 1) and bias (β, init 0). Default true. */
  affine?: boolean;
  /** Keep running mean/var for eval; false = batch statistics in eval too. Default true. */
  trackRunningStats?: boolean;
  /** Memory layout of the input. */
  layout?: L;
  /** 'relu': BN then ReLU as one fused kernel, forward and backward (one pass fewer over memory). */
  activation?: 'relu' | null;
}

/** A layer's state under PyTorch's state_dict names, as stateDict() returns it. */
export type BatchNormState = {
  weight?: Float32Array;
  bias?: Float32Array;
  running_mean?: Float32Array;
  running_var?: Float32Array;
  num_batches_tracked?: number;
};

type Values = Float32Array | Float64Array | readonly number[];
/** What loadStateDict() takes: the same names, values as Float32Array, Float64Array or number[]. */
export type BatchNormStateInput = {
  weight?: Values;
  bias?: Values;
  running_mean?: Values;
  running_var?: Values;
  num_batches_tracked?: number | bigint;
};

const OPTION_KEYS = ['eps', 'momentum', 'momentumConvention', 'affine', 'trackRunningStats', 'layout', 'activation'] as const;

/** What BatchNorm1d, 2d and 3d share (PyTorch's _BatchNorm): per-channel normalization over the batch and every position. */
export abstract class BatchNorm extends Module {
  /** Channels C, each with its own statistics, γ and β (PyTorch's num_features). */
  readonly numFeatures: number;
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** PyTorch-convention momentum (a Keras momentum is converted once, here). */
  readonly momentum: number | null;
  /** Whether the layer has a learnable γ (weight) and β (bias). */
  readonly affine: boolean;
  /** Whether running mean and variance are kept for eval (PyTorch's track_running_stats). */
  readonly trackRunningStats: boolean;
  /** Memory layout of the input (channels first, PyTorch's, or last). */
  readonly layout: Layout;
  /** 'relu' when ReLU is fused after the normalization. */
  readonly activation: 'relu' | null;
  /** γ, f32[C], initialised to 1; null when affine is false. */
  readonly weight: Parameter | null;
  /** β, f32[C], initialised to 0; null when affine is false. */
  readonly bias: Parameter | null;
  /** Running per-channel mean, f32[C] (PyTorch's running_mean); null without trackRunningStats. */
  readonly runningMean: Tensor | null;
  /** Running per-channel unbiased variance, f32[C] (PyTorch's running_var); null without trackRunningStats. */
  readonly runningVar: Tensor | null;
  /** Training batches seen (PyTorch's num_batches_tracked); sets the factor when momentum is null. */
  numBatchesTracked = 0;
  #stats: Stats;
  /** Whether #stats hold the eval constants of the running statistics (see EvalCache). */
  #evalCache: EvalCache;
  #input: Tensor | null = null;
  #geometry: Geometry | null = null;
  #usedBatch = true;

  /**
   * A recorded op is done with its statistics: freed, not kept for the next forward (a kept set would
   * be a layer's allocation that outlives a failing call; see docs/benchmarks.md, the cost of a layer call).
   */
  #giveBack(s: Stats): void {
    s.block.dispose();
  }

  /** The layout used for an input of this rank (BatchNorm1d takes [N, C] and [N, C, L]). */
  protected layoutFor(_rank: number): Layout {
    return this.layout;
  }

  constructor(numFeatures: number, options: BatchNormOptions, layouts: readonly Layout[]) {
    super();
    const where = kindOf(new.target);
    if (!Number.isInteger(numFeatures) || numFeatures < 1)
      throw new RangeError(`${where}: numFeatures: expected a positive integer, got ${describe(numFeatures)}`);
    checkOptions(where, options, OPTION_KEYS);
    // an option given as undefined takes its default, like an omitted one
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    const o = {
      eps: 1e-5,
      momentum: 0.1 as number | null,
      momentumConvention: 'pytorch',
      affine: true,
      trackRunningStats: true,
      layout: layouts[0],
      activation: null as 'relu' | null,
      ...given,
    };
    this.numFeatures = numFeatures;
    this.eps = checkPositive(where, 'eps', o.eps);
    const convention = checkOneOf(where, 'momentumConvention', o.momentumConvention, ['pytorch', 'keras'] as const);
    if (o.momentum === null) {
      if (convention === 'keras')
        throw new TypeError(`${where}: momentum: null (cumulative average) has no Keras form; use momentumConvention 'pytorch'`);
      this.momentum = null;
    } else {
      const m = checkUnit(where, 'momentum', o.momentum);
      this.momentum = convention === 'keras' ? 1 - m : m;
    }
    this.affine = checkBool(where, 'affine', o.affine);
    this.trackRunningStats = checkBool(where, 'trackRunningStats', o.trackRunningStats);
    this.layout = checkOneOf(where, 'layout', o.layout, layouts);
    if (o.activation !== null && o.activation !== 'relu')
      throw new TypeError(`${where}: activation: expected 'relu' or null, got ${describe(o.activation)}`);
    this.activation = o.activation;
    // γ, β and their gradients, running mean and var, six floats of saved statistics per channel
    checkLayerSize(where, 'numFeatures', numFeatures, numFeatures * ((this.affine ? 4 : 0) + (this.trackRunningStats ? 2 : 0) + 6));
    const made = new Allocations();
    try {
      this.weight = this.affine ? made.add(new Parameter([numFeatures], 1, `${where}: weight`)) : null;
      this.bias = this.affine ? made.add(new Parameter([numFeatures], 0, `${where}: bias`)) : null;
      this.runningMean = this.trackRunningStats ? made.add(Tensor.full([numFeatures], 0)) : null;
      this.runningVar = this.trackRunningStats ? made.add(Tensor.full([numFeatures], 1)) : null;
      this.#stats = new Stats(numFeatures);
      this.#evalCache = new EvalCache();
    } catch (e) {
      throw made.free(e);
    }
  }

  /** Normalizes `x`; in training mode with batch statistics (and updates the running ones). */
  forward(x: Tensor): Tensor {
    const where = `${this.kind}.forward`;
    const t = checkTensor(where, 'input', x);
    const g = checkInputShape(where, 'input', t.shape, this.layoutFor(t.shape.length), this.numFeatures);
    const useBatch = this.training || !this.trackRunningStats;
    if (useBatch) checkBatchSize(where, g, t.shape); // as PyTorch: batch statistics need > 1 value
    this.checkUsable(where);
    // a recorded forward's statistics belong to its op on the tape (the next forward overwrites the layer's)
    const recording = this.records(t);
    const stats = recording ? new Stats(this.numFeatures) : this.#stats;
    let y: Tensor;
    try {
      y = Tensor._empty(t.shape);
    } catch (e) {
      if (recording) this.#giveBack(stats);
      throw e;
    }
    // the layer's own Stats keep the eval constants between eval forwards; batch statistics overwrite them
    if (useBatch && !recording) this.#evalCache.invalidate();
    try {
      forwardCore(
        g,
        t,
        this.weight,
        this.bias,
        useBatch,
        this.eps,
        stats,
        this.runningMean,
        this.runningVar,
        this.activation === 'relu',
        y,
        recording ? null : this.#evalCache,
      );
    } catch (e) {
      y.dispose();
      if (recording) this.#giveBack(stats);
      throw e;
    }
    if (this.training && this.trackRunningStats) {
      this.numBatchesTracked += 1;
      const factor = this.momentum === null ? 1 / this.numBatchesTracked : this.momentum;
      updateRunning(g, stats, factor, this.runningMean!, this.runningVar!);
    }
    if (recording) {
      this.#input = null;
      const release = () => this.#giveBack(stats);
      return this.recorded(recordBatchNorm(y, t, g, stats, this.weight, this.bias, useBatch, this.activation === 'relu', release));
    }
    this.#input = t;
    this.#geometry = g;
    this.#usedBatch = useBatch;
    return track(y);
  }

  /** The input's shape; throws what forward() would throw for it. */
  outputShape(shape: readonly number[]): number[] {
    const where = `${this.kind}.forward`;
    const s = checkShape(where, shape);
    const g = checkInputShape(where, 'input', s, this.layoutFor(s.length), this.numFeatures);
    if (this.training || !this.trackRunningStats) checkBatchSize(where, g, s);
    return s;
  }

  checkBackwardReady(): void {
    const where = `${this.kind}.backward`;
    if (this.hasRecorded()) return this.checkRecordedReady(where);
    this.checkUsable(where);
    const x = this.#input;
    if (x === null || this.#geometry === null) throw new Error(`${where}: call forward() first`);
    if (x.disposed) throw new Error(`${where}: the input of the last forward() was disposed; backward needs it`);
  }

  /**
   * Gradient of the last forward: returns dx and adds dγ, dβ to weight.grad, bias.grad.
   * Batch statistics are differentiated through (training); running statistics are constants (eval).
   */
  backward(dy: Tensor): Tensor {
    const where = `${this.kind}.backward`;
    const r = this.backwardRecorded(where, dy, true, 'input');
    if (r !== undefined) return r!;
    this.checkBackwardReady();
    const x = this.#input!,
      g = this.#geometry!;
    const d = checkGradOutput(where, dy, x.shape, 'input');
    // the gradients are allocated at their first need (none for a frozen parameter), before dx
    const dw = gradOf(this.weight),
      db = gradOf(this.bias);
    const dx = Tensor._empty(x.shape);
    if (g.size === 0) return dx;
    bnBackward(
      g,
      x.ptr,
      d.ptr,
      dx.ptr,
      this.weight ? this.weight.ptr : 0,
      this.#stats.mean,
      this.#stats.invstd,
      dw ? dw.ptr : 0,
      db ? db.ptr : 0,
      this.#usedBatch,
      this.activation === 'relu',
      this.bias ? this.bias.ptr : 0,
    );
    return dx;
  }

  protected ownParameters(): [string, Parameter][] {
    return this.weight && this.bias
      ? [
          ['weight', this.weight],
          ['bias', this.bias],
        ]
      : [];
  }

  protected ownState(): StateEntry[] {
    const entries = super.ownState();
    if (this.runningMean && this.runningVar) {
      entries.push(
        { name: 'running_mean', tensor: this.runningMean },
        { name: 'running_var', tensor: this.runningVar },
        {
          name: 'num_batches_tracked',
          count: () => this.numBatchesTracked,
          setCount: (v) => {
            this.numBatchesTracked = v;
          },
        },
      );
    }
    return entries;
  }

  zeroGrad(): void {
    this.checkUsable(`${this.kind}.zeroGrad`);
    super.zeroGrad();
  }

  /** Copies of the state under PyTorch's state_dict names. */
  stateDict(): BatchNormState {
    this.checkUsable(`${this.kind}.stateDict`);
    return super.stateDict() as BatchNormState;
  }

  /** Loads a state dict; every name, length and type is checked before anything is written. */
  loadStateDict(state: BatchNormStateInput, options: { strict?: boolean } = {}): void {
    super.loadStateDict(state as StateDictInput, options);
  }

  checkUsable(where: string): void {
    super.checkUsable(where);
    if (this.#stats.block.disposed) throw new Error(`${where}: the layer was disposed`);
    this.#stats.block.check(where, 'this (the layer)');
  }

  /** Frees the layer's memory (parameters, gradients, running statistics). */
  dispose(): void {
    super.dispose();
    this.#stats.block.dispose();
    this.#input = null;
  }
}

/** BatchNorm over [N, C] or [N, C, L] (layout 'NCL', default) or [N, L, C] (layout 'NLC'). */
export class BatchNorm1d extends BatchNorm {
  static readonly kind: string = 'BatchNorm1d';
  constructor(numFeatures: number, options: BatchNormOptions<'NCL' | 'NLC'> = {}) {
    super(numFeatures, options, ['NCL', 'NLC']);
  }
  protected layoutFor(rank: number): Layout {
    return rank === 2 ? 'NC' : this.layout;
  }
}

/** BatchNorm over [N, C, H, W] (layout 'NCHW', default) or [N, H, W, C] (layout 'NHWC'). */
export class BatchNorm2d extends BatchNorm {
  static readonly kind: string = 'BatchNorm2d';
  constructor(numFeatures: number, options: BatchNormOptions<'NCHW' | 'NHWC'> = {}) {
    super(numFeatures, options, ['NCHW', 'NHWC']);
  }
}

/** BatchNorm over [N, C, D, H, W] (layout 'NCDHW', default) or [N, D, H, W, C] (layout 'NDHWC'). */
export class BatchNorm3d extends BatchNorm {
  static readonly kind: string = 'BatchNorm3d';
  constructor(numFeatures: number, options: BatchNormOptions<'NCDHW' | 'NDHWC'> = {}) {
    super(numFeatures, options, ['NCDHW', 'NDHWC']);
  }
}

for (const cls of [BatchNorm1d, BatchNorm2d, BatchNorm3d]) leafLayer(cls);
