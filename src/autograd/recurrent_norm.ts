// The normalized LSTMs, unrolled step by step from the package's differentiable ops (the tape then
// runs backpropagation through time, through every normalization's statistics): the BN-LSTM of
// Cooijmans et al. 2016 (BN on W_x·x_t and on W_h·h_{t−1} separately, and on c_t before the output
// tanh, statistics per time step) and the LN-LSTM of Ba et al. 2016 (the same three places, Layer
// Normalization). Gate order i, f, g, o and the two biases as PyTorch's LSTM, so the weights are its.
// see: https://arxiv.org/abs/1603.09025 (Recurrent Batch Normalization, eq. 6–8);
//      https://arxiv.org/abs/1607.06450 (Layer Normalization, §3.1 and the LN-LSTM of its appendix)
import { noGrad, Tensor } from '../tensor';
import { isGradEnabled } from './engine';
import { add, concat, out, record, reshape } from './functional';
import { linear } from './nn_ops';
import { dropout } from './conv_ops';
import { gatherRows, part, scatterRows, swap01, type LayerWeights } from './recurrent';
import * as rk from '../kernels/recurrent';
import * as ew from '../kernels/elementwise';
import type { RecurrentOutput, StackArgs } from './recurrent_stack';
import type { Generator } from '../random';

/** The three normalizations of one layer (C = 4H for the projections, H for the cell). */
export interface CellNorms {
  /** The normalizations' parameters (γ, β): the stack records on the tape when one requires a gradient. */
  readonly params: readonly Tensor[];
  /** W_x·x for all steps at once, [T·N, 4H] → [T·N, 4H]; null: normalized step by step by `xStep`. */
  xAll(p: Tensor, T: number, N: number): Tensor | null;
  /** W_x·x_t of the rows active at step t, [M, 4H] (only when xAll returned null). */
  xStep(p: Tensor, t: number): Tensor;
  /** W_h·h_{t−1} of the rows active at step t, [M, 4H]. */
  hStep(p: Tensor, t: number): Tensor;
  /** c_t of the rows active at step t, [M, H], before the output tanh. */
  cStep(c: Tensor, t: number): Tensor;
}

/**
 * The rows of step t, [N, C], of p [T·N, C], for every t. Differentiable at O(T·N·C) in all: the
 * steps' backwards add into one gradient of p rather than each making a full-size one.
 * NOTE: the first step backward to run hands the tape that shared gradient as p's; the later ones add
 * into it before the tape reaches p (p's consumers all run before p), so it must be p's only reader.
 */
export function splitSteps(p: Tensor, T: number, N: number): Tensor[] {
  const C = p.shape[1],
    NC = N * C;
  let acc: Tensor | null = null;
  const steps: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const y = out([N, C]);
    y.view().set(p.view().subarray(t * NC, (t + 1) * NC)); // views taken after out(): it may grow memory
    steps.push(
      record(y, 'step', [p], (gy) => {
        const first = acc === null;
        if (first) acc = Tensor.full(p.shape, 0);
        const at = acc!.ptr + t * NC * 4; // bytes
        ew.binary('add', at, gy.ptr, at, 1, NC);
        return [first ? acc : null];
      }),
    );
  }
  return steps;
}

/** `old` [N, H] with its rows `rows` replaced by those of `upd` [rows.length, H], differentiable. */
export function mergeRows(old: Tensor, upd: Tensor, rows: Int32Array): Tensor {
  const H = old.shape[1];
  const y = out(old.shape);
  const Y = y.view(),
    U = upd.view();
  Y.set(old.view());
  rows.forEach((r, i) => Y.set(U.subarray(i * H, (i + 1) * H), r * H));
  return record(y, 'mergeRows', [old, upd], (gy) => {
    const go = Tensor.empty(old.shape),
      gu = Tensor.empty(upd.shape),
      G = gy.view(),
      O = go.view(),
      V = gu.view();
    O.set(G);
    rows.forEach((r, i) => {
      V.set(G.subarray(r * H, (r + 1) * H), i * H);
      O.fill(0, r * H, (r + 1) * H);
    });
    return [go, gu];
  });
}

