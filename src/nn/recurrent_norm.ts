// The normalizations inside the BN-LSTM and the LN-LSTM (src/autograd/recurrent_norm.ts runs them):
// StepBatchNorm keeps separate running statistics for each time step up to tMax (Cooijmans et al.
// 2016: "steps past T_max use the statistics of T_max"), LayerNorm is the package's own.
// see: https://arxiv.org/abs/1603.09025 (§3, eq. 6–8 and the initialisation of γ to 0.1)
import { Parameter, Tensor } from '../tensor';
import { mul, reshape } from '../autograd/functional';
import { swap01 } from '../autograd/recurrent';
import type { CellNorms } from '../autograd/recurrent_norm';
import { batchNorm } from './functional';
import { layerNorm } from './norm_functional';
import { LayerNorm } from './norms';
import { Allocations, Module, type StateEntry } from './module';
import type { Resized } from './state_dict';

// not a one-tensor layer: the LSTM drives step() and allSteps(); at run time a Module (stateDict, dispose)
const ModuleBase = Module as unknown as abstract new () => Omit<Module, 'forward'>;

/**
 * Batch Normalization over [M, C] rows with its running mean and variance kept per time step:
 * `running_mean` and `running_var` are [tMax, C] (row t for step t). γ starts at 0.1 (Cooijmans et
 * al.: keeps tanh and the sigmoids out of saturation), β at 0; momentum 0.1 and eps 1e-5 as BatchNorm.
 */
export class StepBatchNorm extends ModuleBase {
  /** The public class name that error messages start with. */
  static readonly kind: string = 'StepBatchNorm';
  /** Driven by the LSTM step by step: no one-tensor forward to plan. */
  static planInference = false;
  /** Features per row (C). */
  readonly numFeatures: number;
  /** Weight of the batch statistic in the running update (PyTorch convention). */
  readonly momentum = 0.1;
  /** Added to the variance before the square root. */
  readonly eps = 1e-5;
  /** γ, f32[C], initialised to 0.1. */
  readonly weight: Parameter;
  /** β, f32[C], initialised to 0; null where the LSTM's bias stands in (the two projections). */
  readonly bias: Parameter | null;
  #mean: Tensor;
  #var: Tensor;
  #fixed: boolean;

  /** `tMax` null: one step of statistics until fixTMax() (the first training forward) sizes them. */
  constructor(numFeatures: number, withBias: boolean, tMax: number | null) {
    super();
    this.numFeatures = numFeatures;
    const made = new Allocations();
    try {
      this.weight = made.add(new Parameter([numFeatures], 0.1, 'StepBatchNorm: weight'));
      this.bias = withBias ? made.add(new Parameter([numFeatures], 0, 'StepBatchNorm: bias')) : null;
      this.#mean = made.add(Tensor.full([tMax ?? 1, numFeatures], 0));
      this.#var = made.add(Tensor.full([tMax ?? 1, numFeatures], 1));
    } catch (e) {
      throw made.free(e);
    }
    this.#fixed = tMax !== null;
  }

  /** Time steps with their own running statistics; null until the first training forward fixes it. */
  get tMax(): number | null {
    return this.#fixed ? this.#mean.shape[0] : null;
  }

