// LayerNorm and GroupNorm, and the base they share with InstanceNorm (instance_norm.ts), with
// PyTorch's names and semantics on BN's statistics core (norm_core.ts); backward beside forward.
// see: https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html,
//      https://pytorch.org/docs/stable/generated/torch.nn.GroupNorm.html
import { track } from '../autograd/engine';
import { checkShape, gradOf, Parameter, Tensor } from '../tensor';
import { bnBackward } from '../kernels/batchnorm';
import { forwardCore, Stats } from './bn_core';
import { recordBatchNorm } from './functional';
import { normBackward, normForward, recordNorm, type NormPlan } from './norm_core';
import { checkNormalizedShape, given, groupNormPlan, layerNormPlan } from './norm_checks';
import { checkBool, checkOptions, checkPositive, checkTensor, describe, kindOf } from '../validate';
import { Allocations, checkGradOutput, checkLayerSize, Module } from './module';

/** What a forward saved for backward(dy) when it did not record on the tape. */
interface Saved {
  x: Tensor;
  plan: NormPlan;
  stats: Stats;
  /** Batch (per-group) statistics; false: InstanceNorm's running statistics (BN's eval). */
  batch: boolean;
}

/** What LayerNorm, GroupNorm and InstanceNorm share: an optional affine, the forward and its backward. */
export abstract class Norm extends Module {
  /** Added to the variance before the square root. */
  readonly eps: number;
  /** γ, initialised to 1 (per channel, or shaped as normalizedShape for LayerNorm); null without an affine. */
  readonly weight: Parameter | null;
  /** β, initialised to 0, shaped as weight; null without an affine (or LayerNorm's bias: false). */
  readonly bias: Parameter | null;
  /** 'relu' when ReLU is fused after the normalization (one pass fewer each way, as BatchNorm's). */
  readonly activation: 'relu' | null;
  #saved: Saved | null = null;

  constructor(where: string, eps: unknown, activation: unknown, affineShape: readonly number[] | null, withBias = true) {
    super();
    this.eps = checkPositive(where, 'eps', eps);
    if (activation !== null && activation !== 'relu')
      throw new TypeError(`${where}: activation: expected 'relu' or null, got ${describe(activation)}`);
    this.activation = activation;
    const made = new Allocations();
    try {
      this.weight = affineShape ? made.add(new Parameter(affineShape, 1, `${where}: weight`)) : null;
      this.bias = affineShape && withBias ? made.add(new Parameter(affineShape, 0, `${where}: bias`)) : null;
    } catch (e) {
      throw made.free(e);
    }
  }

  /** `, activation='relu'` when ReLU is fused, for extraRepr. */
  protected reluRepr(): string {
    return this.activation ? `, activation='${this.activation}'` : '';
  }

  /** Checks an input shape (throwing what forward would) and returns its plan. */
  protected abstract planFor(where: string, shape: readonly number[]): NormPlan;

  /** True when this forward normalizes with the input's own statistics (all but an InstanceNorm in eval with running statistics). */
  protected usesInputStats(): boolean {
    return true;
  }

  /** After a training forward: InstanceNorm's running update. */
  protected afterForward(_plan: NormPlan, _stats: Stats): void {}

