// One recurrent layer (RNN, LSTM or GRU, one direction) over a whole sequence as one op on the
// tape, with backpropagation through time in its backward. The products with W_ih run once for all
// time steps (one GEMM forward, one each for dx and dW_ih backward), the products with W_hh once per
// step, and the gate nonlinearities and cell updates in the fused kernels of assembly/recurrent.ts.
// Variable lengths: a batch row past its length keeps its state, outputs zero and passes its
// gradient through unchanged (PyTorch's packed sequences).
// see: https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html (equations, gate order);
//      Werbos 1990, "Backpropagation through time: what it does and how to do it"
import { Tensor } from '../tensor';
import { gradSink, guarded, out, record, type GradSink } from './functional';
import { matmul as gemm } from '../kernels/gemm';
import { addColumnSums } from '../kernels/reduce';
import * as ew from '../kernels/elementwise';
import * as rk from '../kernels/recurrent';

/** The cell of a recurrent layer: LSTM, GRU, or Elman RNN with tanh or ReLU. */
export type CellKind = 'lstm' | 'gru' | 'rnn_tanh' | 'rnn_relu';

/** Gates per cell: W_ih is [gates·H, I], W_hh [gates·H, H]. */
export const GATES: Record<CellKind, number> = { lstm: 4, gru: 3, rnn_tanh: 1, rnn_relu: 1 };

/** One layer's weights in PyTorch's layout; wih null: the layer's x is already x·W_ihᵀ ([T, N, gates·H], a normalized projection). */
export interface LayerWeights {
  wih: Tensor | null;
  whh: Tensor;
  bih: Tensor | null;
  bhh: Tensor | null;
}

/** The runs [start, end) of batch rows still inside their sequence at each step (all rows without lengths). */
function activeRuns(t: number, n: number, lengths: Int32Array | null): number[] {
  if (lengths === null) return [0, n];
  const runs: number[] = [];
  for (let r = 0; r < n; r++) {
    if (lengths[r] <= t) continue;
    if (runs.length > 0 && runs[runs.length - 1] === r) runs[runs.length - 1] = r + 1;
    else runs.push(r, r + 1);
  }
  return runs;
}

/**
 * The layer over x [T, N, I] from h0 (and c0 for an LSTM) [N, H] or zeros: y [T + s, N, H] holding
 * the output [T, N, H], then hN, then cN (s = 2 for an LSTM, 1 otherwise). Nothing is checked.
 */
