// InstanceNorm1d/2d/3d with PyTorch's names and semantics: each channel of each sample normalized
// over its positions (GroupNorm with a group per channel), optional running statistics averaged
// over the batch's instances for eval.
// see: Ulyanov et al. 2016, https://arxiv.org/abs/1607.08022;
//      https://pytorch.org/docs/stable/generated/torch.nn.InstanceNorm2d.html
import { Tensor } from '../tensor';
import { Stats } from './bn_core';
import { updateRunningInstances, type NormPlan } from './norm_core';
import { given, instanceNormPlan } from './norm_checks';
import { checkBool, checkOptions, checkUnit, describe, kindOf } from '../validate';
import { Allocations, checkLayerSize, type StateEntry } from './module';
import { Norm } from './norms';

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
  /** 'relu': the norm then ReLU in one pass each way. Default null. */
  activation?: 'relu' | null;
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
    checkOptions(where, options, ['eps', 'momentum', 'affine', 'trackRunningStats', 'activation']);
    const momentum = checkUnit(where, 'momentum', given(options.momentum, 0.1));
    const affine = checkBool(where, 'affine', given(options.affine, false));
    const track = checkBool(where, 'trackRunningStats', given(options.trackRunningStats, false));
    checkLayerSize(where, 'numFeatures', numFeatures, numFeatures * ((affine ? 4 : 0) + (track ? 2 : 0)));
    super(where, given(options.eps, 1e-5 as unknown), given(options.activation, null), affine ? [numFeatures] : null);
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
    return instanceNormPlan(where, shape, this.#rank, this.numFeatures, this.usesInputStats(), true);
  }

  protected usesInputStats(): boolean {
    return this.training || !this.trackRunningStats;
  }

  protected running(): [Tensor | null, Tensor | null] {
    return [this.runningMean, this.runningVar];
  }

  protected afterForward(plan: NormPlan, stats: Stats): void {
    if (!this.trackRunningStats) return;
    // the plan's batch: an unbatched input is one instance per channel
    updateRunningInstances(plan.affine.n, this.numFeatures, plan.affine.l, stats, this.momentum, this.runningMean!, this.runningVar!);
  }

  protected opName(): string {
    return 'instanceNorm';
  }

  extraRepr(): string {
    return `numFeatures=${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.affine}, trackRunningStats=${this.trackRunningStats}${this.reluRepr()}`;
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

/** InstanceNorm over [N, C, L], or an unbatched [C, L] (PyTorch's). */
export class InstanceNorm1d extends InstanceNorm {
  static readonly kind: string = 'InstanceNorm1d';
  constructor(numFeatures: number, options: InstanceNormOptions = {}) {
    super(numFeatures, options, 3);
  }
}

/** InstanceNorm over [N, C, H, W], or an unbatched [C, H, W] (PyTorch's). */
export class InstanceNorm2d extends InstanceNorm {
  static readonly kind: string = 'InstanceNorm2d';
  constructor(numFeatures: number, options: InstanceNormOptions = {}) {
    super(numFeatures, options, 4);
  }
}

/** InstanceNorm over [N, C, D, H, W], or an unbatched [C, D, H, W] (PyTorch's). */
export class InstanceNorm3d extends InstanceNorm {
  static readonly kind: string = 'InstanceNorm3d';
  constructor(numFeatures: number, options: InstanceNormOptions = {}) {
    super(numFeatures, options, 5);
  }
}