/** The rows active at step t (lengths[r] > t), or null when all N are. */
export function activeRows(t: number, N: number, lens: Int32Array | null): Int32Array | null {
  if (lens === null) return null;
  const rows: number[] = [];
  for (let r = 0; r < N; r++) if (lens[r] > t) rows.push(r);
  return rows.length === N ? null : Int32Array.from(rows);
}

/**
 * One normalized LSTM layer over x [T, N, I] from h0, c0 [N, H] (zeros when null): the output
 * [T, N, H] (zero past a sequence's length), hN and cN [N, H] (each sequence's last valid state).
 * `records`: the tape records (else each step's intermediates are freed as it ends).
 */
export function normLayer(
  x: Tensor,
  h0: Tensor | null,
  c0: Tensor | null,
  w: LayerWeights,
  norms: CellNorms,
  lens: Int32Array | null,
  records: boolean,
): { output: Tensor; h: Tensor; c: Tensor } {
  const [T, N, I] = x.shape,
    H = w.whh.shape[1];
  const p = linear(reshape(x, [T * N, I]), w.wih!, null);
  const all = norms.xAll(p, T, N);
  if (!records && all !== null) p.dispose();
  // the biases go on before the split when x is normalized at once (BN step by step would remove them)
  const src = all === null ? p : withBias(all, w, !records);
  // recorded: every step's rows sliced once (the tape keeps them); else copied as each step needs them
  const xs = records ? splitSteps(src, T, N) : null;
  const rowsOf = (t: number): Tensor => {
    if (xs !== null) return xs[t];
    const y = out([N, src.shape[1]]);
    y.view().set(src.view().subarray(t * y.size, (t + 1) * y.size));
    return y;
  };
  let h = h0 ?? zeros([N, H]),
    c = c0 ?? zeros([N, H]);
  const outs: Tensor[] = [];
  for (let t = 0; t < T; t++) {
    const rows = activeRows(t, N, lens);
    const step = () => {
      const pick = (v: Tensor) => (rows === null ? v : gatherRows(v, rows));
      const xt = all === null ? withBias(norms.xStep(pick(rowsOf(t)), t), w, false) : pick(rowsOf(t));
      const pre = add(xt, norms.hStep(linear(pick(h), w.whh, null), t));
      const cn = cellState(pre, pick(c));
      const hn = outputGate(pre, norms.cStep(cn, t));
      if (rows === null) return { o: hn, h: hn, c: cn };
      return { o: scatterRows(hn, rows, N), h: mergeRows(h, hn, rows), c: mergeRows(c, cn, rows) };
    };
    const r = records ? step() : noGrad(step);
    if (!records) {
      // nothing reads the previous states any more: free them now, not when the whole stack ends
      if (h !== h0 && h !== outs[outs.length - 1]) h.dispose();
      if (c !== c0) c.dispose();
    }
    outs.push(r.o);
    h = r.h;
    c = r.c;
  }
  const output = concat(
    outs.map((o) => reshape(o, [1, N, H])),
    0,
  );
  if (!records) {
    for (const o of outs) if (o !== h) o.dispose();
    src.dispose();
  }
  return { output, h, c };
}

/** v + b_ih + b_hh (the biases that are present); `free`: nothing records, v and the partial sum are freed. */
function withBias(v: Tensor, w: LayerWeights, free: boolean): Tensor {
  let y = v;
  for (const b of [w.bih, w.bhh]) {
    if (b === null) continue;
    const next = add(y, b);
    if (free) y.dispose();
    y = next;
  }
  return y;
}

/**
 * c_t = σ(f)⊙c_{t−1} + σ(i)⊙tanh(g) from the pre-activations [M, 4H] (i, f, g, o), by the fused LSTM
 * kernels: the backward runs lstmCellBackward with no gradient on its h, so o's part of d(pre) is zero
 * (outputGate, h = σ(o)⊙tanh(norm(c_t)) after the cell's norm, gives o its gradient).
 */