  /** Sizes the running statistics to `steps` rows (fresh: mean 0, variance 1) unless tMax is already fixed. */
  fixTMax(steps: number): void {
    if (this.#fixed) return;
    const C = this.numFeatures;
    const m = Tensor.full([steps, C], 0);
    let v: Tensor;
    try {
      v = Tensor.full([steps, C], 1);
    } catch (e) {
      m.dispose();
      throw e;
    }
    this.#mean.dispose();
    this.#var.dispose();
    this.#mean = m;
    this.#var = v;
    this.#fixed = true;
  }

  /** Before a load while tMax is not fixed: the running statistics sized to the loaded rows, tMax fixed by them. */
  sizeForState(lengthOf: (local: string) => number | undefined): Resized | null {
    const n = lengthOf('running_mean');
    const C = this.numFeatures;
    // other lengths are left to the load's own checks, which report them
    if (this.#fixed || n === undefined || n === 0 || n % C !== 0) return null;
    const old: [Tensor, Tensor] = [this.#mean, this.#var];
    const steps = n / C;
    if (steps !== old[0].shape[0]) {
      const m = Tensor.full([steps, C], 0);
      try {
        this.#var = Tensor.full([steps, C], 1);
      } catch (e) {
        m.dispose();
        throw e;
      }
      this.#mean = m;
    }
    this.#fixed = true;
    return {
      commit: () => {
        if (this.#mean !== old[0]) old.forEach((t) => t.dispose());
      },
      undo: () => {
        if (this.#mean !== old[0]) {
          this.#mean.dispose();
          this.#var.dispose();
          [this.#mean, this.#var] = old;
        }
        this.#fixed = false;
      },
    };
  }

  protected ownParameters(): [string, Parameter][] {
    return this.bias === null
      ? [['weight', this.weight]]
      : [
          ['weight', this.weight],
          ['bias', this.bias],
        ];
  }

  protected ownState(): StateEntry[] {
    const params: StateEntry[] = [{ name: 'weight', tensor: this.weight }];
    if (this.bias !== null) params.push({ name: 'bias', tensor: this.bias });
    return [...params, { name: 'running_mean', tensor: this.#mean }, { name: 'running_var', tensor: this.#var }];
  }

  /** Settings in the printed line. */
  extraRepr = (): string => `${this.numFeatures}, tMax=${this.tMax ?? 'null'}${this.bias === null ? ', bias=false' : ''}`;

  /** The running statistics of steps 0…steps − 1 (steps past tMax: its last row), as [steps·C] copies. */
  #rows(steps: number): [Tensor, Tensor] {
    const C = this.numFeatures,
      last = this.#mean.shape[0] - 1;
    const m = Tensor.empty([steps * C]);
    let v: Tensor;
    try {
      v = Tensor.empty([steps * C]);
    } catch (e) {
      m.dispose();
      throw e;
    }
    const M = m.view(),
      V = v.view(),
      RM = this.#mean.view(),
      RV = this.#var.view();
    for (let s = 0; s < steps; s++) {
      const r = Math.min(s, last);
      M.set(RM.subarray(r * C, (r + 1) * C), s * C);
      V.set(RV.subarray(r * C, (r + 1) * C), s * C);
    }
    return [m, v];
  }

  /** Writes back the running statistics of steps `first`… that have their own row. */
  #store(m: Tensor, v: Tensor, first: number, steps: number): void {
    const C = this.numFeatures,
      rows = this.#mean.shape[0];
    const n = Math.min(steps, rows - first);
    if (n <= 0) return;
    this.#mean.view().set(m.view().subarray(0, n * C), first * C);
    this.#var.view().set(v.view().subarray(0, n * C), first * C);
  }

  /** BN of x [M, C], the rows of step t: batch statistics (and step t's running update) in training, step t's running ones in eval. */
  step(x: Tensor, t: number, training: boolean): Tensor {
    const [m, v] = this.#rowsFrom(t);
    try {
      const y = batchNorm(x, m, v, { weight: this.weight, bias: this.bias, training, momentum: this.momentum, eps: this.eps });
      if (training) this.#store(m, v, t, 1);
      return y;
    } finally {
      m.dispose();
      v.dispose();
    }
  }

  #rowsFrom(t: number): [Tensor, Tensor] {
    const C = this.numFeatures,
      r = Math.min(t, this.#mean.shape[0] - 1);
    const m = Tensor.empty([C]);
    let v: Tensor;
    try {
      v = Tensor.empty([C]);
    } catch (e) {
      m.dispose();
      throw e;
    }
    m.view().set(this.#mean.view().subarray(r * C, (r + 1) * C));
    v.view().set(this.#var.view().subarray(r * C, (r + 1) * C));
    return [m, v];
  }

  /**
   * BN of p [T·N, C] (T steps of N rows), each step with its own statistics, in one pass: as [N, T·C]
   * the channels are (step, feature) pairs, so BN's per-channel statistics over N are each step's.
   */
  allSteps(p: Tensor, T: number, N: number, training: boolean): Tensor {
    const C = this.numFeatures;
    const [m, v] = this.#rows(T);
    try {
      const xr = swap01(p, [T, N, C], [N, T * C]);
      const y = batchNorm(xr, m, v, { training, momentum: this.momentum, eps: this.eps });
      if (training) this.#store(m, v, 0, T);
      // γ is shared by the steps: applied after, broadcast over [N, T, C]
      return swap01(mul(reshape(y, [N, T, C]), this.weight), [N, T, C], [T * N, C]);
    } finally {
      m.dispose();
      v.dispose();
    }
  }
}

/** The three BatchNorms of one BN-LSTM layer and the three LayerNorms of one LN-LSTM layer, by their names' stems. */
export type LayerNorms =
  | { kind: 'recurrent-bn'; ih: StepBatchNorm; hh: StepBatchNorm; c: StepBatchNorm }
  | { kind: 'layer'; ih: LayerNorm; hh: LayerNorm; c: LayerNorm };

/** A BN-LSTM layer's norms: γ only on the projections (their β is the LSTM bias), γ and β on the cell. */
export function makeBNNorms(H: number, tMax: number | null, made: Allocations): LayerNorms {
  return {
    kind: 'recurrent-bn',
    ih: made.add(new StepBatchNorm(4 * H, false, tMax)),
    hh: made.add(new StepBatchNorm(4 * H, false, tMax)),
    c: made.add(new StepBatchNorm(H, true, tMax)),
  };
}

/** An LN-LSTM layer's norms, gain 1 and bias 0 (Ba et al. 2016). */
export function makeLNNorms(H: number, made: Allocations): LayerNorms {
  return { kind: 'layer', ih: made.add(new LayerNorm(4 * H)), hh: made.add(new LayerNorm(4 * H)), c: made.add(new LayerNorm(H)) };
}

/** The CellNorms that normLayer calls, for one forward in `training` mode (`stepwise`: lengths given, x's BN step by step). */
export function cellNorms(n: LayerNorms, training: boolean, stepwise: boolean): CellNorms {
  if (n.kind === 'layer') {
    const ln = (m: LayerNorm) => (x: Tensor) => layerNorm(x, [x.shape[1]], { weight: m.weight, bias: m.bias });
    const [ih, hh, c] = [ln(n.ih), ln(n.hh), ln(n.c)];
    return {
      params: [n.ih, n.hh, n.c].flatMap((m) => [m.weight, m.bias].filter((p): p is Parameter => p !== null)),
      xAll: (p) => ih(p),
      xStep: (p) => p,
      hStep: (p) => hh(p),
      cStep: (x) => c(x),
    };
  }
  const { ih, hh, c } = n;
  return {
    params: [ih.weight, hh.weight, c.weight, c.bias!],
    xAll: (p, T, N) => (stepwise ? null : ih.allSteps(p, T, N, training)),
    xStep: (p, t) => ih.step(p, t, training),
    hStep: (p, t) => hh.step(p, t, training),
    cStep: (x, t) => c.step(x, t, training),
  };
}
