// `npm run bench -- --lstm [--quick] [--name NAME]`
// One SGD training step (forward, full BPTT, update) of the row-by-row MNIST model: an LSTM over 28
// steps of 28 pixels, hidden size 128, batch 64, a Linear head on the last hidden state, softmax
// cross-entropy. Ours (a Module subclass through the tape) on each backend, against TF.js's wasm
// backend running tf.layers.lstm + dense with trainOnBatch in the same run, from the same weights
// (the first losses are compared, untimed), and against the FLOP floor of the step's matrix
// products: the GEMM rate is bench/gemm.ts's, so the % column says how much of it the step keeps.
// The same step with a GRU (3 gates) in place of the LSTM, against tf.layers.gru: TF.js's GRU applies
// the reset gate before its product (reset_after = false, the only form it has), PyTorch's after, so
// its loss differs and only the time compares.
// Then the normalized LSTMs on the first backend (sequence-wise BN, the BN-LSTM of Cooijmans et al.,
// the LN-LSTM of Ba et al.): the same step, measured in alternating rounds, as a ratio to the plain LSTM.
// Writes bench/results/lstm-NAME.json.
import os from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { F, Generator, GRU, Linear, LSTM, Module, SGD, tensor, type RecurrentNorm, type Tensor } from '../src/index';
import { matmul } from '../src/kernels/gemm';
import { measure, measureAsync, type Budget } from './timing';
import { runnable, useBackend } from './ours';
import { initTfjs } from './tfjs';

const T = 28,
  N = 64,
  I = 28,
  H = 128,
  C = 10,
  LR = 0.05;
// the step's products: x·W_ihᵀ and h·W_hhᵀ forward; dW_ih, dW_hh and dh_{t−1} = dg·W_hh backward
// (no dx: the input is data); 2·m·n·k each, G·H gate rows (LSTM 4, GRU 3). The head, gates and
// update add < 1 % and are not counted.
const flops = (G: number) => 2 * T * N * G * H * (2 * I + 3 * H);
const OURS = runnable(['wasm-simd', 'wasm-relaxed', 'wasm', 'js'] as const);
// first-step losses from the same weights: f32, different sigmoid/tanh and summation orders
const LOSS_TOL = 1e-3;

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, name: { type: 'string', default: 'latest' }, lstm: { type: 'boolean' } },
});
const budget: Budget = args.quick
  ? { warmCalls: 2, warmMs: 100, warmCapMs: 2000, minReps: 3, timeMs: 300, maxReps: 20, sampleMs: 0 }
  : { warmCalls: 5, warmMs: 1000, warmCapMs: 20000, minReps: 10, timeMs: 4000, maxReps: 200, sampleMs: 0 };

/** The row-by-row model: an LSTM (or a GRU) and a Linear head on its last hidden state. */
class RowLSTM extends Module {
  lstm: LSTM | GRU;
  head: Linear;
  constructor(gen: Generator, norm: RecurrentNorm | null = null, cell: 'lstm' | 'gru' = 'lstm') {
    super();
    this.lstm = cell === 'gru' ? new GRU(I, H, { generator: gen }) : new LSTM(I, H, { generator: gen, norm });
    this.head = new Linear(H, C, { generator: gen });
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(F.reshape(this.lstm.forward(x).hN, [N, H]));
  }
}

/** Fixed random digits-like inputs (time-first for ours, batch-first for TF.js) and labels. */
function inputs() {
  const g = new Generator(2);
  const xb = Float32Array.from({ length: N * T * I }, () => g.uniform()); // [N, T, I]
  const xt = new Float32Array(T * N * I); // [T, N, I]
  for (let n = 0; n < N; n++) for (let t = 0; t < T; t++) xt.set(xb.subarray((n * T + t) * I, (n * T + t + 1) * I), (t * N + n) * I);
  const y = Int32Array.from({ length: N }, (_, i) => i % C);
  return { xb, xt, y };
}

/** Our step on the active backend; returns it and the model's initial weights. */
function ours(d: ReturnType<typeof inputs>, norm: RecurrentNorm | null = null, cell: 'lstm' | 'gru' = 'lstm') {
  const net = new RowLSTM(new Generator(1), norm, cell);
  const sd = net.stateDict();
  const opt = new SGD(net.parameters(), { lr: LR });
  const step = () => {
    opt.zeroGrad();
    const loss = F.crossEntropy(net.forward(tensor(d.xt, [T, N, I])), d.y);
    loss.backward();
    opt.step();
    return loss.item();
  };
  return { step, sd, dispose: () => net.dispose() };
}

