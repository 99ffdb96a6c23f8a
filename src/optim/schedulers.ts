// Learning-rate schedules, stepped once per epoch, as PyTorch's StepLR and CosineAnnealingLR.
// see: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.StepLR.html,
//      CosineAnnealingLR.html (the closed form; SGDR, https://arxiv.org/abs/1608.03983)
import { Optimizer } from './optimizers';
import { checkOptions, checkPositive, describe, kindOf } from '../validate';

/** What the epoch schedulers share (PyTorch's LRScheduler): step() sets each group's lr from its base and the epoch. */
abstract class Scheduler {
  /** The public class name that error messages start with (minifiers rename classes, not strings). */
  static readonly kind: string = 'Scheduler';
  /** The optimizer whose learning rates it sets. */
  readonly optimizer: Optimizer;
  /** The learning rate of the first group when the scheduler was made. */
  readonly baseLr: number;
  /** Each group's learning rate when the scheduler was made. */
  readonly baseLrs: readonly number[];
  /** Epochs stepped so far (PyTorch's last_epoch). */
  epoch = 0;
  /** Checks the optimizer and the options' keys (every check before any field is set). */
  constructor(optimizer: Optimizer, options: object, keys: readonly string[]) {
    const where = kindOf(new.target);
    if (!(optimizer instanceof Optimizer))
      throw new TypeError(`${where}: optimizer: expected an Optimizer (SGD, Adam, AdamW), got ${describe(optimizer)}`);
    checkOptions(where, options, keys);
    this.optimizer = optimizer;
    this.baseLr = optimizer.lr;
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
  }
  /** Advances one epoch and sets each group's learning rate. */
  step(): void {
    this.epoch += 1;
    this.optimizer.paramGroups.forEach((g, k) => (g.lr = this.lrAt(this.epoch, this.baseLrs[k])));
  }
  /** The learning rate at `epoch` of a group that started at `base`. */
  protected abstract lrAt(epoch: number, base: number): number;
}

