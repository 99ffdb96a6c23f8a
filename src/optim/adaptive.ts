// Optimizers with per-element adaptive step sizes: RMSprop, Adagrad, Adadelta, PyTorch's rules and
// defaults, each a small update rule in WASM over state allocated once.
// see: https://pytorch.org/docs/stable/generated/torch.optim.RMSprop.html, Adagrad.html, Adadelta.html
import { Parameter, Tensor } from '../tensor';
import { adadeltaStep, adagradStep, rmspropStep } from '../kernels/optim';
import { checkBool, checkOptions, checkPositive, checkUnit } from '../validate';
import { checkNonNegative, Optimizer, zerosLike, type ParamGroup } from './optimizers';

/** Allocates each state list in turn; frees the lists made if a later one cannot be had. */
function states(params: readonly Parameter[], count: number, fill = 0): Tensor[][] {
  const made: Tensor[][] = [];
  try {
    for (let i = 0; i < count; i++) {
      const list = zerosLike(params);
      if (fill !== 0) for (const t of list) t.view().fill(fill);
      made.push(list);
    }
  } catch (e) {
    for (const list of made) for (const t of list) t.dispose();
    throw e;
  }
  return made;
}

/** Options of RMSprop (PyTorch's torch.optim.RMSprop keyword arguments). */
export interface RMSpropOptions {
  /** Learning rate. Default 1e-2. */
  lr?: number;
  /** Smoothing constant of the running average of squared gradients, in [0, 1]. Default 0.99. */
  alpha?: number;
  /** Added to the denominator for stability. Default 1e-8. */
  eps?: number;
  /** L2 penalty added to the gradient (PyTorch's weight_decay). Default 0. */
  weightDecay?: number;
  /** Momentum factor ≥ 0. Default 0. */
  momentum?: number;
  /** Divide by an estimate of the gradient's variance (its running mean subtracted) instead of its second moment. Default false. */
  centered?: boolean;
}

/** RMSprop (Hinton's lecture 6e): steps scaled by a running RMS of the gradient; optionally centered, with momentum. */
export class RMSprop extends Optimizer {
  static readonly kind: string = 'RMSprop';
  /** Smoothing constant of the squared-gradient average. */
  readonly alpha: number;
  /** Added to the denominator for stability. */
  readonly eps: number;
  /** L2 penalty added to the gradient. */
  readonly weightDecay: number;
  /** Momentum factor. */
  readonly momentum: number;
  /** Centred variant on or off. */
  readonly centered: boolean;
  #state: Tensor[][];

  constructor(params: readonly Parameter[] | readonly ParamGroup[], options: RMSpropOptions = {}) {
    const where = 'RMSprop';
    checkOptions(where, options, ['lr', 'alpha', 'eps', 'weightDecay', 'momentum', 'centered']);
    super(params, options.lr ?? 1e-2);
    this.alpha = checkUnit(where, 'alpha', options.alpha ?? 0.99);
    this.eps = checkPositive(where, 'eps', options.eps ?? 1e-8);
    this.weightDecay = checkNonNegative(where, 'weightDecay', options.weightDecay ?? 0);
    this.momentum = checkNonNegative(where, 'momentum', options.momentum ?? 0);
    this.centered = checkBool(where, 'centered', options.centered ?? false);
    // the squared average, then the average (centered) and the momentum buffer, where used
    this.#state = states(this.params, 1 + (this.centered ? 1 : 0) + (this.momentum !== 0 ? 1 : 0));
  }

  protected update(p: Parameter, i: number, grad: Tensor): void {
    const { v, avg, buf } = this.#named();
    const g = this.groupOf(i);
    rmspropStep(
      p.ptr,
      grad.ptr,
      v[i].ptr,
      avg ? avg[i].ptr : 0,
      buf ? buf[i].ptr : 0,
      p.size,
      g.lr,
      this.alpha,
      this.eps,
      g.weightDecay ?? this.weightDecay,
      this.momentum,
      this.centered,
    );
  }

  /** The state lists by role: the squared average, the average (centered), the momentum buffer. */
  #named(): { v: Tensor[]; avg: Tensor[] | null; buf: Tensor[] | null } {
    const [v, ...rest] = this.#state;
    return { v, avg: this.centered ? rest[0] : null, buf: this.momentum !== 0 ? rest[this.centered ? 1 : 0] : null };
  }

  protected stateTensors(): Record<string, readonly Tensor[]> {
    const { v, avg, buf } = this.#named();
    return { square_avg: v, ...(avg ? { grad_avg: avg } : {}), ...(buf ? { momentum_buffer: buf } : {}) };
  }

  dispose(): void {
    super.dispose();
    for (const list of this.#state) for (const t of list) t.dispose();
  }
}

