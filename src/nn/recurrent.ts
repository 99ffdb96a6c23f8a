// RNN, LSTM and GRU with PyTorch's semantics, parameter names, layouts, gate orders and init, so
// that stateDict and safetensors take PyTorch's weights as they are. Each layer of the stack is one
// op on the tape (src/autograd/recurrent.ts): loss.backward() runs backpropagation through time.
// see: https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html, torch.nn.GRU, torch.nn.RNN
import { Parameter, type Tensor } from '../tensor';
import { GATES, type CellKind } from '../autograd/recurrent';
import { checkStackArgs, runStack, type RecurrentOutput, type RecurrentState } from '../autograd/recurrent_stack';
import { defaultGenerator, Generator } from '../random';
import { checkBool, checkOptions, checkUnit, describe } from '../validate';
import { uniform } from './init';
import { Allocations, checkLayerSize, freesItself, Module } from './module';
import { BatchNorm1d } from './batchnorm';
import { runNormStack } from '../autograd/recurrent_norm';
import { cellNorms, makeBNNorms, makeLNNorms, type LayerNorms } from './recurrent_norm';

/** Options of RNN, LSTM and GRU (PyTorch's, by the same names in camelCase). */
export interface RecurrentOptions {
  /** Stacked layers, each reading the one below's output. Default 1. */
  numLayers?: number;
  /** Learn b_ih and b_hh. Default true. */
  bias?: boolean;
  /** Input and output as [N, T, features] instead of [T, N, features]. Default false. */
  batchFirst?: boolean;
  /** Dropout probability on every layer's output but the last's, in training mode. Default 0. */
  dropout?: number;
  /** Generator for the initial weights (U(±1/√H), as PyTorch) and for dropout; default the global one. */
  generator?: Generator;
  /**
   * 'sequence-bn': Batch Normalization of each layer's x·W_ihᵀ with statistics over batch and time
   * (valid steps only when lengths are given), Laurent et al. 2016 / Deep Speech 2; a BatchNorm1d
   * per layer, `bn_ih_l0`, …. LSTM only:
   * 'recurrent-bn': the BN-LSTM of Cooijmans et al. 2016, BN on W_ih·x_t and on W_hh·h_{t−1} (γ only,
   * `bn_ih_l0.weight`, `bn_hh_l0.weight`) and on c_t before the output tanh (`bn_c_l0.weight`, `.bias`),
   * with statistics per time step (`running_mean` and `running_var` [tMax, C], flattened);
   * 'layer': the LN-LSTM of Ba et al. 2016, LayerNorm at the same three places (`ln_ih_l0`, `ln_hh_l0`,
   * `ln_c_l0`, gain and bias each). Default null: none.
   */
  norm?: RecurrentNorm | null;
  /**
   * 'recurrent-bn' only: the time steps with their own running statistics; later steps use the last
   * one's. Default: the length of the first sequence seen in training.
   */
  tMax?: number;
}

/** What normalizes a recurrent layer (see RecurrentOptions.norm). */
export type RecurrentNorm = 'sequence-bn' | 'recurrent-bn' | 'layer';

/** Options of RNN: RecurrentOptions and the nonlinearity. */
export interface RNNOptions extends RecurrentOptions {
  /** 'tanh' (default) or 'relu'. */
  nonlinearity?: 'tanh' | 'relu';
}

// Module's forward takes one tensor and returns one; these take states and return three tensors:
// at run time they are Modules (children(), stateDict, train/eval, dispose), with their own forward type
/** Module, typed without its one-tensor forward. */
const ModuleBase = Module as unknown as abstract new () => Omit<Module, 'forward'>;

/** The shared body of RNN, LSTM and GRU: a stack of one-direction layers of one cell kind. */
abstract class Recurrent extends ModuleBase {
  /** Features per input step. */
  readonly inputSize: number;
  /** Features of the hidden state. */
  readonly hiddenSize: number;
  /** Stacked layers. */
  readonly numLayers: number;
  /** Input and output are [N, T, features]. */
  readonly batchFirst: boolean;
  /** Dropout between layers in training mode. */
  readonly dropout: number;
  /** The parameters by PyTorch's names: weight_ih_l0 [gates·H, I], weight_hh_l0 [gates·H, H], bias_ih_l0, bias_hh_l0, …_l1, …. */
  readonly weights: Readonly<Record<string, Parameter>>;
  /** What normalizes the layer: 'sequence-bn', 'recurrent-bn', 'layer', or null. */
  readonly norm: RecurrentNorm | null;
  readonly #norms: BatchNorm1d[] | null;
  readonly #cellNorms: LayerNorms[] | null;
  readonly #cell: CellKind;
  readonly #gen: Generator;
  readonly #where: string;

