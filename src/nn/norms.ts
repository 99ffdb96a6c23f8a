// LayerNorm, GroupNorm and InstanceNorm1d/2d/3d with PyTorch's names and semantics, on BN's
// statistics core (norm_core.ts); backward sits beside forward.
// see: https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html,
//      https://pytorch.org/docs/stable/generated/torch.nn.GroupNorm.html,
//      https://pytorch.org/docs/stable/generated/torch.nn.InstanceNorm2d.html
import { track } from '../autograd/engine';
import { checkShape, Parameter, Tensor } from '../tensor';
import { bnBackward } from '../kernels/batchnorm';
import { forwardCore, Stats } from './bn_core';
import { recordBatchNorm } from './functional';
import { normBackward, normForward, recordNorm, updateRunningInstances, type NormPlan } from './norm_core';
import { checkNormalizedShape, given, groupNormPlan, instanceNormPlan, layerNormPlan } from './norm_checks';
import { checkBool, checkOptions, checkPositive, checkTensor, checkUnit, describe, kindOf } from '../validate';
import { Allocations, checkLayerSize, Module, type StateEntry } from './module';

/** What a forward saved for backward(dy) when it did not record on the tape. */
interface Saved {
  x: Tensor;
  plan: NormPlan;
  stats: Stats;
  /** Batch (per-group) statistics; false: InstanceNorm's running statistics (BN's eval). */
  batch: boolean;
}

/** What LayerNorm, GroupNorm and InstanceNorm share: an optional affine, the forward and its backward. */
abstract class Norm extends Module {
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** γ, initialised to 1 (per channel, or shaped as normalizedShape for LayerNorm); null without an affine. */
  readonly weight: Parameter | null;
  /** β, initialised to 0, shaped as weight; null without an affine. */
  readonly bias: Parameter | null;
  #saved: Saved | null = null;

  constructor(where: string, eps: unknown, affineShape: readonly number[] | null) {
    super();
    this.eps = checkPositive(where, 'eps', eps);
    const made = new Allocations();
    try {
      this.weight = affineShape ? made.add(new Parameter(affineShape, 1, `${where}: weight`)) : null;
      this.bias = affineShape ? made.add(new Parameter(affineShape, 0, `${where}: bias`)) : null;
    } catch (e) {
      throw made.free(e);
    }
  }

  /** Checks an input shape (throwing what forward would) and returns its plan. */
  protected abstract planFor(where: string, shape: readonly number[]): NormPlan;

  /** True when this forward normalizes with the input's own statistics (all but an InstanceNorm in eval with running statistics). */
  protected usesInputStats(): boolean {
    return true;
  }

  /** After a training forward: InstanceNorm's running update. */
  protected afterForward(_plan: NormPlan, _stats: Stats, _shape: readonly number[]): void {}

  /** Normalizes `x` and applies the affine. */
  forward(x: Tensor): Tensor {
    const where = `${this.kind}.forward`;
    const t = checkTensor(where, 'input', x);
    const plan = this.planFor(where, t.shape);
    this.checkUsable(where);
    const batch = this.usesInputStats();
    const recording = this.records(t);
    const stats = new Stats(batch ? plan.view.c : plan.affine.c);
    let y: Tensor;
    try {
      y = Tensor.empty(t.shape);
    } catch (e) {
      stats.block.dispose();
      throw e;
    }
    try {
      if (batch) normForward(plan, t, y, this.weight, this.bias, this.eps, stats);
      else forwardCore(plan.affine, t, this.weight, this.bias, false, this.eps, stats, ...this.running(), false, y);
    } catch (e) {
      y.dispose(); // a kernel's workspace could not be allocated
      stats.block.dispose();
      throw e;
    }
    if (this.training) this.afterForward(plan, stats, t.shape);
    this.#release();
    if (recording) {
      const w = this.weight,
        b = this.bias;
      return this.recorded(
        batch ? recordNorm(this.opName(), y, t, plan, stats, w, b) : recordBatchNorm(y, t, plan.affine, stats, w, b, false, false),
      );
    }
    this.#saved = { x: t, plan, stats, batch };
    return track(y);
  }

  /** The op's name on the tape. */
  protected abstract opName(): string;

  /** Running mean and variance (InstanceNorm with trackRunningStats), else nulls. */
  protected running(): [Tensor | null, Tensor | null] {
    return [null, null];
  }

  /** The input's shape; throws what forward() would throw for it. */
  outputShape(shape: readonly number[]): number[] {
    const s = checkShape(`${this.kind}.forward`, shape);
    this.planFor(`${this.kind}.forward`, s);
    return s;
  }

