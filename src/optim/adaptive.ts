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

export interface RMSpropOptions {
  lr?: number;
  alpha?: number;
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  centered?: boolean;
}

/** RMSprop (Hinton's lecture 6e): steps scaled by a running RMS of the gradient; optionally centered, with momentum. */
export class RMSprop extends Optimizer {
  static readonly kind: string = 'RMSprop';
  readonly alpha: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly momentum: number;
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

  protected update(p: Parameter, i: number): void {
    const { v, avg, buf } = this.#named();
    const g = this.groupOf(i);
    rmspropStep(
      p.ptr,
      p.grad.ptr,
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

export interface AdagradOptions {
  lr?: number;
  lrDecay?: number;
  weightDecay?: number;
  initialAccumulatorValue?: number;
  eps?: number;
}

/** Adagrad (Duchi et al. 2011): steps scaled by the root of the sum of all squared gradients so far. */
export class Adagrad extends Optimizer {
  static readonly kind: string = 'Adagrad';
  readonly lrDecay: number;
  readonly weightDecay: number;
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

  protected update(p: Parameter, i: number): void {
    const g = this.groupOf(i);
    adagradStep(p.ptr, p.grad.ptr, this.#sum[i].ptr, p.size, g.lr, this.lrDecay, this.eps, g.weightDecay ?? this.weightDecay, this.steps);
  }

  protected stateTensors(): Record<string, readonly Tensor[]> {
    return { sum: this.#sum };
  }

  dispose(): void {
    super.dispose();
    for (const t of this.#sum) t.dispose();
  }
}

export interface AdadeltaOptions {
  lr?: number;
  rho?: number;
  eps?: number;
  weightDecay?: number;
}

/** Adadelta (Zeiler 2012): steps sized by the running RMS of past updates over that of the gradient. */
export class Adadelta extends Optimizer {
  static readonly kind: string = 'Adadelta';
  readonly rho: number;
  readonly eps: number;
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

  protected update(p: Parameter, i: number): void {
    const [v, u] = this.#state;
    const g = this.groupOf(i);
    adadeltaStep(p.ptr, p.grad.ptr, v[i].ptr, u[i].ptr, p.size, g.lr, this.rho, this.eps, g.weightDecay ?? this.weightDecay);
  }

  protected stateTensors(): Record<string, readonly Tensor[]> {
    return { square_avg: this.#state[0], acc_delta: this.#state[1] };
  }

  dispose(): void {
    super.dispose();
    for (const list of this.#state) for (const t of list) t.dispose();
  }
}
