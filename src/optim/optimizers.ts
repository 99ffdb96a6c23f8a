// Optimizers over a model's parameters: one shared step() loop, a small update rule each (in WASM),
// and state allocated once. Defaults are PyTorch's.
// see: https://github.com/tinygrad/tinygrad/blob/master/tinygrad/nn/optim.py (shape of the code);
//      https://pytorch.org/docs/stable/optim.html
import { Parameter, Tensor } from '../tensor';
import { adamStep, sgdStep } from '../kernels/optim';
import { checkBool, checkOptions, checkPositive, checkTensor, checkUnit, describe, kindOf } from '../validate';

export function checkNonNegative(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw new RangeError(`${where}: ${name}: expected a finite number ≥ 0, got ${describe(v)}`);
  return v;
}

/** Allocates one zero-filled tensor per parameter; frees those made if a later one cannot be had. */
export function zerosLike(params: readonly Parameter[]): Tensor[] {
  const made: Tensor[] = [];
  try {
    for (const p of params) made.push(Tensor.full(p.shape, 0));
  } catch (e) {
    for (const t of made) t.dispose();
    throw e;
  }
  return made;
}

export abstract class Optimizer {
  /** The public class name that error messages start with (minifiers rename classes, not strings). */
  static readonly kind: string = 'Optimizer';
  readonly params: readonly Parameter[];
  /** Learning rate; schedulers change it between steps. */
  lr: number;
  /** Steps taken. */
  steps = 0;
  #disposed = false;

  constructor(params: readonly Parameter[], lr: number) {
    const where = kindOf(new.target);
    if (!Array.isArray(params))
      throw new TypeError(`${where}: params: expected an array of Parameters (model.parameters()), got ${describe(params)}`);
    params.forEach((p, i) => {
      if (!(p instanceof Parameter)) throw new TypeError(`${where}: params[${i}]: expected a Parameter, got ${describe(p)}`);
    });
    // an empty list is almost always a model whose layers were not found: training nothing silently is worse
    if (params.length === 0)
      throw new RangeError(
        `${where}: params: expected at least one Parameter, got an empty array (does the model's parameters() find its layers?)`,
      );
    if (new Set(params).size !== params.length) throw new Error(`${where}: params: a parameter appears more than once`);
    this.params = Object.freeze([...params]);
    this.lr = checkPositive(where, 'lr', lr);
  }

  /** Applies one update to every parameter from its gradient. */
  step(): void {
    const where = `${kindOf(this.constructor)}.step`;
    if (this.#disposed) throw new Error(`${where}: the optimizer was disposed`);
    checkNonNegative(where, 'lr', this.lr);
    this.params.forEach((p, i) => checkTensor(where, `params[${i}]`, p));
    this.steps += 1;
    this.params.forEach((p, i) => this.update(p, i));
  }

  /** The update rule for parameter i. */
  protected abstract update(p: Parameter, i: number): void;

  /** Sets every gradient to zero. */
  zeroGrad(): void {
    for (const p of this.params) p.grad.view().fill(0);
  }

  /** Frees the optimizer's state; step() then throws. */
  dispose(): void {
    this.#disposed = true;
  }
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** Stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay. */
export class SGD extends Optimizer {
  static readonly kind: string = 'SGD';
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  #buffers: Tensor[];

  constructor(params: readonly Parameter[], options: SGDOptions) {
    checkOptions('SGD', options, ['lr', 'momentum', 'dampening', 'weightDecay', 'nesterov']);
    super(params, options.lr);
    this.momentum = checkNonNegative('SGD', 'momentum', options.momentum ?? 0);
    this.dampening = checkUnit('SGD', 'dampening', options.dampening ?? 0);
    this.weightDecay = checkNonNegative('SGD', 'weightDecay', options.weightDecay ?? 0);
    this.nesterov = checkBool('SGD', 'nesterov', options.nesterov ?? false);
    if (this.nesterov && (this.momentum === 0 || this.dampening !== 0))
      throw new RangeError('SGD: nesterov: needs momentum > 0 and dampening 0');
    this.#buffers = this.momentum !== 0 ? zerosLike(this.params) : [];
  }

  protected update(p: Parameter, i: number): void {
    const buf = this.momentum !== 0 ? this.#buffers[i].ptr : 0;
    sgdStep(p.ptr, p.grad.ptr, buf, p.size, this.lr, this.momentum, this.dampening, this.weightDecay, this.nesterov, this.steps === 1);
  }

  dispose(): void {
    super.dispose();
    for (const b of this.#buffers) b.dispose();
  }
}

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** Adam; weight decay added to the gradient (L2). */
export class Adam extends Optimizer {
  static readonly kind: string = 'Adam';
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly decoupled: boolean = false;
  #m: Tensor[];
  #v: Tensor[];

  constructor(params: readonly Parameter[], options: AdamOptions = {}, defaultWeightDecay = 0) {
    const where = kindOf(new.target);
    checkOptions(where, options, ['lr', 'betas', 'eps', 'weightDecay']);
    super(params, options.lr ?? 1e-3);
    const betas = options.betas ?? [0.9, 0.999];
    if (!Array.isArray(betas) || betas.length !== 2 || betas.some((b) => typeof b !== 'number' || !(b >= 0 && b < 1))) {
      throw new RangeError(`${where}: betas: expected two numbers in [0, 1), got ${describe(betas)}`);
    }
    this.betas = [betas[0], betas[1]];
    this.eps = checkPositive(where, 'eps', options.eps ?? 1e-8);
    this.weightDecay = checkNonNegative(where, 'weightDecay', options.weightDecay ?? defaultWeightDecay);
    this.#m = zerosLike(this.params);
    try {
      this.#v = zerosLike(this.params);
    } catch (e) {
      for (const t of this.#m) t.dispose();
      throw e;
    }
  }

  protected update(p: Parameter, i: number): void {
    adamStep(
      p.ptr,
      p.grad.ptr,
      this.#m[i].ptr,
      this.#v[i].ptr,
      p.size,
      this.lr,
      this.betas[0],
      this.betas[1],
      this.eps,
      this.weightDecay,
      this.decoupled,
      this.steps,
    );
  }

  dispose(): void {
    super.dispose();
    for (const t of [...this.#m, ...this.#v]) t.dispose();
  }
}

/** AdamW: Adam with decoupled weight decay (default 0.01). */
export class AdamW extends Adam {
  static readonly kind: string = 'AdamW';
  protected readonly decoupled = true;
  constructor(params: readonly Parameter[], options: AdamOptions = {}) {
    super(params, options, 0.01);
  }
}
