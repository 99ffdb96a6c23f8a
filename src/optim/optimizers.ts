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

/** Parameters that share a learning rate and weight decay (PyTorch's param_groups); unset values are the optimizer's. */
export interface ParamGroup {
  params: readonly Parameter[];
  lr?: number;
  weightDecay?: number;
}

/** A group as the optimizer holds it; schedulers set `lr`. */
export interface GroupState {
  readonly params: readonly Parameter[];
  lr: number;
  /** undefined: the optimizer's weightDecay. */
  readonly weightDecay: number | undefined;
}

/** What `stateDict()` gives and `loadStateDict()` takes: per-parameter state by index, as PyTorch's. */
export interface OptimizerState {
  steps: number;
  paramGroups: { lr: number; weightDecay?: number; params: number[] }[];
  state: Record<number, Record<string, Float32Array>>;
}

/** The base of every optimizer (PyTorch's torch.optim.Optimizer): parameter groups, zeroGrad, step, stateDict. */
export abstract class Optimizer {
  /** The public class name that error messages start with (minifiers rename classes, not strings). */
  static readonly kind: string = 'Optimizer';
  /** Every parameter, in group order. */
  readonly params: readonly Parameter[];
  /** The parameter groups with their learning rate and weight decay (PyTorch's param_groups). */
  readonly paramGroups: readonly GroupState[];
  /** Steps taken. */
  steps = 0;
  #disposed = false;
  #group: number[];

  constructor(params: readonly Parameter[] | readonly ParamGroup[], lr: number) {
    const where = kindOf(new.target);
    if (!Array.isArray(params))
      throw new TypeError(`${where}: params: expected an array of Parameters (model.parameters()), got ${describe(params)}`);
    const defaultLr = checkPositive(where, 'lr', lr);
    const grouped =
      params.length > 0 && params.every((g) => g !== null && typeof g === 'object' && !(g instanceof Tensor) && 'params' in g);
    const input: ParamGroup[] = grouped ? (params as ParamGroup[]) : [{ params: params as Parameter[] }];
    const groups = input.map((g, k): GroupState => {
      const at = grouped ? `params[${k}]` : 'params';
      if (grouped) checkOptions(`${where}: ${at}`, g, ['params', 'lr', 'weightDecay']);
      if (!Array.isArray(g.params))
        throw new TypeError(`${where}: ${at}.params: expected an array of Parameters, got ${describe(g.params)}`);
      g.params.forEach((p, i) => {
        if (!(p instanceof Parameter))
          throw new TypeError(`${where}: ${grouped ? `${at}.params` : 'params'}[${i}]: expected a Parameter, got ${describe(p)}`);
      });
      const glr = g.lr === undefined ? defaultLr : checkPositive(where, `${at}.lr`, g.lr);
      const wd = g.weightDecay === undefined ? undefined : checkNonNegative(where, `${at}.weightDecay`, g.weightDecay);
      return { params: Object.freeze([...g.params]), lr: glr, weightDecay: wd };
    });
    const flat = groups.flatMap((g) => g.params);
    // an empty list is almost always a model whose layers were not found: training nothing silently is worse
    if (flat.length === 0)
      throw new RangeError(
        `${where}: params: expected at least one Parameter, got an empty array (does the model's parameters() find its layers?)`,
      );
    if (new Set(flat).size !== flat.length) throw new Error(`${where}: params: a parameter appears more than once`);
    this.params = Object.freeze(flat);
    this.paramGroups = Object.freeze(groups);
    this.#group = groups.flatMap((g, k) => g.params.map(() => k));
  }

  /** The learning rate of the first group; setting it sets every group's (schedulers set each group). */
  get lr(): number {
    return this.paramGroups[0].lr;
  }
  set lr(v: number) {
    for (const g of this.paramGroups) g.lr = v;
  }