export function recurrentLayer(
  kind: CellKind,
  x: Tensor,
  h0: Tensor | null,
  c0: Tensor | null,
  w: LayerWeights,
  lengths: Int32Array | null,
): Tensor {
  const [T, N, I] = x.shape,
    H = w.whh.shape[1],
    gH = GATES[kind] * H,
    NH = N * H;
  const lstm = kind === 'lstm',
    gru = kind === 'gru',
    relu = kind === 'rnn_relu';
  const F4 = 4; // bytes per float: pointer offsets below are in bytes
  const y = out([T + (lstm ? 2 : 1), N, H]);
  const made: Tensor[] = [];
  const G = Tensor.empty([T, N, gH]);
  made.push(G);
  const saved = guarded([y, G], () => {
    const HG = gru ? Tensor.empty([T, N, gH]) : null;
    if (HG) made.push(HG);
    const Hs = Tensor.empty([T + 1, N, H]);
    made.push(Hs);
    const Cs = lstm ? Tensor.empty([T + 1, N, H]) : null;
    if (Cs) made.push(Cs);
    return { HG, Hs, Cs };
  });
  const { HG, Hs, Cs } = saved;
  const runs = Array.from({ length: T }, (_, t) => activeRuns(t, N, lengths));
  guarded([y, ...made], () => {
    if (h0 !== null) Hs.view().set(h0.view());
    else Hs.view().fill(0, 0, NH);
    if (Cs !== null) {
      if (c0 !== null) Cs.view().set(c0.view());
      else Cs.view().fill(0, 0, NH);
    }
    if (w.wih !== null) gemm(x.ptr, w.wih.ptr, G.ptr, T * N, gH, I, { transB: true, bias: w.bih?.ptr ?? 0 });
    else {
      G.view().set(x.view());
      if (w.bih !== null) ew.binary('add', G.ptr, w.bih.ptr, G.ptr, T * N, gH);
    }
    for (let t = 0; t < T; t++) {
      const hp = Hs.ptr + t * NH * F4,
        hn = hp + NH * F4,
        g = G.ptr + t * N * gH * F4;
      const hg = HG === null ? 0 : HG.ptr + t * N * gH * F4;
      if (HG !== null) gemm(hp, w.whh.ptr, hg, N, gH, H, { transB: true, bias: w.bhh?.ptr ?? 0 });
      else gemm(hp, w.whh.ptr, g, N, gH, H, { transB: true, beta: 1, bias: w.bhh?.ptr ?? 0 });
      const rs = runs[t];
      for (let q = 0; q < rs.length; q += 2) {
        const a = rs[q],
          rows = rs[q + 1] - a;
        const ga = g + a * gH * F4,
          ha = a * H * F4;
        if (lstm) rk.lstmCellForward(ga, Cs!.ptr + t * NH * F4 + ha, Cs!.ptr + (t + 1) * NH * F4 + ha, hn + ha, rows, H);
        else if (gru) rk.gruCellForward(ga, hg + a * gH * F4, hp + ha, hn + ha, rows, H);
        else rk.rnnCellForward(ga, hn + ha, rows * H, relu);
      }
      if (lengths !== null) carry(Hs, Cs, t, N, H, lengths);
    }
    // output rows past a sequence's end are zero; hN and cN are the states carried to step T
    const Y = y.view(),
      V = Hs.view();
    Y.set(V.subarray(NH, (T + 1) * NH));
    if (lengths !== null)
      for (let t = 0; t < T; t++) for (let r = 0; r < N; r++) if (lengths[r] <= t) Y.fill(0, t * NH + r * H, t * NH + (r + 1) * H);
    Y.set(V.subarray(T * NH), T * NH);
    if (Cs !== null) Y.set(Cs.view().subarray(T * NH), (T + 1) * NH);
  });

  const inputs: (Tensor | null)[] = [x, w.wih, w.whh, w.bih, w.bhh, h0, c0];
  const present = inputs.filter((v): v is Tensor => v !== null);
  const release = () => {
    for (const t of made) t.dispose();
  };
  return record(
    y,
    kind,
    present,
    (gy, inputGrad) => {
      const grads = backward(kind, x, h0, c0, w, lengths, runs, { G, HG, Hs, Cs }, gy, inputGrad ?? x.requiresGrad);
      return inputs.map((v, k) => (v === null ? undefined : grads[k])).filter((g) => g !== undefined);
    },
    release,
  );
}

/** Rows past their length keep step t's state at step t + 1. */
function carry(Hs: Tensor, Cs: Tensor | null, t: number, N: number, H: number, lengths: Int32Array): void {
  const NH = N * H;
  for (const S of Cs === null ? [Hs.view()] : [Hs.view(), Cs.view()]) {
    for (let r = 0; r < N; r++) {
      if (lengths[r] > t) continue;
      const from = t * NH + r * H;
      S.copyWithin(from + NH, from, from + H);
    }
  }
}

interface Saved {
  G: Tensor;
  HG: Tensor | null;
  Hs: Tensor;
  Cs: Tensor | null;
}