  constructor(where: string, cell: CellKind, inputSize: number, hiddenSize: number, options: RNNOptions, allowed: readonly string[]) {
    super();
    this.#where = where;
    for (const [name, v] of [
      ['inputSize', inputSize],
      ['hiddenSize', hiddenSize],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${where}: ${name}: expected a positive integer, got ${describe(v)}`);
    }
    checkOptions(where, options, allowed);
    const L = options.numLayers ?? 1;
    if (!Number.isInteger(L) || L < 1) throw new RangeError(`${where}: numLayers: expected a positive integer, got ${describe(L)}`);
    const bias = checkBool(where, 'bias', options.bias ?? true);
    this.batchFirst = checkBool(where, 'batchFirst', options.batchFirst ?? false);
    this.dropout = checkUnit(where, 'dropout', options.dropout ?? 0);
    const gen = options.generator ?? defaultGenerator;
    if (!(gen instanceof Generator)) throw new TypeError(`${where}: generator: expected a Generator, got ${describe(gen)}`);
    const norm = options.norm ?? null;
    if (norm !== null && norm !== 'sequence-bn' && norm !== 'recurrent-bn' && norm !== 'layer')
      throw new TypeError(`${where}: norm: expected 'sequence-bn', 'recurrent-bn', 'layer' or null, got ${describe(norm)}`);
    if ((norm === 'recurrent-bn' || norm === 'layer') && cell !== 'lstm')
      throw new TypeError(
        `${where}: norm: '${norm}' is for LSTM only (the BN-LSTM and LN-LSTM); expected 'sequence-bn' or null, got '${norm}'`,
      );
    const tMax = options.tMax ?? null;
    if (tMax !== null && norm !== 'recurrent-bn')
      throw new TypeError(`${where}: tMax: only norm 'recurrent-bn' keeps statistics per step, got tMax with norm ${describe(norm)}`);
    if (tMax !== null && (!Number.isInteger(tMax) || tMax < 1))
      throw new RangeError(`${where}: tMax: expected a positive integer, got ${describe(tMax)}`);
    this.norm = norm;
    const gH = GATES[cell] * hiddenSize;
    const floats = Array.from({ length: L }, (_, l) => gH * ((l === 0 ? inputSize : hiddenSize) + hiddenSize + (bias ? 2 : 0))).reduce(
      (a, b) => a + b,
      0,
    );
    checkLayerSize(where, 'hiddenSize', hiddenSize, 2 * floats);
    this.inputSize = inputSize;
    this.hiddenSize = hiddenSize;
    this.numLayers = L;
    this.#cell = cell;
    this.#gen = gen;
    const made = new Allocations();
    const weights: Record<string, Parameter> = {};
    try {
      for (let l = 0; l < L; l++) {
        const inF = l === 0 ? inputSize : hiddenSize;
        weights[`weight_ih_l${l}`] = made.add(new Parameter([gH, inF], 0, `${where}: weight_ih_l${l}`));
        weights[`weight_hh_l${l}`] = made.add(new Parameter([gH, hiddenSize], 0, `${where}: weight_hh_l${l}`));
        if (bias) {
          weights[`bias_ih_l${l}`] = made.add(new Parameter([gH], 0, `${where}: bias_ih_l${l}`));
          weights[`bias_hh_l${l}`] = made.add(new Parameter([gH], 0, `${where}: bias_hh_l${l}`));
        }
      }
    } catch (e) {
      throw made.free(e);
    }
    let norms: BatchNorm1d[] | null = null;
    let cells: LayerNorms[] | null = null;
    try {
      if (norm === 'sequence-bn') norms = Array.from({ length: L }, () => made.add(new BatchNorm1d(gH)));
      if (norm === 'recurrent-bn') cells = Array.from({ length: L }, () => makeBNNorms(hiddenSize, tMax, made));
      if (norm === 'layer') cells = Array.from({ length: L }, () => makeLNNorms(hiddenSize, made));
    } catch (e) {
      throw made.free(e);
    }
    this.#norms = norms;
    this.#cellNorms = cells;
    // PyTorch's reset_parameters: every parameter U(−1/√H, 1/√H), in state_dict order
    const k = 1 / Math.sqrt(hiddenSize);
    for (const p of Object.values(weights)) uniform(p, -k, k, gen);
    this.weights = weights;
  }

  protected ownParameters(): [string, Parameter][] {
    return Object.entries(this.weights);
  }

  /** The normalizations: sequence-wise `bn_ih_l0`, …; BN-LSTM `bn_ih_l0`, `bn_hh_l0`, `bn_c_l0`, …; LN-LSTM `ln_…`; none without `norm`. */
  children = (): [string, Module][] => {
    if (this.#norms !== null) return this.#norms.map((m, l): [string, Module] => [`bn_ih_l${l}`, m]);
    if (this.#cellNorms === null) return [];
    const stem = this.norm === 'layer' ? 'ln' : 'bn';
    return this.#cellNorms.flatMap((n, l) =>
      (['ih', 'hh', 'c'] as const).map((k): [string, Module] => [`${stem}_${k}_l${l}`, n[k] as unknown as Module]),
    );
  };

  /** This layer's settings in its printed line. */
  extraRepr = (): string => {
    const parts = [`${this.inputSize}`, `${this.hiddenSize}`];
    if (this.numLayers !== 1) parts.push(`numLayers=${this.numLayers}`);
    if (!('bias_ih_l0' in this.weights)) parts.push('bias=false');
    if (this.batchFirst) parts.push('batchFirst=true');
    if (this.dropout !== 0) parts.push(`dropout=${this.dropout}`);
    if (this.#cell === 'rnn_relu') parts.push("nonlinearity='relu'");
    if (this.norm !== null) parts.push(`norm='${this.norm}'`);
    const tMax = this.#cellNorms?.[0].kind === 'recurrent-bn' ? this.#cellNorms[0].c.tMax : null;
    if (tMax !== null) parts.push(`tMax=${tMax}`);
    return parts.join(', ');
  };

  /**
   * Runs the stack over x [T, N, inputSize] ([N, T, inputSize] with batchFirst) from `state` (zeros
   * where left out). `lengths` (N integers in 1…T, any order): each sequence's valid steps, as
   * PyTorch's packed sequences: outputs past a length are zero, hN/cN are each sequence's last
   * valid state. Every argument is checked before anything is made.
   */
  forward(x: Tensor, state: RecurrentState | null = null, lengths: ArrayLike<number> | null = null): RecurrentOutput {
    const where = `${this.#where}.forward`;
    const dims = { I: this.inputSize, H: this.hiddenSize, L: this.numLayers, batchFirst: this.batchFirst };
    const a = checkStackArgs(where, this.#cell === 'lstm', x, dims, state, lengths);
    this.checkUsable(where);
    const w = this.weights;
    const layers = Array.from({ length: this.numLayers }, (_, l) => ({
      wih: w[`weight_ih_l${l}`],
      whh: w[`weight_hh_l${l}`],
      bih: w[`bias_ih_l${l}`] ?? null,
      bhh: w[`bias_hh_l${l}`] ?? null,
    }));
    const drop = this.training && this.dropout > 0 ? { p: this.dropout, generator: this.#gen } : null;
    if (this.#cellNorms !== null) {
      const cells = this.#cellNorms;
      if (this.norm === 'recurrent-bn' && this.training) {
        // BN's batch statistics need two values per feature at every step: checked before anything moves
        const active = (t: number) => (a.lens === null ? a.N : a.lens.reduce((k, v) => k + (v > t ? 1 : 0), 0));
        for (let t = 0; t < a.T; t++)
          if (active(t) < 2)
            throw new RangeError(
              `${where}: input: norm 'recurrent-bn' in training needs at least 2 sequences at every step (batch statistics), got ${active(t)} at step ${t}`,
            );
        for (const n of cells) if (n.kind === 'recurrent-bn') for (const m of [n.ih, n.hh, n.c]) m.fixTMax(a.T);
      }
      const ops = cells.map((n) => cellNorms(n, this.training, a.lens !== null));
      return runNormStack(x, layers, ops, a, this.batchFirst, drop);
    }
    const norms = this.#norms === null ? null : this.#norms.map((bn) => (p: Tensor) => bn.forward(p));
    return runStack(this.#cell, x, layers, a, this.batchFirst, drop, norms);
  }
}

/** Elman RNN, h_t = tanh(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh) (or ReLU), PyTorch's nn.RNN. */
export class RNN extends Recurrent {
  /** The public class name that error messages start with. */
  static readonly kind: string = 'RNN';
  constructor(inputSize: number, hiddenSize: number, options: RNNOptions = {}) {
    const nl = options?.nonlinearity ?? 'tanh';
    if (nl !== 'tanh' && nl !== 'relu') throw new TypeError(`RNN: nonlinearity: expected 'tanh' or 'relu', got ${describe(nl)}`);
    super('RNN', nl === 'relu' ? 'rnn_relu' : 'rnn_tanh', inputSize, hiddenSize, options, [
      'numLayers',
      'bias',
      'batchFirst',
      'dropout',
      'generator',
      'nonlinearity',
      'norm',
    ]);
  }
}

/** Long short-term memory with PyTorch's gate order i, f, g, o (nn.LSTM); forward returns cN too. */
export class LSTM extends Recurrent {
  /** The public class name that error messages start with. */
  static readonly kind: string = 'LSTM';
  constructor(inputSize: number, hiddenSize: number, options: RecurrentOptions = {}) {
    super('LSTM', 'lstm', inputSize, hiddenSize, options, ['numLayers', 'bias', 'batchFirst', 'dropout', 'generator', 'norm', 'tMax']);
  }
}

/** Gated recurrent unit with PyTorch's gate order r, z, n and n = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn)) (nn.GRU). */
export class GRU extends Recurrent {
  /** The public class name that error messages start with. */
  static readonly kind: string = 'GRU';
  constructor(inputSize: number, hiddenSize: number, options: RecurrentOptions = {}) {
    super('GRU', 'gru', inputSize, hiddenSize, options, ['numLayers', 'bias', 'batchFirst', 'dropout', 'generator', 'norm']);
  }
}

// one op on the tape per layer, its intermediates freed by the op itself: no learnt inference plan
for (const cls of [RNN, LSTM, GRU]) freesItself(cls);
