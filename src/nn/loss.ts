// Losses: forward returns the loss as a number and keeps dL/d(input); backward hands it over.
// see: https://pytorch.org/docs/stable/nn.html#loss-functions
import { Tensor } from '../tensor';
import * as FL from '../autograd/losses';
import type { Reduction } from '../autograd/losses';
import { mseLoss, softmaxCrossEntropy } from '../kernels/loss';
import { checkOptions, checkTensor, checkUnit, describe, kindOf } from '../validate';

/** What the loss modules share: forward returns the loss, backward the gradient of the last forward. */
abstract class Loss {
  /** The public class name that error messages start with (minifiers rename classes, not strings). */
  static readonly kind: string = 'Loss';
  #grad: Tensor | null = null;

  /** Keeps the gradient of the last forward, freeing an unclaimed earlier one. */
  protected keep(grad: Tensor): void {
    this.#grad?.dispose();
    this.#grad = grad;
  }

  /**
   * Runs an F loss on a copy of `input` that requires a gradient and runs its recorded backward at
   * once (not through the tape: no training step ends); keeps dL/d(input). Returns the loss.
   */
  protected through(loss: (x: Tensor) => Tensor, input: Tensor): number {
    const x = Tensor.empty(input.shape).set(input.view());
    x.requiresGrad = true;
    let y: Tensor | null = null;
    try {
      y = loss(x);
      const v = y.view()[0];
      y._backwardWithinStep();
      this.keep(x.grad!);
      x.grad = null;
      return v;
    } finally {
      y?.dispose();
      x.dispose();
    }
  }

  /** dL/d(input) of the last forward; the caller owns it (dispose it after use). */
  backward(): Tensor {
    const g = this.#grad;
    if (g === null)
      throw new Error(`${kindOf(this.constructor)}.backward: call forward() first (each forward's gradient is handed out once)`);
    this.#grad = null;
    return g;
  }

  /** Frees an unclaimed gradient. */
  dispose(): void {
    this.#grad?.dispose();
    this.#grad = null;
  }
}

/** Softmax cross-entropy over logits [N, C] with integer labels, mean over N, optional label smoothing. */
export class CrossEntropyLoss extends Loss {
  static readonly kind: string = 'CrossEntropyLoss';
  /** Weight s of the uniform distribution mixed into the target, in [0, 1] (PyTorch's label_smoothing). Default 0. */
  readonly labelSmoothing: number;
  /** A weight per class, f32[C] (yours to free); null = 1 each. */
  readonly weight: Tensor | null;
  /** Rows whose label is this index add nothing; undefined = F.crossEntropy's default (−100). */
  readonly ignoreIndex: number | undefined;
  /** 'mean' (default; weighted over the rows not ignored) or 'sum' over the batch. */
  readonly reduction: 'mean' | 'sum';

  /** `weight` (f32[C], yours to free), `ignoreIndex` and `reduction: 'sum'` go through F.crossEntropy. */
  constructor(options: { labelSmoothing?: number; weight?: Tensor | null; ignoreIndex?: number; reduction?: 'mean' | 'sum' } = {}) {
    super();
    const where = 'CrossEntropyLoss';
    checkOptions(where, options, ['labelSmoothing', 'weight', 'ignoreIndex', 'reduction']);
    this.labelSmoothing = checkUnit(where, 'labelSmoothing', options.labelSmoothing ?? 0);
    this.weight = options.weight == null ? null : checkTensor(where, 'weight', options.weight);
    if (options.ignoreIndex !== undefined && !Number.isInteger(options.ignoreIndex))
      throw new TypeError(`${where}: ignoreIndex: expected an integer, got ${describe(options.ignoreIndex)}`);
    this.ignoreIndex = options.ignoreIndex;
    this.reduction = checkReduction(where, options.reduction);
  }