/** lr = base · gamma^⌊epoch / stepSize⌋. */
export class StepLR extends Scheduler {
  static readonly kind: string = 'StepLR';
  /** Epochs between two decays (PyTorch's step_size). */
  readonly stepSize: number;
  /** Factor applied to the learning rate every stepSize epochs. Default 0.1. */
  readonly gamma: number;
  constructor(optimizer: Optimizer, options: { stepSize: number; gamma?: number }) {
    super(optimizer, options, ['stepSize', 'gamma']);
    if (!Number.isInteger(options.stepSize) || options.stepSize < 1)
      throw new RangeError(`StepLR: stepSize: expected a positive integer, got ${describe(options.stepSize)}`);
    this.stepSize = options.stepSize;
    this.gamma = checkPositive('StepLR', 'gamma', options.gamma ?? 0.1);
  }
  protected lrAt(epoch: number, base: number): number {
    return base * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** lr = etaMin + (base − etaMin)·(1 + cos(π·epoch/tMax))/2. */
export class CosineAnnealingLR extends Scheduler {
  static readonly kind: string = 'CosineAnnealingLR';
  /** Epochs of the half cosine, from base down to etaMin (PyTorch's T_max). */
  readonly tMax: number;
  /** Lowest learning rate (PyTorch's eta_min). Default 0. */
  readonly etaMin: number;
  constructor(optimizer: Optimizer, options: { tMax: number; etaMin?: number }) {
    super(optimizer, options, ['tMax', 'etaMin']);
    if (!Number.isInteger(options.tMax) || options.tMax < 1)
      throw new RangeError(`CosineAnnealingLR: tMax: expected a positive integer, got ${describe(options.tMax)}`);
    this.tMax = options.tMax;
    const etaMin = options.etaMin ?? 0;
    if (typeof etaMin !== 'number' || !(etaMin >= 0))
      throw new RangeError(`CosineAnnealingLR: etaMin: expected a number ≥ 0, got ${describe(etaMin)}`);
    this.etaMin = etaMin;
  }
  protected lrAt(epoch: number, base: number): number {
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }
}

function checkFactor(where: string, name: string, v: unknown, dflt: number): number {
  const f = v ?? dflt;
  if (typeof f !== 'number' || !(f > 0 && f <= 1))
    throw new RangeError(`${where}: ${name}: expected a number in (0, 1], got ${describe(v)}`);
  return f;
}

/** lr = base · gamma^(number of milestones reached). */
// see: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.MultiStepLR.html
export class MultiStepLR extends Scheduler {
  static readonly kind: string = 'MultiStepLR';
  /** Epochs, increasing, at which the learning rate is multiplied by gamma. */
  readonly milestones: readonly number[];
  /** Factor applied at each milestone. Default 0.1. */
  readonly gamma: number;
  constructor(optimizer: Optimizer, options: { milestones: readonly number[]; gamma?: number }) {
    super(optimizer, options, ['milestones', 'gamma']);
    const m = options.milestones;
    if (!Array.isArray(m) || m.some((v, i) => !Number.isInteger(v) || v < 1 || (i > 0 && v <= m[i - 1]))) {
      throw new TypeError(`MultiStepLR: milestones: expected increasing positive integers, got ${describe(m)}`);
    }
    this.milestones = Object.freeze([...m]);
    this.gamma = checkPositive('MultiStepLR', 'gamma', options.gamma ?? 0.1);
  }
  protected lrAt(epoch: number, base: number): number {
    return base * this.gamma ** this.milestones.filter((m) => m <= epoch).length;
  }
}

/** lr = base · gamma^epoch. */
export class ExponentialLR extends Scheduler {
  static readonly kind: string = 'ExponentialLR';
  /** Factor applied to the learning rate every epoch. */
  readonly gamma: number;
  constructor(optimizer: Optimizer, options: { gamma: number }) {
    super(optimizer, options, ['gamma']);
    this.gamma = checkPositive('ExponentialLR', 'gamma', options.gamma);
  }
  protected lrAt(epoch: number, base: number): number {
    return base * this.gamma ** epoch;
  }
}

/** Linear warm-up: lr = base · (start + (end − start)·min(epoch, totalIters)/totalIters), PyTorch's LinearLR. */
export class LinearLR extends Scheduler {
  static readonly kind: string = 'LinearLR';
  /** Multiplier of the base learning rate at epoch 0 (PyTorch's start_factor). Default 1/3. */
  readonly startFactor: number;
  /** Multiplier reached at totalIters and kept after (PyTorch's end_factor). Default 1. */
  readonly endFactor: number;
  /** Epochs of the ramp from startFactor to endFactor (PyTorch's total_iters). Default 5. */
  readonly totalIters: number;
  constructor(optimizer: Optimizer, options: { startFactor?: number; endFactor?: number; totalIters?: number } = {}) {
    super(optimizer, options, ['startFactor', 'endFactor', 'totalIters']);
    const where = 'LinearLR';
    this.startFactor = checkFactor(where, 'startFactor', options.startFactor, 1 / 3);
    this.endFactor = checkFactor(where, 'endFactor', options.endFactor, 1);
    const t = options.totalIters ?? 5;
    if (!Number.isInteger(t) || t < 1) throw new RangeError(`${where}: totalIters: expected a positive integer, got ${describe(t)}`);
    this.totalIters = t;
    optimizer.paramGroups.forEach((g, k) => (g.lr = this.lrAt(0, this.baseLrs[k])));
  }
  protected lrAt(epoch: number, base: number): number {
    return base * (this.startFactor + ((this.endFactor - this.startFactor) * Math.min(epoch, this.totalIters)) / this.totalIters);
  }
}

/**
 * The one-cycle policy (Smith & Topin 2017), stepped once per batch: from maxLr/divFactor up to maxLr
 * over pctStart of totalSteps, then down to that / finalDivFactor, on cosine (or linear) curves.
 * The learning rate only: momentum is not cycled.
 */
// see: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.OneCycleLR.html
export class OneCycleLR extends Scheduler {
  static readonly kind: string = 'OneCycleLR';
  /** Peak learning rate of the cycle (PyTorch's max_lr). */
  readonly maxLr: number;
  /** Steps (batches) in the whole cycle (PyTorch's total_steps). */
  readonly totalSteps: number;
  readonly #phases: { end: number; from: number; to: number }[];
  readonly #linear: boolean;
  constructor(
    optimizer: Optimizer,
    options: {
      maxLr: number;
      totalSteps: number;
      pctStart?: number;
      annealStrategy?: 'cos' | 'linear';
      divFactor?: number;
      finalDivFactor?: number;
      threePhase?: boolean;
    },
  ) {
    super(optimizer, options, ['maxLr', 'totalSteps', 'pctStart', 'annealStrategy', 'divFactor', 'finalDivFactor', 'threePhase']);
    const where = 'OneCycleLR';
    this.maxLr = checkPositive(where, 'maxLr', options.maxLr);
    const total = options.totalSteps;
    if (!Number.isInteger(total) || total < 2)
      throw new RangeError(`${where}: totalSteps: expected an integer ≥ 2, got ${describe(total)}`);
    this.totalSteps = total;
    const pct = options.pctStart ?? 0.3;
    if (typeof pct !== 'number' || !(pct > 0 && pct < 1))
      throw new RangeError(`${where}: pctStart: expected a number in (0, 1), got ${describe(pct)}`);
    const anneal = options.annealStrategy ?? 'cos';
    if (anneal !== 'cos' && anneal !== 'linear')
      throw new TypeError(`${where}: annealStrategy: expected 'cos' or 'linear', got ${describe(anneal)}`);
    this.#linear = anneal === 'linear';
    const initial = this.maxLr / checkPositive(where, 'divFactor', options.divFactor ?? 25);
    const min = initial / checkPositive(where, 'finalDivFactor', options.finalDivFactor ?? 1e4);
    const up = pct * total - 1;
    this.#phases = options.threePhase
      ? [
          { end: up, from: initial, to: this.maxLr },
          { end: 2 * pct * total - 2, from: this.maxLr, to: initial },
          { end: total - 1, from: initial, to: min },
        ]
      : [
          { end: up, from: initial, to: this.maxLr },
          { end: total - 1, from: this.maxLr, to: min },
        ];
    optimizer.lr = initial;
  }
  step(): void {
    if (this.epoch + 1 >= this.totalSteps)
      throw new RangeError(`OneCycleLR.step: stepped ${this.epoch + 1} times, more than totalSteps − 1 = ${this.totalSteps - 1}`);
    super.step();
  }
  protected lrAt(step: number): number {
    let start = 0;
    for (const p of this.#phases) {
      if (step <= p.end || p === this.#phases[this.#phases.length - 1]) {
        const pct = (step - start) / (p.end - start);
        return this.#linear ? p.from + (p.to - p.from) * pct : p.to + ((p.from - p.to) / 2) * (1 + Math.cos(Math.PI * pct));
      }
      start = p.end;
    }
    return this.#phases[this.#phases.length - 1].to;
  }
}

/** Multiplies the learning rate by `factor` when a metric has not improved for `patience` epochs. */
// see: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ReduceLROnPlateau.html
export class ReduceLROnPlateau {
  /** The public class name that error messages start with (minifiers rename classes, not strings). */
  static readonly kind: string = 'ReduceLROnPlateau';
  /** 'min' (default): a lower metric is an improvement; 'max': a higher one. */
  readonly mode: 'min' | 'max';
  /** Multiplier of the learning rate on a plateau, in (0, 1). Default 0.1. */
  readonly factor: number;
  /** Epochs without improvement tolerated before the rate is reduced. Default 10. */
  readonly patience: number;
  /** Smallest change that counts as an improvement, relative or absolute per thresholdMode. Default 1e-4. */
  readonly threshold: number;
  /** 'rel' (default): improvement beyond best·(1 ∓ threshold); 'abs': beyond best ∓ threshold. */
  readonly thresholdMode: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting bad epochs again. Default 0. */
  readonly cooldown: number;
  /** Floor of the learning rate (PyTorch's min_lr). Default 0. */
  readonly minLr: number;
  /** Best metric seen so far (±Infinity before the first step). */
  best: number;
  /** Consecutive epochs without improvement (PyTorch's num_bad_epochs). */
  badEpochs = 0;
  #cooldownLeft = 0;
  constructor(
    /** The optimizer whose learning rates are reduced. */
    readonly optimizer: Optimizer,
    options: {
      mode?: 'min' | 'max';
      factor?: number;
      patience?: number;
      threshold?: number;
      thresholdMode?: 'rel' | 'abs';
      cooldown?: number;
      minLr?: number;
    } = {},
  ) {
    const where = 'ReduceLROnPlateau';
    if (!(optimizer instanceof Optimizer))
      throw new TypeError(`${where}: optimizer: expected an Optimizer (SGD, Adam, AdamW), got ${describe(optimizer)}`);
    checkOptions(where, options, ['mode', 'factor', 'patience', 'threshold', 'thresholdMode', 'cooldown', 'minLr']);
    const mode = options.mode ?? 'min',
      tm = options.thresholdMode ?? 'rel';
    if (mode !== 'min' && mode !== 'max') throw new TypeError(`${where}: mode: expected 'min' or 'max', got ${describe(mode)}`);
    if (tm !== 'rel' && tm !== 'abs') throw new TypeError(`${where}: thresholdMode: expected 'rel' or 'abs', got ${describe(tm)}`);
    const factor = options.factor ?? 0.1;
    if (typeof factor !== 'number' || !(factor > 0 && factor < 1))
      throw new RangeError(`${where}: factor: expected a number in (0, 1), got ${describe(factor)}`);
    const int = (name: string, v: unknown) => {
      if (!Number.isInteger(v) || (v as number) < 0)
        throw new RangeError(`${where}: ${name}: expected a non-negative integer, got ${describe(v)}`);
      return v as number;
    };
    const nonneg = (name: string, v: unknown) => {
      if (typeof v !== 'number' || !(v >= 0)) throw new RangeError(`${where}: ${name}: expected a number ≥ 0, got ${describe(v)}`);
      return v;
    };
    this.mode = mode;
    this.thresholdMode = tm;
    this.factor = factor;
    this.patience = int('patience', options.patience ?? 10);
    this.cooldown = int('cooldown', options.cooldown ?? 0);
    this.threshold = nonneg('threshold', options.threshold ?? 1e-4);
    this.minLr = nonneg('minLr', options.minLr ?? 0);
    this.best = mode === 'min' ? Infinity : -Infinity;
  }
  #better(v: number): boolean {
    const t = this.threshold,
      b = this.best;
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? v < b * (1 - t) : v < b - t;
    return this.thresholdMode === 'rel' ? v > b * (1 + t) : v > b + t;
  }
  /** Records the epoch's metric (e.g. the validation loss); lowers the learning rate on a plateau. */
  step(metric: number): void {
    if (typeof metric !== 'number' || Number.isNaN(metric))
      throw new TypeError(`ReduceLROnPlateau.step: metric: expected a number, got ${describe(metric)}`);
    if (this.#better(metric)) {
      this.best = metric;
      this.badEpochs = 0;
    } else this.badEpochs += 1;
    if (this.#cooldownLeft > 0) {
      this.#cooldownLeft -= 1;
      this.badEpochs = 0;
    }
    if (this.badEpochs > this.patience) {
      for (const g of this.optimizer.paramGroups) {
        const lr = Math.max(g.lr * this.factor, this.minLr);
        // PyTorch skips changes smaller than eps = 1e-8
        if (g.lr - lr > 1e-8) g.lr = lr;
      }
      this.#cooldownLeft = this.cooldown;
      this.badEpochs = 0;
    }
  }
}
