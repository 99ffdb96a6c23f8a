// BatchNorm1d/2d/3d with PyTorch's names and semantics; backward sits beside forward.
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167;
//      https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html
import { Parameter, Tensor } from '../tensor';
import { bnBackward, type Geometry, type Layout } from '../kernels/batchnorm';
import { checkBatchSize, checkInput, checkTensor, forwardCore, Stats, updateRunning } from './bn_core';
import { checkBool, checkKeys, checkOneOf, checkPositive, checkUnit, describe } from '../validate';

export interface BatchNormOptions {
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
  layout?: Layout;
}

/** A layer's state under PyTorch's state_dict names, as stateDict() returns it. */
export interface BatchNormState {
  weight?: Float32Array;
  bias?: Float32Array;
  running_mean?: Float32Array;
  running_var?: Float32Array;
  num_batches_tracked?: number;
}

type Values = Float32Array | Float64Array | readonly number[];
/** What loadStateDict() takes: the same names, values as Float32Array, Float64Array or number[]. */
export interface BatchNormStateInput {
  weight?: Values;
  bias?: Values;
  running_mean?: Values;
  running_var?: Values;
  num_batches_tracked?: number | bigint;
}

const OPTION_KEYS = ['eps', 'momentum', 'momentumConvention', 'affine', 'trackRunningStats', 'layout'] as const;

abstract class BatchNorm {
  readonly numFeatures: number;
  readonly eps: number;
  /** PyTorch-convention momentum (a Keras momentum is converted once, here). */
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  readonly layout: Layout;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  numBatchesTracked = 0;
  training = true;
  #stats: Stats;
  #input: Tensor | null = null;
  #geometry: Geometry | null = null;
  #usedBatch = true;

  /** The layout used for an input of this rank (BatchNorm1d takes [N, C] and [N, C, L]). */
  protected layoutFor(_rank: number): Layout {
    return this.layout;
  }

  constructor(numFeatures: number, options: BatchNormOptions, layouts: readonly Layout[]) {
    const where = `${new.target.name}`;
    if (!Number.isInteger(numFeatures) || numFeatures < 1) throw new RangeError(`${where}: numFeatures: expected a positive integer, got ${describe(numFeatures)}`);
    if (options === null || typeof options !== 'object') throw new TypeError(`${where}: options: expected an object, got ${describe(options)}`);
    checkKeys(where, options, OPTION_KEYS);
    // an option given as undefined takes its default, like an omitted one
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    const o = { eps: 1e-5, momentum: 0.1 as number | null, momentumConvention: 'pytorch', affine: true, trackRunningStats: true, layout: layouts[0], ...given };
    this.numFeatures = numFeatures;
    this.eps = checkPositive(where, 'eps', o.eps);
    const convention = checkOneOf(where, 'momentumConvention', o.momentumConvention, ['pytorch', 'keras'] as const);
    if (o.momentum === null) {
      if (convention === 'keras') throw new TypeError(`${where}: momentum: null (cumulative average) has no Keras form; use momentumConvention 'pytorch'`);
      this.momentum = null;
    } else {
      const m = checkUnit(where, 'momentum', o.momentum);
      this.momentum = convention === 'keras' ? 1 - m : m;
    }
    this.affine = checkBool(where, 'affine', o.affine);
    this.trackRunningStats = checkBool(where, 'trackRunningStats', o.trackRunningStats);
    this.layout = checkOneOf(where, 'layout', o.layout, layouts);
    this.weight = this.affine ? new Parameter([numFeatures], 1) : null;
    this.bias = this.affine ? new Parameter([numFeatures], 0) : null;
    this.runningMean = this.trackRunningStats ? Tensor.full([numFeatures], 0) : null;
    this.runningVar = this.trackRunningStats ? Tensor.full([numFeatures], 1) : null;
    this.#stats = new Stats(numFeatures);
  }