  /** The loss (mean over N unless reduction 'sum'); keeps dL/dlogits for backward(). */
  forward(logits: Tensor, labels: Int32Array | readonly number[]): number {
    const where = 'CrossEntropyLoss.forward';
    checkTensor(where, 'logits', logits);
    if (logits.shape.length !== 2) throw new RangeError(`${where}: logits: expected rank 2 [N, C], got [${logits.shape.join(', ')}]`);
    const [n, c] = logits.shape;
    if (!(labels instanceof Int32Array || Array.isArray(labels)))
      throw new TypeError(`${where}: labels: expected an Int32Array or number[], got ${describe(labels)}`);
    if (labels.length !== n) throw new RangeError(`${where}: labels: expected ${n} labels (one per row of logits), got ${labels.length}`);
    for (let i = 0; i < n; i++) {
      const v = labels[i];
      if (v === this.ignoreIndex) continue;
      if (!Number.isInteger(v) || v < 0 || v >= c)
        throw new RangeError(`${where}: labels[${i}]: expected an integer class in [0, ${c}), got ${describe(v)}`);
    }
    if (this.weight !== null || this.ignoreIndex !== undefined || this.reduction !== 'mean') {
      const o = {
        weight: this.weight,
        ignoreIndex: this.ignoreIndex,
        reduction: this.reduction,
        labelSmoothing: this.labelSmoothing || undefined,
      };
      return this.through((x) => FL.crossEntropy(x, labels, o), logits);
    }
    const grad = Tensor.empty([n, c]);
    try {
      const loss = softmaxCrossEntropy(logits.ptr, labels, n, c, this.labelSmoothing, grad.ptr);
      this.keep(grad);
      return loss;
    } catch (e) {
      grad.dispose();
      throw e;
    }
  }
}

/** Mean squared error between two tensors of the same shape. */
export class MSELoss extends Loss {
  static readonly kind: string = 'MSELoss';
  /** The mean loss; keeps dL/dinput for backward(). */
  forward(input: Tensor, target: Tensor): number {
    const where = 'MSELoss.forward';
    checkTensor(where, 'input', input);
    checkTensor(where, 'target', target);
    if (input.shape.length !== target.shape.length || input.shape.some((v, i) => v !== target.shape[i])) {
      throw new RangeError(`${where}: target: expected shape [${input.shape.join(', ')}] (the input's), got [${target.shape.join(', ')}]`);
    }
    const grad = Tensor.empty(input.shape);
    const loss = mseLoss(input.ptr, target.ptr, input.size, grad.ptr);
    this.keep(grad);
    return loss;
  }
}

function checkReduction(where: string, r: unknown): 'mean' | 'sum' {
  return FL.checkReduction(where, r, false) as 'mean' | 'sum';
}

/** A loss between an input and a target of its shape, computed by an F function. */
abstract class PairLoss extends Loss {
  /** 'mean' (default) or 'sum' over every element. */
  readonly reduction: 'mean' | 'sum';
  constructor(options: { reduction?: 'mean' | 'sum' }, keys: readonly string[] = []) {
    super();
    const where = kindOf(new.target);
    checkOptions(where, options, ['reduction', ...keys]);
    this.reduction = checkReduction(where, options.reduction);
  }
  protected abstract loss(x: Tensor, target: Tensor): Tensor;
  /** The loss; keeps dL/dinput for backward(). */
  forward(input: Tensor, target: Tensor): number {
    const where = `${kindOf(this.constructor)}.forward`;
    checkTensor(where, 'input', input);
    checkTensor(where, 'target', target);
    if (input.shape.length !== target.shape.length || input.shape.some((v, i) => v !== target.shape[i])) {
      throw new RangeError(`${where}: target: expected shape [${input.shape.join(', ')}] (the input's), got [${target.shape.join(', ')}]`);
    }
    return this.through((x) => this.loss(x, target), input);
  }
}

/** Mean (or sum) of |input − target|. */
export class L1Loss extends PairLoss {
  static readonly kind: string = 'L1Loss';
  constructor(options: { reduction?: 'mean' | 'sum' } = {}) {
    super(options);
  }
  protected loss(x: Tensor, t: Tensor): Tensor {
    return FL.l1Loss(x, t, this.reduction);
  }
}

