// Learning-rate schedules, stepped once per epoch, as PyTorch's StepLR and CosineAnnealingLR.
// see: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.StepLR.html,
//      CosineAnnealingLR.html (the closed form; SGDR, https://arxiv.org/abs/1608.03983)
import { Optimizer } from './optimizers';
import { checkOptions, checkPositive, describe, kindOf } from '../validate';

abstract class Scheduler {
  /** The public class name that error messages start with (minifiers rename classes, not strings). */
  static readonly kind: string = 'Scheduler';
  readonly optimizer: Optimizer;
  readonly baseLr: number;
  epoch = 0;
  /** Checks the optimizer and the options' keys (every check before any field is set). */
  constructor(optimizer: Optimizer, options: object, keys: readonly string[]) {
    const where = kindOf(new.target);
    if (!(optimizer instanceof Optimizer)) throw new TypeError(`${where}: optimizer: expected an Optimizer (SGD, Adam, AdamW), got ${describe(optimizer)}`);
    checkOptions(where, options, keys);
    this.optimizer = optimizer;
    this.baseLr = optimizer.lr;
  }
  /** Advances one epoch and sets optimizer.lr. */
  step(): void {
    this.epoch += 1;
    this.optimizer.lr = this.lrAt(this.epoch);
  }
  protected abstract lrAt(epoch: number): number;
}

/** lr = base · gamma^⌊epoch / stepSize⌋. */
export class StepLR extends Scheduler {
  static readonly kind: string = 'StepLR';
  readonly stepSize: number;
  readonly gamma: number;
  constructor(optimizer: Optimizer, options: { stepSize: number; gamma?: number }) {
    super(optimizer, options, ['stepSize', 'gamma']);
    if (!Number.isInteger(options.stepSize) || options.stepSize < 1) throw new RangeError(`StepLR: stepSize: expected a positive integer, got ${describe(options.stepSize)}`);
    this.stepSize = options.stepSize;
    this.gamma = checkPositive('StepLR', 'gamma', options.gamma ?? 0.1);
  }
  protected lrAt(epoch: number): number {
    return this.baseLr * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** lr = etaMin + (base − etaMin)·(1 + cos(π·epoch/tMax))/2. */
export class CosineAnnealingLR extends Scheduler {
  static readonly kind: string = 'CosineAnnealingLR';
  readonly tMax: number;
  readonly etaMin: number;
  constructor(optimizer: Optimizer, options: { tMax: number; etaMin?: number }) {
    super(optimizer, options, ['tMax', 'etaMin']);
    if (!Number.isInteger(options.tMax) || options.tMax < 1) throw new RangeError(`CosineAnnealingLR: tMax: expected a positive integer, got ${describe(options.tMax)}`);
    this.tMax = options.tMax;
    const etaMin = options.etaMin ?? 0;
    if (typeof etaMin !== 'number' || !(etaMin >= 0)) throw new RangeError(`CosineAnnealingLR: etaMin: expected a number ≥ 0, got ${describe(etaMin)}`);
    this.etaMin = etaMin;
  }
  protected lrAt(epoch: number): number {
    return this.etaMin + ((this.baseLr - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }
}