  checkBackwardReady(): void {
    const where = `${this.kind}.backward`;
    if (this.hasRecorded()) return this.checkRecordedReady(where);
    this.checkUsable(where);
    if (this.#saved === null) throw new Error(`${where}: call forward() first`);
    if (this.#saved.x.disposed) throw new Error(`${where}: the input of the last forward() was disposed; backward needs it`);
  }

  /** Gradient of the last forward: returns dx and adds dγ, dβ to weight.grad, bias.grad. */
  backward(dy: Tensor): Tensor {
    const where = `${this.kind}.backward`;
    const r = this.backwardRecorded(where, dy, true, 'input');
    if (r !== undefined) return r!;
    this.checkBackwardReady();
    const { x, plan, stats, batch } = this.#saved!;
    const d = checkTensor(where, 'gradOutput', dy);
    if (d.shape.length !== x.shape.length || d.shape.some((v, i) => v !== x.shape[i])) {
      throw new RangeError(`${where}: gradOutput: expected shape [${x.shape.join(', ')}] (the last input's), got [${d.shape.join(', ')}]`);
    }
    const dx = Tensor.empty(x.shape);
    const w = this.weight,
      dw = w ? w.grad.ptr : 0,
      db = this.bias ? this.bias.grad.ptr : 0;
    try {
      if (batch) normBackward(plan, x, d, dx, w, stats, dw, db);
      else if (plan.affine.size > 0) bnBackward(plan.affine, x.ptr, d.ptr, dx.ptr, w ? w.ptr : 0, stats.mean, stats.invstd, dw, db, false);
    } catch (e) {
      dx.dispose();
      throw e;
    }
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

  #release(): void {
    this.#saved?.stats.block.dispose();
    this.#saved = null;
  }

  /** Frees the layer's memory (parameters, gradients, running and saved statistics). */
  dispose(): void {
    super.dispose();
    this.#release();
  }
}

/** Options of LayerNorm (PyTorch's keyword arguments). */
export interface LayerNormOptions {
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Learnable γ (init 1) and β (init 0) shaped as normalizedShape. Default true. */
  elementwiseAffine?: boolean;
}

/** Layer Normalization over the last dims (normalizedShape) of each sample, with PyTorch's names. */
export class LayerNorm extends Norm {
  static readonly kind: string = 'LayerNorm';
  /** The trailing dims normalized together. */
  readonly normalizedShape: readonly number[];
  /** Whether the layer has γ (weight) and β (bias). */
  readonly elementwiseAffine: boolean;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    const where = kindOf(new.target);
    const shape = checkNormalizedShape(where, normalizedShape);
    checkOptions(where, options, ['eps', 'elementwiseAffine']);
    const affine = checkBool(where, 'elementwiseAffine', given(options.elementwiseAffine, true));
    const d = shape.reduce((p, v) => p * v, 1);
    checkLayerSize(where, 'normalizedShape', d, affine ? 4 * d : 0);
    super(where, given(options.eps, 1e-5 as unknown), affine ? shape : null);
    this.normalizedShape = shape;
    this.elementwiseAffine = affine;
  }

  protected planFor(where: string, shape: readonly number[]): NormPlan {
    return layerNormPlan(where, shape, this.normalizedShape);
  }

  extraRepr(): string {
    return `normalizedShape=(${this.normalizedShape.join(', ')}), eps=${this.eps}, elementwiseAffine=${this.elementwiseAffine}`;
  }

  protected opName(): string {
    return 'layerNorm';
  }
}

/** Options of GroupNorm. */
export interface GroupNormOptions {
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Learnable per-channel γ (init 1) and β (init 0). Default true. */
  affine?: boolean;
}

/** Group Normalization: channels split into numGroups groups, each normalized per sample (Wu & He 2018). */
export class GroupNorm extends Norm {
  static readonly kind: string = 'GroupNorm';
  /** Groups the channels are split into. */
  readonly numGroups: number;
  /** Channels C of the input [N, C, *]. */
  readonly numChannels: number;
  /** Whether the layer has a per-channel γ (weight) and β (bias). */
  readonly affine: boolean;

