// A stack of recurrent layers over a sequence, shared by the RNN/LSTM/GRU modules and by F.rnn,
// F.lstm and F.gru: the checks of the input, initial states and lengths, and the layers chained
// (dropout between them) with the output, hN and cN sliced out of each layer's op.
// see: https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html
import { noGrad, Tensor } from '../tensor';
import { isGradEnabled } from './engine';
import { concat, reshape } from './functional';
import { linear } from './nn_ops';
import { dropout } from './conv_ops';
import { GATES, gatherRows, part, recurrentLayer, scatterRows, swap01, type CellKind, type LayerWeights } from './recurrent';
import { defaultGenerator, Generator } from '../random';
import { checkBool, checkOptions, checkTensor, checkUnit, describe } from '../validate';

/** Initial states: h0 (and c0 for an LSTM) [numLayers, N, H]; zeros where left out. */
export interface RecurrentState {
  /** The initial hidden state of every layer, [numLayers, N, hiddenSize]. */
  h0?: Tensor | null;
  /** The initial cell state of every layer (LSTM only), [numLayers, N, hiddenSize]. */
  c0?: Tensor | null;
}

/** What a recurrent layer's forward returns. */
export interface RecurrentOutput {
  /** The last layer's h_t at every step, [T, N, H] ([N, T, H] with batchFirst); zero past a sequence's length. */
  output: Tensor;
  /** Every layer's last (valid) hidden state, [numLayers, N, H]. */
  hN: Tensor;
  /** Every layer's last (valid) cell state, [numLayers, N, H] (LSTM only). */
  cN?: Tensor;
}

/** The checked arguments of a stack's forward. */
export interface StackArgs {
  T: number;
  N: number;
  h0: Tensor | null;
  c0: Tensor | null;
  lens: Int32Array | null;
}

/** Checks x [T, N, I] ([N, T, I] batch-first), the states and the lengths, before anything is made. */
export function checkStackArgs(
  where: string,
  lstm: boolean,
  x: unknown,
  dims: { I: number; H: number; L: number; batchFirst: boolean },
  state: RecurrentState | null | undefined,
  lengths: ArrayLike<number> | null | undefined,
): StackArgs {
  const { I, H, L, batchFirst } = dims;
  checkTensor(where, 'input', x);
  const s = (x as Tensor).shape;
  if (s.length !== 3 || s[2] !== I)
    throw new RangeError(`${where}: input: expected [${batchFirst ? 'N, T' : 'T, N'}, ${I}], got [${s.join(', ')}]`);
  const [T, N] = batchFirst ? [s[1], s[0]] : [s[0], s[1]];
  if (T < 1 || N < 1) throw new RangeError(`${where}: input: expected at least one step and one sequence, got [${s.join(', ')}]`);
  let h0: Tensor | null = null,
    c0: Tensor | null = null;
  if (state !== null && state !== undefined) {
    if (typeof state !== 'object' || state instanceof Tensor)
      throw new TypeError(`${where}: state: expected an object { h0${lstm ? ', c0' : ''} }, got ${describe(state)}`);
    for (const key of Object.keys(state))
      if (key !== 'h0' && !(lstm && key === 'c0'))
        throw new TypeError(`${where}: state: unexpected key '${key}' (expected ${lstm ? 'h0, c0' : 'h0'})`);
    for (const [name, v] of [
      ['h0', state.h0],
      ['c0', state.c0],
    ] as const) {
      if (v === undefined || v === null) continue;
      checkTensor(where, name, v);
      if (v.shape.length !== 3 || v.shape[0] !== L || v.shape[1] !== N || v.shape[2] !== H)
        throw new RangeError(`${where}: ${name}: expected [${L}, ${N}, ${H}], got [${v.shape.join(', ')}]`);
      if (name === 'h0') h0 = v;
      else c0 = v;
    }
  }
  let lens: Int32Array | null = null;
  if (lengths !== null && lengths !== undefined) {
    if (typeof lengths !== 'object' || typeof lengths.length !== 'number')
      throw new TypeError(`${where}: lengths: expected an array of ${N} integers, got ${describe(lengths)}`);
    if (lengths.length !== N) throw new RangeError(`${where}: lengths: expected ${N} lengths (one per sequence), got ${lengths.length}`);
    lens = new Int32Array(N);
    for (let r = 0; r < N; r++) {
      const v = lengths[r];
      if (!Number.isInteger(v) || v < 1 || v > T)
        throw new RangeError(`${where}: lengths[${r}]: expected an integer in [1, ${T}] (the steps of the input), got ${describe(v)}`);
      lens[r] = v;
    }
    if (lens.every((v) => v === T)) lens = null;
  }
  return { T, N, h0, c0, lens };
}