  /** Normalizes `x`; in training mode with batch statistics (and updates the running ones). */
  forward(x: Tensor): Tensor {
    const where = `${this.constructor.name}.forward`;
    const t = checkTensor(where, 'input', x);
    const g = checkInput(where, 'input', t, this.layoutFor(t.shape.length), this.numFeatures);
    const useBatch = this.training || !this.trackRunningStats;
    if (useBatch) checkBatchSize(where, g, t.shape); // as PyTorch: batch statistics need > 1 value
    this.#checkOwn(where);
    const y = forwardCore(g, t, this.weight, this.bias, useBatch, this.eps, this.#stats, this.runningMean, this.runningVar);
    if (this.training && this.trackRunningStats) {
      this.numBatchesTracked += 1;
      const factor = this.momentum === null ? 1 / this.numBatchesTracked : this.momentum;
      updateRunning(g, this.#stats, factor, this.runningMean!, this.runningVar!);
    }
    this.#input = t;
    this.#geometry = g;
    this.#usedBatch = useBatch;
    return y;
  }

  /**
   * Gradient of the last forward: returns dx and adds dγ, dβ to weight.grad, bias.grad.
   * Batch statistics are differentiated through (training); running statistics are constants (eval).
   */
  backward(dy: Tensor): Tensor {
    const where = `${this.constructor.name}.backward`;
    this.#checkOwn(where);
    const x = this.#input, g = this.#geometry;
    if (x === null || g === null) throw new Error(`${where}: call forward() first`);
    if (x.disposed) throw new Error(`${where}: the input of the last forward() was disposed; backward needs it`);
    const d = checkTensor(where, 'gradOutput', dy);
    if (d.shape.length !== x.shape.length || d.shape.some((v, i) => v !== x.shape[i])) {
      throw new RangeError(`${where}: gradOutput: expected shape [${x.shape.join(', ')}] (the last input's), got [${d.shape.join(', ')}]`);
    }
    this.#checkOwn(where);
    const dx = Tensor.empty(x.shape);
    if (g.size === 0) return dx;
    bnBackward(g, x.ptr, d.ptr, dx.ptr, this.weight ? this.weight.ptr : 0, this.#stats.mean, this.#stats.invstd,
      this.weight ? this.weight.grad.ptr : 0, this.bias ? this.bias.grad.ptr : 0, this.#usedBatch);
    return dx;
  }

  #checkOwn(where: string): void {
    for (const t of [this.weight, this.bias, this.runningMean, this.runningVar, this.#stats.block]) {
      if (t?.disposed) throw new Error(`${where}: the layer was disposed`);
      if (t) checkTensor(where, 'this (the layer)', t);
    }
  }

  /** Training mode (batch statistics). Returns this. */
  train(mode = true): this {
    this.training = checkBool(`${this.constructor.name}.train`, 'mode', mode);
    return this;
  }

  /** Evaluation mode (running statistics when tracked). Returns this. */
  eval(): this {
    return this.train(false);
  }

  /** [weight, bias] when affine, else []. */
  parameters(): Parameter[] {
    return this.weight && this.bias ? [this.weight, this.bias] : [];
  }

  /** Sets every gradient to zero. */
  zeroGrad(): void {
    this.#checkOwn(`${this.constructor.name}.zeroGrad`);
    for (const p of this.parameters()) p.grad.view().fill(0);
  }

  /** Copies of the state under PyTorch's state_dict names. */
  stateDict(): BatchNormState {
    this.#checkOwn(`${this.constructor.name}.stateDict`);
    const sd: BatchNormState = {};
    if (this.weight && this.bias) {
      sd.weight = this.weight.toArray();
      sd.bias = this.bias.toArray();
    }
    if (this.runningMean && this.runningVar) {
      sd.running_mean = this.runningMean.toArray();
      sd.running_var = this.runningVar.toArray();
      sd.num_batches_tracked = this.numBatchesTracked;
    }
    return sd;
  }

  /** Loads a state dict; every name, length and type is checked before anything is written. */
  loadStateDict(state: BatchNormStateInput, options: { strict?: boolean } = {}): void {
    const where = `${this.constructor.name}.loadStateDict`;
    if (state === null || typeof state !== 'object') throw new TypeError(`${where}: state: expected an object, got ${describe(state)}`);
    if (options === null || typeof options !== 'object') throw new TypeError(`${where}: options: expected an object, got ${describe(options)}`);
    checkKeys(where, options, ['strict']);
    const strict = checkBool(where, 'strict', options.strict === undefined ? true : options.strict);
    const tensors: [keyof BatchNormStateInput, Tensor][] = [];
    if (this.weight && this.bias) tensors.push(['weight', this.weight], ['bias', this.bias]);
    if (this.runningMean && this.runningVar) tensors.push(['running_mean', this.runningMean], ['running_var', this.runningVar]);
    const expected = tensors.map(([k]) => k as string);
    if (this.trackRunningStats) expected.push('num_batches_tracked');
    const rec = state as Record<string, unknown>;
    for (const key of Object.keys(rec)) {
      if (!expected.includes(key) && strict) throw new Error(`${where}: unexpected key '${key}' (expected ${expected.join(', ')})`);
    }
    const writes: [Tensor, ArrayLike<number>][] = [];
    for (const [key, t] of tensors) {
      const v = rec[key];
      if (v === undefined) {
        if (strict) throw new Error(`${where}: missing key '${key}'`);
        continue;
      }
      if (!(v instanceof Float32Array || v instanceof Float64Array || Array.isArray(v))) throw new TypeError(`${where}: ${key}: expected a Float32Array, Float64Array or number[], got ${describe(v)}`);
      if (v.length !== this.numFeatures) throw new RangeError(`${where}: ${key}: expected length ${this.numFeatures}, got ${v.length}`);
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          if (typeof v[i] !== 'number') throw new TypeError(`${where}: ${key}[${i}]: expected a number, got ${describe(v[i])}`);
        }
      }
      writes.push([t, v]);
    }
    let nbt: number | undefined;
    if (this.trackRunningStats) {
      const v = rec.num_batches_tracked;
      if (v === undefined) {
        if (strict) throw new Error(`${where}: missing key 'num_batches_tracked'`);
      } else {
        nbt = typeof v === 'bigint' ? Number(v) : (v as number);
        if (!Number.isSafeInteger(nbt) || nbt < 0) throw new TypeError(`${where}: num_batches_tracked: expected a non-negative integer, got ${describe(v)}`);
      }
    }
    this.#checkOwn(where);
    for (const [t, v] of writes) t.view().set(v);
    if (nbt !== undefined) this.numBatchesTracked = nbt;
  }

  /** Frees the layer's memory (parameters, gradients, running statistics). */
  dispose(): void {
    for (const t of [this.weight, this.bias, this.runningMean, this.runningVar, this.#stats.block]) t?.dispose();
    this.#input = null;
  }
}

/** BatchNorm over [N, C] or [N, C, L] (layout 'NCL', default) or [N, L, C] (layout 'NLC'). */
export class BatchNorm1d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super(numFeatures, options, ['NCL', 'NLC']);
  }
  protected layoutFor(rank: number): Layout {
    return rank === 2 ? 'NC' : this.layout;
  }
}

/** BatchNorm over [N, C, H, W] (layout 'NCHW', default) or [N, H, W, C] (layout 'NHWC'). */
export class BatchNorm2d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super(numFeatures, options, ['NCHW', 'NHWC']);
  }
}

/** BatchNorm over [N, C, D, H, W] (layout 'NCDHW', default) or [N, D, H, W, C] (layout 'NDHWC'). */
export class BatchNorm3d extends BatchNorm {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super(numFeatures, options, ['NCDHW', 'NDHWC']);
  }
}