  /** Normalizes `x` and applies the affine. */
  forward(x: Tensor): Tensor {
    const where = `${this.kind}.forward`;
    const t = checkTensor(where, 'input', x);
    const plan = this.planFor(where, t.shape);
    this.checkUsable(where);
    const batch = this.usesInputStats(),
      relu = this.activation === 'relu';
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
      if (batch) normForward(plan, t, y, this.weight, this.bias, this.eps, stats, relu);
      else forwardCore(plan.affine, t, this.weight, this.bias, false, this.eps, stats, ...this.running(), relu, y);
    } catch (e) {
      y.dispose(); // a kernel's workspace could not be allocated
      stats.block.dispose();
      throw e;
    }
    if (this.training) this.afterForward(plan, stats);
    this.#release();
    if (recording) {
      const w = this.weight,
        b = this.bias;
      return this.recorded(
        batch ? recordNorm(this.opName(), y, t, plan, stats, w, b, relu) : recordBatchNorm(y, t, plan.affine, stats, w, b, false, relu),
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
    this.checkSavedReady(`${this.kind}.backward`, this.#saved?.x ?? null);
  }

  /** Gradient of the last forward: returns dx and adds dγ, dβ to weight.grad, bias.grad. */
  backward(dy: Tensor): Tensor {
    const where = `${this.kind}.backward`;
    const r = this.backwardRecorded(where, dy, true, 'input');
    if (r !== undefined) return r!;
    this.checkBackwardReady();
    const { x, plan, stats, batch } = this.#saved!;
    const d = checkGradOutput(where, dy, x.shape, 'input');
    const w = this.weight,
      b = this.bias,
      relu = this.activation === 'relu';
    // the gradients are allocated at their first need (none for a frozen parameter), before dx
    const dw = gradOf(w)?.ptr ?? 0,
      db = gradOf(b)?.ptr ?? 0;
    const dx = Tensor.empty(x.shape);
    try {
      if (batch) normBackward(plan, x, d, dx, w, b, stats, dw, db, relu);
      else if (plan.affine.size > 0)
        bnBackward(plan.affine, x.ptr, d.ptr, dx.ptr, w ? w.ptr : 0, stats.mean, stats.invstd, dw, db, false, relu, b ? b.ptr : 0);
    } catch (e) {
      dx.dispose();
      throw e;
    }
    return dx;
  }

  protected ownParameters(): [string, Parameter][] {
    const own: [string, Parameter][] = [];
    if (this.weight) own.push(['weight', this.weight]);
    if (this.bias) own.push(['bias', this.bias]);
    return own;
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
  /** false: γ only, no β (PyTorch 2.1's bias=False; state_dict holds weight alone). Default true. */
  bias?: boolean;
  /** 'relu': the norm then ReLU in one pass each way. Default null. */
  activation?: 'relu' | null;
}

/** Layer Normalization over the last dims (normalizedShape) of each sample, with PyTorch's names. */
export class LayerNorm extends Norm {
  static readonly kind: string = 'LayerNorm';
  /** The trailing dims normalized together. */
  readonly normalizedShape: readonly number[];
  /** Whether the layer has γ (weight) and β (bias, unless hasBias is false). */
  readonly elementwiseAffine: boolean;
  /** Whether the affine has β (PyTorch's bias option; false only with elementwiseAffine). */
  readonly hasBias: boolean;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    const where = kindOf(new.target);
    const shape = checkNormalizedShape(where, normalizedShape);
    checkOptions(where, options, ['eps', 'elementwiseAffine', 'bias', 'activation']);
    const affine = checkBool(where, 'elementwiseAffine', given(options.elementwiseAffine, true));
    const bias = checkBool(where, 'bias', given(options.bias, true));
    const d = shape.reduce((p, v) => p * v, 1);
    checkLayerSize(where, 'normalizedShape', d, affine ? (bias ? 4 : 2) * d : 0);
    super(where, given(options.eps, 1e-5 as unknown), given(options.activation, null), affine ? shape : null, bias);
    this.normalizedShape = shape;
    this.elementwiseAffine = affine;
    this.hasBias = affine && bias;
  }

  protected planFor(where: string, shape: readonly number[]): NormPlan {
    return layerNormPlan(where, shape, this.normalizedShape);
  }

  extraRepr(): string {
    const bias = this.elementwiseAffine && !this.hasBias ? ', bias=false' : '';
    return `normalizedShape=(${this.normalizedShape.join(', ')}), eps=${this.eps}, elementwiseAffine=${this.elementwiseAffine}${bias}${this.reluRepr()}`;
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
  /** 'relu': the norm then ReLU in one pass each way. Default null. */
  activation?: 'relu' | null;
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
    checkOptions(where, options, ['eps', 'affine', 'activation']);
    const affine = checkBool(where, 'affine', given(options.affine, true));
    checkLayerSize(where, 'numChannels', numChannels, affine ? 4 * numChannels : 0);
    super(where, given(options.eps, 1e-5 as unknown), given(options.activation, null), affine ? [numChannels] : null);
    this.numGroups = numGroups;
    this.numChannels = numChannels;
    this.affine = affine;
  }

  protected planFor(where: string, shape: readonly number[]): NormPlan {
    return groupNormPlan(where, shape, this.numGroups, this.numChannels);
  }

  extraRepr(): string {
    return `numGroups=${this.numGroups}, numChannels=${this.numChannels}, eps=${this.eps}, affine=${this.affine}${this.reluRepr()}`;
  }

  protected opName(): string {
    return 'groupNorm';
  }
}