/** Runs the layers over x (checked by checkStackArgs); `drop`: dropout between layers, or null. */
export function runStack(
  cell: CellKind,
  x: Tensor,
  layers: readonly LayerWeights[],
  a: StackArgs,
  batchFirst: boolean,
  drop: { p: number; generator: Generator } | null,
  norms: readonly ((p: Tensor) => Tensor)[] | null = null,
): RecurrentOutput {
  const { T, N, h0, c0, lens } = a;
  const H = layers[0].whh.shape[1],
    NH = N * H,
    lstm = cell === 'lstm';
  // recorded, the intermediates are the tape's (backward frees them); else a scope frees them here
  const records =
    isGradEnabled() &&
    (x.requiresGrad ||
      h0?.requiresGrad === true ||
      c0?.requiresGrad === true ||
      layers.some((w) => [w.wih, w.whh, w.bih, w.bhh].some((p) => p?.requiresGrad === true)));
  const body = (): RecurrentOutput => {
    let inp = batchFirst ? swap01(x) : x;
    const hs: Tensor[] = [],
      cs: Tensor[] = [];
    layers.forEach((w, l) => {
      if (l > 0 && drop !== null && drop.p > 0) inp = dropout(inp, drop.p, { training: true, generator: drop.generator });
      // sequence-wise BN: the normalization of x·W_ihᵀ over batch and time (valid steps only)
      const x1 = norms === null ? inp : normalizedProjection(inp, w, norms[l], lens);
      const y = recurrentLayer(
        cell,
        x1,
        h0 === null ? null : part(h0, l * NH, [N, H]),
        c0 === null ? null : part(c0, l * NH, [N, H]),
        norms === null ? w : { ...w, wih: null },
        lens,
      );
      inp = part(y, 0, [T, N, H]);
      hs.push(part(y, T * NH, [1, N, H]));
      if (lstm) cs.push(part(y, (T + 1) * NH, [1, N, H]));
    });
    const output = batchFirst ? swap01(inp) : inp;
    const hN = hs.length === 1 ? hs[0] : concat(hs, 0);
    if (!lstm) return { output, hN };
    return { output, hN, cN: cs.length === 1 ? cs[0] : concat(cs, 0) };
  };
  return records ? body() : noGrad(body);
}

/**
 * norm(x·W_ihᵀ) [T, N, gates·H] for x [T, N, in]: `norm` sees the rows of valid steps only, [M, gates·H]
 * (Laurent et al. 2016: statistics over batch and time; padding excluded); padded rows are zero.
 * see: https://arxiv.org/abs/1510.01378 (Batch Normalized Recurrent Neural Networks, sequence-wise BN)
 */
function normalizedProjection(x: Tensor, w: LayerWeights, norm: (p: Tensor) => Tensor, lens: Int32Array | null): Tensor {
  const [T, N] = x.shape,
    gH = w.wih!.shape[0];
  const p = reshape(linear(x, w.wih!, null), [T * N, gH]);
  if (lens === null) return reshape(norm(p), [T, N, gH]);
  const idx: number[] = [];
  for (let t = 0; t < T; t++) for (let r = 0; r < N; r++) if (t < lens[r]) idx.push(t * N + r);
  const rows = Int32Array.from(idx);
  return reshape(scatterRows(norm(gatherRows(p, rows)), rows, T * N), [T, N, gH]);
}

// ---- F.rnn, F.lstm, F.gru ----

/** One layer's weights for F.rnn/F.lstm/F.gru, PyTorch's layouts: W_ih [gates·H, in], W_hh [gates·H, H], biases [gates·H]. */
export interface RecurrentWeights {
  /** W_ih, [gates·H, inputs of this layer]. */
  weightIh: Tensor;
  /** W_hh, [gates·H, H]. */
  weightHh: Tensor;
  /** b_ih, [gates·H]; none when left out. */
  biasIh?: Tensor | null;
  /** b_hh, [gates·H]; none when left out. */
  biasHh?: Tensor | null;
}

/** Options of F.rnn, F.lstm and F.gru. */
export interface RecurrentFunctionalOptions extends RecurrentState {
  /** Each sequence's valid steps (N integers in 1…T, any order): packed sequences. */
  lengths?: ArrayLike<number> | null;
  /** Input and output as [N, T, features]. Default false. */
  batchFirst?: boolean;
  /** Dropout probability between layers when `training`. Default 0. */
  dropout?: number;
  /** Apply dropout. Default false. */
  training?: boolean;
  /** Generator for the dropout masks; default the global one. */
  generator?: Generator;
  /** F.rnn only: 'tanh' (default) or 'relu'. */
  nonlinearity?: 'tanh' | 'relu';
}