/** BPTT: the gradients of [x, W_ih, W_hh, b_ih, b_hh, h0, c0] (null where absent or not wanted). */
function backward(
  kind: CellKind,
  x: Tensor,
  h0: Tensor | null,
  c0: Tensor | null,
  w: LayerWeights,
  lengths: Int32Array | null,
  runs: number[][],
  { G, HG, Hs, Cs }: Saved,
  gy: Tensor,
  inputGrad: boolean,
): (Tensor | null)[] {
  const [T, N, I] = x.shape,
    H = w.whh.shape[1],
    gH = GATES[kind] * H,
    NH = N * H,
    F4 = 4;
  const lstm = kind === 'lstm',
    gru = kind === 'gru',
    relu = kind === 'rnn_relu';
  // everything that can fail (an allocation) is had before any gradient is added to a .grad
  const temps: (Tensor | null)[] = [];
  const sinks: (GradSink | null)[] = [];
  let dx: Tensor | null = null;
  let dG: Tensor, dHG: Tensor | null, dh: Tensor, dc: Tensor | null, bsum: Tensor | null;
  try {
    // the cell kernels write every gate of a row inside its sequence: zeros needed only for rows past one
    const fresh = (shape: number[]) => (lengths === null ? Tensor.empty(shape) : Tensor.full(shape, 0));
    dG = fresh([T, N, gH]);
    temps.push(dG);
    dHG = gru ? fresh([T, N, gH]) : null;
    temps.push(dHG);
    dh = Tensor.empty([N, H]);
    temps.push(dh);
    dc = lstm ? Tensor.empty([N, H]) : null;
    temps.push(dc);
    if (inputGrad) dx = Tensor.empty(x.shape);
    for (const p of [w.wih, w.whh, w.bih, w.bhh]) sinks.push(p === null || !p.requiresGrad ? null : gradSink(p));
    // without GRU's separate dHG both biases get dG's column sums: summed once, added to each
    bsum = sinks[2] && sinks[3] && !gru ? Tensor.full([gH], 0) : null;
    temps.push(bsum);
  } catch (e) {
    for (const t of temps) t?.dispose();
    dx?.dispose();
    for (const s of sinks) s?.give?.dispose();
    throw e;
  }
  const GY = gy.view();
  dh.view().set(GY.subarray(T * NH, (T + 1) * NH));
  if (dc !== null) dc.view().set(GY.subarray((T + 1) * NH, (T + 2) * NH));
  const dGh = dHG ?? dG;
  for (let t = T - 1; t >= 0; t--) {
    const rs = runs[t],
      g = G.ptr + t * N * gH * F4,
      dg = dG.ptr + t * N * gH * F4,
      hp = Hs.ptr + t * NH * F4;
    for (let q = 0; q < rs.length; q += 2) {
      const a = rs[q],
        rows = rs[q + 1] - a,
        ha = a * H * F4,
        ga = a * gH * F4;
      // the output at (t, row) is h_t for rows inside their sequence (zero, so no gradient, past it)
      ew.binary('add', dh.ptr + ha, gy.ptr + t * NH * F4 + ha, dh.ptr + ha, 1, rows * H);
      if (lstm)
        rk.lstmCellBackward(
          g + ga,
          Cs!.ptr + t * NH * F4 + ha,
          Cs!.ptr + (t + 1) * NH * F4 + ha,
          dh.ptr + ha,
          dc!.ptr + ha,
          dg + ga,
          rows,
          H,
        );
      else if (gru)
        rk.gruCellBackward(g + ga, HG!.ptr + t * N * gH * F4 + ga, hp + ha, dh.ptr + ha, dg + ga, dHG!.ptr + t * N * gH * F4 + ga, rows, H);
      else rk.rnnCellBackward(Hs.ptr + (t + 1) * NH * F4 + ha, dh.ptr + ha, dg + ga, rows * H, relu);
    }
    // dh_{t−1} = (direct part left in dh) + dgates_t·W_hh; rows past their length pass dh on unchanged
    gemm(dGh.ptr + t * N * gH * F4, w.whh.ptr, dh.ptr, N, H, gH, { beta: 1 });
  }
  const TN = T * N;
  if (dx !== null) {
    if (w.wih !== null) gemm(dG.ptr, w.wih.ptr, dx.ptr, TN, I, gH);
    else dx.view().set(dG.view());
  }
  const [swih, swhh, sbih, sbhh] = sinks;
  if (swih) gemm(dG.ptr, x.ptr, swih.into.ptr, gH, I, TN, { transA: true, beta: 1 });
  if (swhh) gemm(dGh.ptr, Hs.ptr, swhh.into.ptr, gH, H, TN, { transA: true, beta: 1 });
  if (bsum !== null) {
    // into + (0 + Σ) as addColumnSums adds into + Σ: the same values (a −0 sum aside)
    addColumnSums(dG.ptr, TN, gH, bsum.ptr);
    ew.binary('add', sbih!.into.ptr, bsum.ptr, sbih!.into.ptr, 1, gH);
    ew.binary('add', sbhh!.into.ptr, bsum.ptr, sbhh!.into.ptr, 1, gH);
    bsum.dispose();
  } else {
    if (sbih) addColumnSums(dG.ptr, TN, gH, sbih.into.ptr);
    if (sbhh) addColumnSums(dGh.ptr, TN, gH, sbhh.into.ptr);
  }
  dG.dispose();
  dHG?.dispose();
  const dh0 = h0 !== null && h0.requiresGrad ? dh : (dh.dispose(), null);
  const dc0 = c0 !== null && c0.requiresGrad ? dc : (dc?.dispose(), null);
  void lengths;
  return [dx, swih?.give ?? null, swhh?.give ?? null, sbih?.give ?? null, sbhh?.give ?? null, dh0, dc0];
}