/** tf.layers: lstm or gru (sigmoid gates, as PyTorch) + dense, trainOnBatch with SGD, from our weights. */
function tfjs(d: ReturnType<typeof inputs>, sd: Record<string, Float32Array | number>, cell: 'lstm' | 'gru' = 'lstm') {
  const G = cell === 'gru' ? 3 : 4;
  const model = tfl.sequential();
  const layer = { units: H, inputShape: [T, I], recurrentActivation: 'sigmoid' as const, recurrentInitializer: 'glorotUniform' as const };
  model.add(cell === 'gru' ? tfl.layers.gru(layer) : tfl.layers.lstm(layer));
  model.add(tfl.layers.dense({ units: C }));
  model.compile({ optimizer: tf.train.sgd(LR), loss: (a: tf.Tensor, b: tf.Tensor) => tf.losses.softmaxCrossEntropy(a, b) });
  // (the orthogonal default initializer needs ops the wasm backend lacks; the weights are ours anyway)
  // Keras: kernel [I, G·H], recurrent kernel [H, G·H], one bias [G·H]; LSTM gates i, f, c, o (PyTorch's
  // order); GRU z, r, h against PyTorch's r, z, n (the weights stay in our order: only time is compared)
  const tr = (w: Float32Array, rows: number, cols: number) => {
    const o = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) o[c * rows + r] = w[r * cols + c];
    return o;
  };
  const f = (k: string) => sd[k] as Float32Array;
  const bias = Float32Array.from(f('lstm.bias_ih_l0'), (v, i) => v + f('lstm.bias_hh_l0')[i]);
  model.layers[0].setWeights([
    tf.tensor2d(tr(f('lstm.weight_ih_l0'), G * H, I), [I, G * H]),
    tf.tensor2d(tr(f('lstm.weight_hh_l0'), G * H, H), [H, G * H]),
    tf.tensor1d(bias),
  ]);
  model.layers[1].setWeights([tf.tensor2d(tr(f('head.weight'), C, H), [H, C]), tf.tensor1d(f('head.bias'))]);
  const x = tf.tensor3d(d.xb, [N, T, I]);
  const y1h = tf.oneHot(tf.tensor1d(d.y, 'int32'), C);
  return {
    step: async () => (await model.trainOnBatch(x, y1h)) as number,
    dispose: () => {
      model.dispose();
      tf.dispose([x, y1h]);
    },
  };
}

/** The GEMM rate (GFLOP/s) of the same products, one call per product as the step makes them. */
function gemmRate(G = 4): number {
  const buf = (n: number) => tensor(new Float32Array(n).fill(0.01), [n]);
  const [x, w, g, h, dw] = [buf(T * N * I), buf(G * H * Math.max(I, H)), buf(T * N * G * H), buf(T * N * H), buf(G * H * Math.max(I, H))];
  const run = () => {
    matmul(x.ptr, w.ptr, g.ptr, T * N, G * H, I, { transB: true });
    for (let t = 0; t < T; t++) matmul(h.ptr, w.ptr, g.ptr, N, G * H, H, { transB: true, beta: 1 });
    for (let t = 0; t < T; t++) matmul(g.ptr, w.ptr, h.ptr, N, H, G * H, { beta: 1 });
    matmul(g.ptr, x.ptr, dw.ptr, G * H, I, T * N, { transA: true, beta: 1 });
    matmul(g.ptr, h.ptr, dw.ptr, G * H, H, T * N, { transA: true, beta: 1 });
  };
  const ms = measure(run, budget).ms;
  for (const t of [x, w, g, h, dw]) t.dispose();
  return flops(G) / ms / 1e6;
}

type Cell = 'lstm' | 'gru';
const CELLS: Cell[] = ['lstm', 'gru'];
const G = { lstm: 4, gru: 3 } as const;
const rows: { cell: Cell; backend: string; ms: number; gflops: number; gemmGflops: number | null; firstLoss: number }[] = [];
const d = inputs();
const sd = { lstm: {}, gru: {} } as Record<Cell, Record<string, Float32Array | number>>;
for (const b of OURS) {
  await useBackend(b);
  for (const cell of CELLS) {
    const o = ours(d, null, cell);
    sd[cell] = o.sd;
    const firstLoss = o.step();
    const ms = measure(() => void o.step(), budget).ms;
    o.dispose();
    rows.push({ cell, backend: b, ms, gflops: flops(G[cell]) / ms / 1e6, gemmGflops: gemmRate(G[cell]), firstLoss });
  }
}

