// Losses: forward returns the mean loss as a number and keeps dL/d(input); backward hands it over.
// see: https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html, MSELoss.html
import { Tensor } from '../tensor';
import { mseLoss, softmaxCrossEntropy } from '../kernels/loss';
import { checkOptions, checkTensor, checkUnit, describe, kindOf } from '../validate';

abstract class Loss {
  /** The public class name that error messages start with (minifiers rename classes, not strings). */
  static readonly kind: string = 'Loss';
  #grad: Tensor | null = null;

  /** Keeps the gradient of the last forward, freeing an unclaimed earlier one. */
  protected keep(grad: Tensor): void {
    this.#grad?.dispose();
    this.#grad = grad;
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
  readonly labelSmoothing: number;

  constructor(options: { labelSmoothing?: number } = {}) {
    super();
    checkOptions('CrossEntropyLoss', options, ['labelSmoothing']);
    this.labelSmoothing = checkUnit('CrossEntropyLoss', 'labelSmoothing', options.labelSmoothing ?? 0);
  }

  /** The mean loss; keeps dL/dlogits for backward(). */
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
      if (!Number.isInteger(v) || v < 0 || v >= c)
        throw new RangeError(`${where}: labels[${i}]: expected an integer class in [0, ${c}), got ${describe(v)}`);
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