export function cellState(pre: Tensor, cPrev: Tensor): Tensor {
  const [M, G] = pre.shape,
    H = G / 4;
  const c = out([M, H]);
  const acts = Tensor.empty(pre.shape);
  const release = () => acts.dispose();
  try {
    const scratch = Tensor.empty([M, H]);
    try {
      acts.view().set(pre.view());
      rk.lstmCellForward(acts.ptr, cPrev.ptr, c.ptr, scratch.ptr, M, H);
    } finally {
      scratch.dispose();
    }
  } catch (e) {
    release();
    throw e;
  }
  return record(
    c,
    'lstmCellState',
    [pre, cPrev],
    (gy) => {
      const dh = Tensor.full([M, H], 0),
        dc = Tensor.empty([M, H]),
        dg = Tensor.empty(pre.shape);
      try {
        dc.view().set(gy.view());
        rk.lstmCellBackward(acts.ptr, cPrev.ptr, c.ptr, dh.ptr, dc.ptr, dg.ptr, M, H);
      } finally {
        dh.dispose();
      }
      return [dg, dc];
    },
    release,
  );
}

/**
 * h = σ(o)⊙tanh(z) from the pre-activations [M, 4H] (o: each row's last H) and the normalized cell z
 * [M, H], by one fused kernel each way (in place of a gate copy, sigmoid, tanh and mul on the tape).
 */
export function outputGate(pre: Tensor, z: Tensor): Tensor {
  const [M, G] = pre.shape,
    H = G / 4;
  const h = out([M, H]);
  rk.lstmOutForward(pre.ptr, z.ptr, h.ptr, M, H);
  return record(h, 'lstmOutputGate', [pre, z], (gy) => {
    const dg = Tensor.empty(pre.shape);
    let dz: Tensor;
    try {
      dz = Tensor.empty(z.shape);
    } catch (e) {
      dg.dispose();
      throw e;
    }
    rk.lstmOutBackward(pre.ptr, z.ptr, gy.ptr, dg.ptr, dz.ptr, M, H);
    return [dg, dz];
  });
}

function zeros(shape: number[]): Tensor {
  const z = out(shape);
  z.view().fill(0);
  return z;
}

/** A stack of normalized LSTM layers (checked arguments, as runStack): dropout between layers. */
export function runNormStack(
  x: Tensor,
  layers: readonly LayerWeights[],
  norms: readonly CellNorms[],
  a: StackArgs,
  batchFirst: boolean,
  drop: { p: number; generator: Generator } | null,
): RecurrentOutput {
  const { T, N, h0, c0, lens } = a;
  const H = layers[0].whh.shape[1],
    NH = N * H;
  const records =
    isGradEnabled() &&
    (x.requiresGrad ||
      h0?.requiresGrad === true ||
      c0?.requiresGrad === true ||
      layers.some((w) => [w.wih, w.whh, w.bih, w.bhh].some((p) => p?.requiresGrad === true)) ||
      norms.some((n) => n.params.some((p) => p.requiresGrad)));
  const body = (): RecurrentOutput => {
    let inp = batchFirst ? swap01(x) : x;
    const hs: Tensor[] = [],
      cs: Tensor[] = [];
    layers.forEach((w, l) => {
      if (l > 0 && drop !== null && drop.p > 0) inp = dropout(inp, drop.p, { training: true, generator: drop.generator });
      const r = normLayer(
        inp,
        h0 === null ? null : part(h0, l * NH, [N, H]),
        c0 === null ? null : part(c0, l * NH, [N, H]),
        w,
        norms[l],
        lens,
        records,
      );
      inp = r.output;
      hs.push(reshape(r.h, [1, N, H]));
      cs.push(reshape(r.c, [1, N, H]));
    });
    const output = batchFirst ? swap01(inp) : inp;
    return { output, hN: hs.length === 1 ? hs[0] : concat(hs, 0), cN: cs.length === 1 ? cs[0] : concat(cs, 0) };
  };
  return records ? body() : noGrad(body);
}