  /** The group of parameter i (by index in `params`). */
  protected groupOf(i: number): GroupState {
    return this.paramGroups[this.#group[i]];
  }

  /** The optimizer's state per parameter, by PyTorch's names (e.g. momentum_buffer, exp_avg). */
  protected stateTensors(): Record<string, readonly Tensor[]> {
    return {};
  }

  /** Copies of the steps taken, the groups' learning rates and every state buffer (PyTorch's layout). */
  stateDict(): OptimizerState {
    const named = Object.entries(this.stateTensors());
    const state: OptimizerState['state'] = {};
    this.params.forEach((_, i) => {
      state[i] = Object.fromEntries(named.map(([name, list]) => [name, list[i].toArray()]));
    });
    let at = 0;
    const paramGroups = this.paramGroups.map((g) => {
      const params = g.params.map(() => at++);
      return g.weightDecay === undefined ? { lr: g.lr, params } : { lr: g.lr, weightDecay: g.weightDecay, params };
    });
    return { steps: this.steps, paramGroups, state };
  }

  /** Restores a stateDict(): every group, index, name and length is checked before anything is written. */
  loadStateDict(sd: OptimizerState): void {
    const where = `${kindOf(this.constructor)}.loadStateDict`;
    if (sd === null || typeof sd !== 'object') throw new TypeError(`${where}: state: expected an object, got ${describe(sd)}`);
    if (!Number.isSafeInteger(sd.steps) || sd.steps < 0)
      throw new TypeError(`${where}: steps: expected a non-negative integer, got ${describe(sd.steps)}`);
    if (!Array.isArray(sd.paramGroups) || sd.paramGroups.length !== this.paramGroups.length) {
      throw new RangeError(`${where}: paramGroups: expected ${this.paramGroups.length} groups, got ${describe(sd.paramGroups)}`);
    }
    sd.paramGroups.forEach((g, k) => {
      if (g === null || typeof g !== 'object' || !Array.isArray(g.params) || g.params.length !== this.paramGroups[k].params.length) {
        throw new RangeError(
          `${where}: paramGroups[${k}]: expected ${this.paramGroups[k].params.length} parameters, got ${describe(g?.params)}`,
        );
      }
      checkPositive(where, `paramGroups[${k}].lr`, g.lr);
    });
    const named = Object.entries(this.stateTensors());
    if (sd.state === null || typeof sd.state !== 'object')
      throw new TypeError(`${where}: state: expected an object, got ${describe(sd.state)}`);
    this.params.forEach((p, i) => {
      const entry = sd.state[i];
      if (entry === null || typeof entry !== 'object')
        throw new TypeError(`${where}: state[${i}]: expected an object, got ${describe(entry)}`);
      for (const [name] of named) {
        const v = entry[name];
        if (!(v instanceof Float32Array) || v.length !== p.size)
          throw new TypeError(`${where}: state[${i}].${name}: expected a Float32Array(${p.size}), got ${describe(v)}`);
      }
      for (const key of Object.keys(entry))
        if (!named.some(([n]) => n === key)) throw new TypeError(`${where}: state[${i}]: unknown entry '${key}'`);
    });
    this.steps = sd.steps;
    sd.paramGroups.forEach((g, k) => (this.paramGroups[k].lr = g.lr));
    this.params.forEach((_, i) => {
      for (const [name, list] of named) list[i].view().set(sd.state[i][name]);
    });
  }

  /** Applies one update to every parameter from its gradient. */
  step(): void {
    const where = `${kindOf(this.constructor)}.step`;
    if (this.#disposed) throw new Error(`${where}: the optimizer was disposed`);
    this.paramGroups.forEach((g, k) => checkNonNegative(where, this.paramGroups.length > 1 ? `paramGroups[${k}].lr` : 'lr', g.lr));
    this.params.forEach((p, i) => checkTensor(where, `params[${i}]`, p));
    // every parameter is stepped, with a zero gradient where no backward reached it (weight decay and
    // momentum still act). A trainable one gets its own zero .grad now; a frozen one (requiresGrad
    // false) shares one zero block freed after the step, so it never holds one. Both are had before
    // any parameter moves.
    let frozen = 0;
    for (const p of this.params) {
      if (p._grad !== null) continue;
      if (p.requiresGrad) void p.grad;
      else frozen = Math.max(frozen, p.size);
    }
    const zero = frozen > 0 ? Tensor.full([frozen], 0) : null;
    try {
      this.steps += 1;
      this.params.forEach((p, i) => this.update(p, i, p._grad ?? zero!));
    } finally {
      zero?.dispose();
    }
  }

  /** The update rule for parameter i; `grad` is its gradient (p.grad, or zeros for a frozen parameter that has none). */
  protected abstract update(p: Parameter, i: number, grad: Tensor): void;

  /** Sets every gradient to zero (one not allocated yet stays so: it is zero when first read). */
  zeroGrad(): void {
    for (const p of this.params) p._grad?.view().fill(0);
  }

  /** Frees the optimizer's state; step() then throws. */
  dispose(): void {
    this.#disposed = true;
  }
}

/** Options of SGD (PyTorch's torch.optim.SGD keyword arguments). */
export interface SGDOptions {
  /** Learning rate (required, as in PyTorch). */
  lr: number;
  /** Momentum factor μ ≥ 0. Default 0 (plain SGD). */
  momentum?: number;
  /** Dampening τ of the momentum, in [0, 1]. Default 0. */
  dampening?: number;
  /** L2 penalty added to the gradient (PyTorch's weight_decay). Default 0. */
  weightDecay?: number;
  /** Nesterov momentum. Default false. */
  nesterov?: boolean;
}

/** Stochastic gradient descent with optional momentum, dampening, Nesterov and weight decay. */
export class SGD extends Optimizer {
  static readonly kind: string = 'SGD';
  /** Momentum factor μ. */
  readonly momentum: number;
  /** Dampening τ of the momentum. */
  readonly dampening: number;
  /** L2 penalty added to the gradient (PyTorch's weight_decay). */
  readonly weightDecay: number;
  /** Nesterov momentum on or off. */
  readonly nesterov: boolean;
  #buffers: Tensor[];

  constructor(params: readonly Parameter[] | readonly ParamGroup[], options: SGDOptions) {
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

  protected update(p: Parameter, i: number, grad: Tensor): void {
    const buf = this.momentum !== 0 ? this.#buffers[i].ptr : 0;
    const g = this.groupOf(i);
    sgdStep(
      p.ptr,
      grad.ptr,
      buf,
      p.size,
      g.lr,
      this.momentum,
      this.dampening,
      g.weightDecay ?? this.weightDecay,
      this.nesterov,
      this.steps === 1,
    );
  }

  protected stateTensors(): Record<string, readonly Tensor[]> {
    return this.momentum !== 0 ? { momentum_buffer: this.#buffers } : {};
  }

  dispose(): void {
    super.dispose();
    for (const b of this.#buffers) b.dispose();
  }
}

/** Options of Adam and AdamW (PyTorch's keyword arguments). */
export interface AdamOptions {
  /** Learning rate. Default 1e-3. */
  lr?: number;
  /** Decay rates (β1, β2) of the first and second moment estimates. Default [0.9, 0.999]. */
  betas?: [number, number];
  /** Added to the denominator √v̂ for stability. Default 1e-8. */
  eps?: number;
  /** Weight decay: an L2 term in the gradient for Adam (default 0), decoupled for AdamW (default 0.01). */
  weightDecay?: number;
}

/** Adam; weight decay added to the gradient (L2). */
export class Adam extends Optimizer {
  static readonly kind: string = 'Adam';
  /** Decay rates (β1, β2) of the moment estimates. */
  readonly betas: [number, number];
  /** Added to the denominator √v̂ for stability. */
  readonly eps: number;
  /** Weight decay (L2 for Adam, decoupled for AdamW). */
  readonly weightDecay: number;
  protected readonly decoupled: boolean = false;
  #m: Tensor[];
  #v: Tensor[];

  constructor(params: readonly Parameter[] | readonly ParamGroup[], options: AdamOptions = {}, defaultWeightDecay = 0) {
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

  protected update(p: Parameter, i: number, grad: Tensor): void {
    adamStep(
      p.ptr,
      grad.ptr,
      this.#m[i].ptr,
      this.#v[i].ptr,
      p.size,
      this.groupOf(i).lr,
      this.betas[0],
      this.betas[1],
      this.eps,
      this.groupOf(i).weightDecay ?? this.weightDecay,
      this.decoupled,
      this.steps,
    );
  }

  protected stateTensors(): Record<string, readonly Tensor[]> {
    return { exp_avg: this.#m, exp_avg_sq: this.#v };
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
  constructor(params: readonly Parameter[] | readonly ParamGroup[], options: AdamOptions = {}) {
    super(params, options, 0.01);
  }
}