  constructor(numGroups: number, numChannels: number, options: GroupNormOptions = {}) {
    const where = kindOf(new.target);
    for (const [name, v] of [
      ['numGroups', numGroups],
      ['numChannels', numChannels],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${where}: ${name}: expected a positive integer, got ${describe(v)}`);
    }
    if (numChannels % numGroups !== 0)
      throw new RangeError(`${where}: numChannels: expected a multiple of numGroups (${numGroups}), got ${numChannels}`);
    checkOptions(where, options, ['eps', 'affine']);
    const affine = checkBool(where, 'affine', given(options.affine, true));
    checkLayerSize(where, 'numChannels', numChannels, affine ? 4 * numChannels : 0);
    super(where, given(options.eps, 1e-5 as unknown), affine ? [numChannels] : null);
    this.numGroups = numGroups;
    this.numChannels = numChannels;
    this.affine = affine;
  }

  protected planFor(where: string, shape: readonly number[]): NormPlan {
    return groupNormPlan(where, shape, this.numGroups, this.numChannels);
  }

  extraRepr(): string {
    return `numGroups=${this.numGroups}, numChannels=${this.numChannels}, eps=${this.eps}, affine=${this.affine}`;
  }

  protected opName(): string {
    return 'groupNorm';
  }
}

/** Options of InstanceNorm1d/2d/3d (PyTorch's defaults: no affine, no running statistics). */
export interface InstanceNormOptions {
  /** Added to the variance before the square root. Default 1e-5. */
  eps?: number;
  /** Weight of the batch's mean statistic in the running update (PyTorch convention). Default 0.1. */
  momentum?: number;
  /** Learnable per-channel γ (init 1) and β (init 0). Default false. */
  affine?: boolean;
  /** Keep running mean/var (averaged over the batch's instances) and use them in eval. Default false. */
  trackRunningStats?: boolean;
}

/** What InstanceNorm1d, 2d and 3d share: each channel of each sample normalized over its positions. */
abstract class InstanceNorm extends Norm {
  /** Channels C. */
  readonly numFeatures: number;
  /** Running-update weight of the batch statistic. */
  readonly momentum: number;
  /** Whether the layer has a per-channel γ (weight) and β (bias). */
  readonly affine: boolean;
  /** Whether running statistics are kept and used in eval. */
  readonly trackRunningStats: boolean;
  /** Running per-channel mean, f32[C]; null without trackRunningStats. */
  readonly runningMean: Tensor | null;
  /** Running per-channel unbiased variance, f32[C]; null without trackRunningStats. */
  readonly runningVar: Tensor | null;
  /** PyTorch's num_batches_tracked: in the state dict, and (as in PyTorch's InstanceNorm) never advanced. */
  numBatchesTracked = 0;
  readonly #rank: number;

  constructor(numFeatures: number, options: InstanceNormOptions, rank: number) {
    const where = kindOf(new.target);
    if (!Number.isInteger(numFeatures) || numFeatures < 1)
      throw new RangeError(`${where}: numFeatures: expected a positive integer, got ${describe(numFeatures)}`);
    checkOptions(where, options, ['eps', 'momentum', 'affine', 'trackRunningStats']);
    const momentum = checkUnit(where, 'momentum', given(options.momentum, 0.1));
    const affine = checkBool(where, 'affine', given(options.affine, false));
    const track = checkBool(where, 'trackRunningStats', given(options.trackRunningStats, false));
    checkLayerSize(where, 'numFeatures', numFeatures, numFeatures * ((affine ? 4 : 0) + (track ? 2 : 0)));
    super(where, given(options.eps, 1e-5 as unknown), affine ? [numFeatures] : null);
    this.numFeatures = numFeatures;
    this.momentum = momentum;
    this.affine = affine;
    this.trackRunningStats = track;
    this.#rank = rank;
    const made = new Allocations();
    try {
      this.runningMean = track ? made.add(Tensor.full([numFeatures], 0)) : null;
      this.runningVar = track ? made.add(Tensor.full([numFeatures], 1)) : null;
    } catch (e) {
      made.free(e);
      this.weight?.dispose();
      this.bias?.dispose();
      throw e;
    }
  }

  protected planFor(where: string, shape: readonly number[]): NormPlan {
    return instanceNormPlan(where, shape, this.#rank, this.numFeatures, this.usesInputStats());
  }

  protected usesInputStats(): boolean {
    return this.training || !this.trackRunningStats;
  }

  protected running(): [Tensor | null, Tensor | null] {
    return [this.runningMean, this.runningVar];
  }

  protected afterForward(plan: NormPlan, stats: Stats, shape: readonly number[]): void {
    if (!this.trackRunningStats) return;
    updateRunningInstances(shape[0], this.numFeatures, plan.affine.l, stats, this.momentum, this.runningMean!, this.runningVar!);
  }

  protected opName(): string {
    return 'instanceNorm';
  }

  extraRepr(): string {
    return `numFeatures=${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.affine}, trackRunningStats=${this.trackRunningStats}`;
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
}

/** InstanceNorm over [N, C, L]. */
export class InstanceNorm1d extends InstanceNorm {
  static readonly kind: string = 'InstanceNorm1d';
  constructor(numFeatures: number, options: InstanceNormOptions = {}) {
    super(numFeatures, options, 3);
  }
}

/** InstanceNorm over [N, C, H, W]. */
export class InstanceNorm2d extends InstanceNorm {
  static readonly kind: string = 'InstanceNorm2d';
  constructor(numFeatures: number, options: InstanceNormOptions = {}) {
    super(numFeatures, options, 4);
  }
}

/** InstanceNorm over [N, C, D, H, W]. */
export class InstanceNorm3d extends InstanceNorm {
  static readonly kind: string = 'InstanceNorm3d';
  constructor(numFeatures: number, options: InstanceNormOptions = {}) {
    super(numFeatures, options, 5);
  }
}