// the normalized variants against the plain LSTM: median of alternating rounds (A B C D A B C D …)
const VARIANTS = [null, 'sequence-bn', 'recurrent-bn', 'layer'] as const;
await useBackend(OURS[0]);
const models = VARIANTS.map((v) => ours(d, v));
for (const m of models) m.step();
const rounds = args.quick ? 2 : 5;
const per = VARIANTS.map(() => [] as number[]);
for (let r = 0; r < rounds; r++)
  models.forEach((m, k) => per[k].push(measure(() => void m.step(), { ...budget, timeMs: budget.timeMs / rounds }).ms));
for (const m of models) m.dispose();
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const variantRows = VARIANTS.map((v, k) => ({ norm: v ?? 'none', ms: median(per[k]) }));

const tfDesc = await initTfjs();
const tfMs = { lstm: 0, gru: 0 };
const tfFirst = { lstm: 0, gru: 0 };
for (const cell of CELLS) {
  const t = tfjs(d, sd[cell], cell);
  tfFirst[cell] = await t.step();
  tfMs[cell] = (await measureAsync(() => t.step().then(() => undefined), budget)).ms;
  t.dispose();
  const ms = tfMs[cell];
  rows.push({
    cell,
    backend: `tfjs-wasm (tf.layers.${cell})`,
    ms,
    gflops: flops(G[cell]) / ms / 1e6,
    gemmGflops: null,
    firstLoss: tfFirst[cell],
  });
}

console.log(
  `LSTM and GRU training step, row-by-row MNIST: T=${T}, batch ${N}, input ${I}, hidden ${H}; ` +
    `${(flops(4) / 1e6).toFixed(0)} MFLOP (LSTM), ${(flops(3) / 1e6).toFixed(0)} MFLOP (GRU) of products`,
);
console.log(`${os.cpus()[0]?.model ?? 'cpu'}; ${tfDesc}`);
console.log(
  'cell  backend'.padEnd(34) +
    'ms/step'.padStart(10) +
    'GFLOP/s'.padStart(10) +
    '% of GEMM'.padStart(11) +
    'vs TF.js'.padStart(10) +
    'loss₁'.padStart(10),
);
for (const r of rows) {
  const pct = r.gemmGflops === null ? '' : `${((100 * r.gflops) / r.gemmGflops).toFixed(0)} %`;
  console.log(
    `${r.cell.padEnd(6)}${r.backend}`.padEnd(34) +
      r.ms.toFixed(2).padStart(10) +
      r.gflops.toFixed(2).padStart(10) +
      pct.padStart(11) +
      `${(tfMs[r.cell] / r.ms).toFixed(2)}×`.padStart(10) +
      r.firstLoss.toFixed(5).padStart(10),
  );
}
console.log("(TF.js's GRU resets before its product, PyTorch's and ours after: its loss₁ is not compared)");
console.log(`\nnormalized LSTMs on ${OURS[0]} (median of ${rounds} alternating rounds; load ${os.loadavg()[0].toFixed(1)})`);
console.log('norm'.padEnd(28) + 'ms/step'.padStart(10) + '× LSTM'.padStart(10));
for (const r of variantRows)
  console.log(r.norm.padEnd(28) + r.ms.toFixed(2).padStart(10) + `${(r.ms / variantRows[0].ms).toFixed(2)}×`.padStart(10));
const lossOk = rows
  .filter((r) => r.cell === 'lstm')
  .every((r) => Math.abs(r.firstLoss - tfFirst.lstm) <= LOSS_TOL * Math.max(1, Math.abs(tfFirst.lstm)));
console.log(`LSTM first-step losses agree with TF.js's within ${LOSS_TOL}: ${lossOk ? 'yes' : 'NO'}`);
const dir = fileURLToPath(new URL('../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(
  `${dir}lstm-${args.name}.json`,
  JSON.stringify(
    { date: new Date().toISOString(), T, N, I, H, flops: { lstm: flops(4), gru: flops(3) }, rows, variants: variantRows, lossOk },
    null,
    2,
  ),
);
if (!lossOk) process.exitCode = 1;