/** Options of Adagrad (PyTorch's torch.optim.Adagrad keyword arguments). */
export interface AdagradOptions {
  /** Learning rate. Default 1e-2. */
  lr?: number;
  /** Learning-rate decay: step t uses lr / (1 + (t − 1)·lrDecay) (PyTorch's lr_decay). Default 0. */
  lrDecay?: number;
  /** L2 penalty added to the gradient (PyTorch's weight_decay). Default 0. */
  weightDecay?: number;
  /** Starting value of the sum of squared gradients (PyTorch's initial_accumulator_value). Default 0. */
  initialAccumulatorValue?: number;
  /** Added to the denominator for stability. Default 1e-10. */
  eps?: number;
}

/** Adagrad (Duchi et al. 2011): steps scaled by the root of the sum of all squared gradients so far. */
export class Adagrad extends Optimizer {
  static readonly kind: string = 'Adagrad';
  /** Learning-rate decay per step (PyTorch's lr_decay). */
  readonly lrDecay: number;
  /** L2 penalty added to the gradient. */
  readonly weightDecay: number;
  /** Added to the denominator for stability. */
  readonly eps: number;
  #sum: Tensor[];

  constructor(params: readonly Parameter[] | readonly ParamGroup[], options: AdagradOptions = {}) {
    const where = 'Adagrad';
    checkOptions(where, options, ['lr', 'lrDecay', 'weightDecay', 'initialAccumulatorValue', 'eps']);
    super(params, options.lr ?? 1e-2);
    this.lrDecay = checkNonNegative(where, 'lrDecay', options.lrDecay ?? 0);
    this.weightDecay = checkNonNegative(where, 'weightDecay', options.weightDecay ?? 0);
    this.eps = checkPositive(where, 'eps', options.eps ?? 1e-10);
    const init = checkNonNegative(where, 'initialAccumulatorValue', options.initialAccumulatorValue ?? 0);
    this.#sum = states(this.params, 1, init)[0];
  }

  protected update(p: Parameter, i: number, grad: Tensor): void {
    const g = this.groupOf(i);
    adagradStep(p.ptr, grad.ptr, this.#sum[i].ptr, p.size, g.lr, this.lrDecay, this.eps, g.weightDecay ?? this.weightDecay, this.steps);
  }

  protected stateTensors(): Record<string, readonly Tensor[]> {
    return { sum: this.#sum };
  }

  dispose(): void {
    super.dispose();
    for (const t of this.#sum) t.dispose();
  }
}

/** Options of Adadelta (PyTorch's torch.optim.Adadelta keyword arguments). */
export interface AdadeltaOptions {
  /** Coefficient that scales the update. Default 1. */
  lr?: number;
  /** Decay of the running averages of squared gradients and updates, in [0, 1]. Default 0.9. */
  rho?: number;
  /** Added inside the square roots for stability. Default 1e-6. */
  eps?: number;
  /** L2 penalty added to the gradient (PyTorch's weight_decay). Default 0. */
  weightDecay?: number;
}

/** Adadelta (Zeiler 2012): steps sized by the running RMS of past updates over that of the gradient. */
export class Adadelta extends Optimizer {
  static readonly kind: string = 'Adadelta';
  /** Decay of the running averages. */
  readonly rho: number;
  /** Added inside the square roots for stability. */
  readonly eps: number;
  /** L2 penalty added to the gradient. */
  readonly weightDecay: number;
  #state: Tensor[][];

  constructor(params: readonly Parameter[] | readonly ParamGroup[], options: AdadeltaOptions = {}) {
    const where = 'Adadelta';
    checkOptions(where, options, ['lr', 'rho', 'eps', 'weightDecay']);
    super(params, options.lr ?? 1);
    this.rho = checkUnit(where, 'rho', options.rho ?? 0.9);
    this.eps = checkPositive(where, 'eps', options.eps ?? 1e-6);
    this.weightDecay = checkNonNegative(where, 'weightDecay', options.weightDecay ?? 0);
    this.#state = states(this.params, 2);
  }

  protected update(p: Parameter, i: number, grad: Tensor): void {
    const [v, u] = this.#state;
    const g = this.groupOf(i);
    adadeltaStep(p.ptr, grad.ptr, v[i].ptr, u[i].ptr, p.size, g.lr, this.rho, this.eps, g.weightDecay ?? this.weightDecay);
  }

  protected stateTensors(): Record<string, readonly Tensor[]> {
    return { square_avg: this.#state[0], acc_delta: this.#state[1] };
  }

  dispose(): void {
    super.dispose();
    for (const list of this.#state) for (const t of list) t.dispose();
  }
}