function functional(
  name: string,
  cell: CellKind | null,
  x: Tensor,
  weights: readonly RecurrentWeights[],
  options: RecurrentFunctionalOptions,
): RecurrentOutput {
  const where = `F.${name}`;
  const allowed = ['h0', 'c0', 'lengths', 'batchFirst', 'dropout', 'training', 'generator'];
  checkOptions(where, options, cell === null ? [...allowed, 'nonlinearity'] : allowed);
  if (cell === null) {
    const nl = options.nonlinearity ?? 'tanh';
    if (nl !== 'tanh' && nl !== 'relu') throw new TypeError(`${where}: nonlinearity: expected 'tanh' or 'relu', got ${describe(nl)}`);
    cell = nl === 'relu' ? 'rnn_relu' : 'rnn_tanh';
  }
  if (cell !== 'lstm' && options.c0 !== undefined && options.c0 !== null)
    throw new TypeError(`${where}: c0: only an LSTM has a cell state, got ${describe(options.c0)}`);
  if (!Array.isArray(weights) || weights.length === 0)
    throw new TypeError(
      `${where}: weights: expected a non-empty array of { weightIh, weightHh, biasIh?, biasHh? }, got ${describe(weights)}`,
    );
  const w0 = weights[0];
  if (w0 === null || typeof w0 !== 'object') throw new TypeError(`${where}: weights[0]: expected an object, got ${describe(w0)}`);
  checkTensor(where, 'weights[0].weightHh', w0.weightHh);
  const g = GATES[cell],
    H = w0.weightHh.shape[1];
  const layers: LayerWeights[] = weights.map((w, l) => {
    const at = `weights[${l}]`;
    if (w === null || typeof w !== 'object') throw new TypeError(`${where}: ${at}: expected an object, got ${describe(w)}`);
    const inF = l === 0 ? (checkTensor(where, `${at}.weightIh`, w.weightIh).shape[1] ?? 0) : H;
    const want: [string, Tensor | null | undefined, number[]][] = [
      ['weightHh', w.weightHh, [g * H, H]],
      ['weightIh', w.weightIh, [g * H, inF]],
      ['biasIh', w.biasIh, [g * H]],
      ['biasHh', w.biasHh, [g * H]],
    ];
    for (const [k, t, shape] of want) {
      if ((t === undefined || t === null) && k.startsWith('bias')) continue;
      checkTensor(where, `${at}.${k}`, t);
      if (t!.shape.length !== shape.length || t!.shape.some((v, i) => v !== shape[i]))
        throw new RangeError(`${where}: ${at}.${k}: expected [${shape.join(', ')}], got [${t!.shape.join(', ')}]`);
    }
    return { wih: w.weightIh, whh: w.weightHh, bih: w.biasIh ?? null, bhh: w.biasHh ?? null };
  });
  if (H < 1) throw new RangeError(`${where}: weights[0].weightHh: expected [gates·H, H] with H ≥ 1, got [${w0.weightHh.shape.join(', ')}]`);
  const batchFirst = checkBool(where, 'batchFirst', options.batchFirst ?? false);
  const training = checkBool(where, 'training', options.training ?? false);
  const p = checkUnit(where, 'dropout', options.dropout ?? 0);
  const gen = options.generator ?? defaultGenerator;
  if (!(gen instanceof Generator)) throw new TypeError(`${where}: generator: expected a Generator, got ${describe(gen)}`);
  const a = checkStackArgs(
    where,
    cell === 'lstm',
    x,
    { I: weights[0].weightIh.shape[1], H, L: layers.length, batchFirst },
    cell === 'lstm' ? { h0: options.h0, c0: options.c0 } : { h0: options.h0 },
    options.lengths,
  );
  return runStack(cell, x, layers, a, batchFirst, training && p > 0 ? { p, generator: gen } : null);
}

/** An Elman RNN stack over x [T, N, I] (one entry of `weights` per layer): torch's _VF.rnn_tanh/rnn_relu. */
export function rnn(x: Tensor, weights: readonly RecurrentWeights[], options: RecurrentFunctionalOptions = {}): RecurrentOutput {
  return functional('rnn', null, x, weights, options);
}

/** An LSTM stack over x [T, N, I] (gates i, f, g, o): torch's _VF.lstm. Returns cN too. */
export function lstm(x: Tensor, weights: readonly RecurrentWeights[], options: RecurrentFunctionalOptions = {}): RecurrentOutput {
  return functional('lstm', 'lstm', x, weights, options);
}

/** A GRU stack over x [T, N, I] (gates r, z, n): torch's _VF.gru. */
export function gru(x: Tensor, weights: readonly RecurrentWeights[], options: RecurrentFunctionalOptions = {}): RecurrentOutput {
  return functional('gru', 'gru', x, weights, options);
}