/** Huber loss with β: ½d²/β where |d| < β, else |d| − ½β (PyTorch's SmoothL1Loss). */
export class SmoothL1Loss extends PairLoss {
  static readonly kind: string = 'SmoothL1Loss';
  /** Where the loss turns from quadratic to linear, in |input − target| units; 0 = L1. Default 1. */
  readonly beta: number;
  constructor(options: { reduction?: 'mean' | 'sum'; beta?: number } = {}) {
    super(options, ['beta']);
    const b = options.beta ?? 1;
    if (typeof b !== 'number' || !(b >= 0)) throw new RangeError(`SmoothL1Loss: beta: expected a number ≥ 0, got ${describe(b)}`);
    this.beta = b;
  }
  protected loss(x: Tensor, t: Tensor): Tensor {
    return FL.smoothL1Loss(x, t, this.reduction, this.beta);
  }
}

/** Huber loss with δ: ½d² where |d| < δ, else δ(|d| − ½δ). */
export class HuberLoss extends PairLoss {
  static readonly kind: string = 'HuberLoss';
  /** Where the loss turns from quadratic to linear, in |input − target| units (> 0). Default 1. */
  readonly delta: number;
  constructor(options: { reduction?: 'mean' | 'sum'; delta?: number } = {}) {
    super(options, ['delta']);
    const d = options.delta ?? 1;
    if (typeof d !== 'number' || !(d > 0)) throw new RangeError(`HuberLoss: delta: expected a number > 0, got ${describe(d)}`);
    this.delta = d;
  }
  protected loss(x: Tensor, t: Tensor): Tensor {
    return FL.huberLoss(x, t, this.reduction, this.delta);
  }
}

/** Binary cross-entropy of probabilities in (0, 1) against targets in [0, 1]. */
export class BCELoss extends PairLoss {
  static readonly kind: string = 'BCELoss';
  constructor(options: { reduction?: 'mean' | 'sum' } = {}) {
    super(options);
  }
  protected loss(x: Tensor, t: Tensor): Tensor {
    return FL.binaryCrossEntropy(x, t, this.reduction);
  }
}

/** Binary cross-entropy on logits, stable for large |x| (a sigmoid and BCELoss in one). */
export class BCEWithLogitsLoss extends PairLoss {
  static readonly kind: string = 'BCEWithLogitsLoss';
  constructor(options: { reduction?: 'mean' | 'sum' } = {}) {
    super(options);
  }
  protected loss(x: Tensor, t: Tensor): Tensor {
    return FL.binaryCrossEntropyWithLogits(x, t, this.reduction);
  }
}

/** Negative log-likelihood of log-probabilities [N, C] (e.g. from F.logSoftmax) against class indices. */
export class NLLLoss extends Loss {
  static readonly kind: string = 'NLLLoss';
  /** A weight per class, f32[C] (yours to free); null = 1 each. */
  readonly weight: Tensor | null;
  /** Rows whose target is this index add nothing (PyTorch's ignore_index). Default −100. */
  readonly ignoreIndex: number;
  /** 'mean' (default; weighted over the rows not ignored) or 'sum' over the batch. */
  readonly reduction: 'mean' | 'sum';
  constructor(options: { weight?: Tensor | null; ignoreIndex?: number; reduction?: 'mean' | 'sum' } = {}) {
    super();
    checkOptions('NLLLoss', options, ['weight', 'ignoreIndex', 'reduction']);
    this.weight = options.weight == null ? null : checkTensor('NLLLoss', 'weight', options.weight);
    const ig = options.ignoreIndex ?? -100;
    if (!Number.isInteger(ig)) throw new TypeError(`NLLLoss: ignoreIndex: expected an integer, got ${describe(ig)}`);
    this.ignoreIndex = ig;
    this.reduction = checkReduction('NLLLoss', options.reduction);
  }
  /** The loss; keeps dL/dinput for backward(). */
  forward(logp: Tensor, labels: Int32Array | readonly number[]): number {
    checkTensor('NLLLoss.forward', 'input', logp);
    const o = { weight: this.weight, ignoreIndex: this.ignoreIndex, reduction: this.reduction as Reduction };
    return this.through((x) => FL.nllLoss(x, labels, o), logp);
  }
}