// ---- the shape ops the layers wrap around it ----

/** x's `size(shape)` values from float `offset` under `shape`: a contiguous slice, differentiable. */
export function part(x: Tensor, offset: number, shape: readonly number[]): Tensor {
  const y = out(shape);
  y.view().set(x.view().subarray(offset, offset + y.size));
  return record(y, 'slice', [x], (gy) => {
    const g = Tensor.full(x.shape, 0);
    g.view().set(gy.view(), offset);
    return [g];
  });
}

/**
 * [A, B, C] → [B, A, C] (batch-first ↔ time-first), differentiable. `dims`: x's values read as
 * [A, B, C] whatever its shape; `shape`: the result's (of B·A·C values), so a reshape on either side
 * costs no copy.
 */
export function swap01(x: Tensor, dims: readonly number[] = x.shape, shape?: number[]): Tensor {
  const [A, B, C] = dims;
  const move = (src: Float32Array, dst: Float32Array, a: number, b: number) => {
    for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) dst.set(src.subarray((i * b + j) * C, (i * b + j + 1) * C), (j * a + i) * C);
  };
  const y = out(shape ?? [B, A, C]);
  move(x.view(), y.view(), A, B);
  return record(y, 'transpose', [x], (gy) => {
    const g = Tensor.empty(x.shape);
    move(gy.view(), g.view(), B, A);
    return [g];
  });
}

/** The rows `rows` of x [R, C], in that order: [rows.length, C], differentiable. */
export function gatherRows(x: Tensor, rows: Int32Array): Tensor {
  const C = x.shape[1];
  const y = out([rows.length, C]);
  const X = x.view(),
    Y = y.view();
  rows.forEach((r, i) => Y.set(X.subarray(r * C, (r + 1) * C), i * C));
  return record(y, 'gatherRows', [x], (gy) => [scatterInto(gy, rows, x.shape[0])]);
}

/** y [total, C] with row rows[i] = x's row i and zeros elsewhere, differentiable. */
export function scatterRows(x: Tensor, rows: Int32Array, total: number): Tensor {
  const C = x.shape[1];
  const y = out([total, C]);
  y.view().fill(0);
  const X = x.view(),
    Y = y.view();
  rows.forEach((r, i) => Y.set(X.subarray(i * C, (i + 1) * C), r * C));
  return record(y, 'scatterRows', [x], (gy) => {
    const g = Tensor.empty(x.shape),
      G = gy.view(),
      V = g.view();
    rows.forEach((r, i) => V.set(G.subarray(r * C, (r + 1) * C), i * C));
    return [g];
  });
}

function scatterInto(g: Tensor, rows: Int32Array, total: number): Tensor {
  const C = g.shape[1];
  const d = Tensor.full([total, C], 0),
    D = d.view(),
    G = g.view();
  rows.forEach((r, i) => D.set(G.subarray(i * C, (i + 1) * C), r * C));
  return d;
}
