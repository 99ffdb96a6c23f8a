// `npm run bench -- --lstm [--quick] [--name NAME]`
// One SGD training step (forward, full BPTT, update) of the row-by-row MNIST model: an LSTM over 28
// steps of 28 pixels, hidden size 128, batch 64, a Linear head on the last hidden state, softmax
// cross-entropy. Ours (a Module subclass through the tape) on each backend, against TF.js's wasm
// backend running tf.layers.lstm + dense with trainOnBatch in the same run, from the same weights
// (the first losses are compared, untimed), and against the FLOP floor of the step's matrix
// products: the GEMM rate is bench/gemm.ts's, so the % column says how much of it the step keeps.
// Then the normalized LSTMs on the first backend (sequence-wise BN, the BN-LSTM of Cooijmans et al.,
// the LN-LSTM of Ba et al.): the same step, measured in alternating rounds, as a ratio to the plain LSTM.
// Writes bench/results/lstm-NAME.json.
import os from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { F, Generator, Linear, LSTM, Module, SGD, tensor, type RecurrentNorm, type Tensor } from '../src/index';
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
// (no dx: the input is data); 2·m·n·k each. The head, gates and update add < 1 % and are not counted.
const FLOPS = 2 * T * N * 4 * H * (2 * I + 3 * H);
const OURS = runnable(['wasm-simd', 'wasm-relaxed', 'wasm', 'js'] as const);
// first-step losses from the same weights: f32, different sigmoid/tanh and summation orders
const LOSS_TOL = 1e-3;

const { values: args } = parseArgs({
  options: { quick: { type: 'boolean', default: false }, name: { type: 'string', default: 'latest' }, lstm: { type: 'boolean' } },
});
const budget: Budget = args.quick
  ? { warmCalls: 2, warmMs: 100, warmCapMs: 2000, minReps: 3, timeMs: 300, maxReps: 20, sampleMs: 0 }
  : { warmCalls: 5, warmMs: 1000, warmCapMs: 20000, minReps: 10, timeMs: 4000, maxReps: 200, sampleMs: 0 };

/** The row-by-row model: an LSTM and a Linear head on its last hidden state. */
class RowLSTM extends Module {
  lstm: LSTM;
  head: Linear;
  constructor(gen: Generator, norm: RecurrentNorm | null = null) {
    super();
    this.lstm = new LSTM(I, H, { generator: gen, norm });
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
function ours(d: ReturnType<typeof inputs>, norm: RecurrentNorm | null = null) {
  const net = new RowLSTM(new Generator(1), norm);
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

/** tf.layers: lstm (sigmoid gates, as PyTorch) + dense, trainOnBatch with SGD, from our weights. */
function tfjs(d: ReturnType<typeof inputs>, sd: Record<string, Float32Array | number>) {
  const model = tfl.sequential();
  model.add(tfl.layers.lstm({ units: H, inputShape: [T, I], recurrentActivation: 'sigmoid', recurrentInitializer: 'glorotUniform' }));
  model.add(tfl.layers.dense({ units: C }));
  model.compile({ optimizer: tf.train.sgd(LR), loss: (a: tf.Tensor, b: tf.Tensor) => tf.losses.softmaxCrossEntropy(a, b) });
  // (the orthogonal default initializer needs ops the wasm backend lacks; the weights are ours anyway)
  // Keras: kernel [I, 4H], recurrent kernel [H, 4H], one bias [4H], gates i, f, c, o (PyTorch's order)
  const tr = (w: Float32Array, rows: number, cols: number) => {
    const o = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) o[c * rows + r] = w[r * cols + c];
    return o;
  };
  const f = (k: string) => sd[k] as Float32Array;
  const bias = Float32Array.from(f('lstm.bias_ih_l0'), (v, i) => v + f('lstm.bias_hh_l0')[i]);
  model.layers[0].setWeights([
    tf.tensor2d(tr(f('lstm.weight_ih_l0'), 4 * H, I), [I, 4 * H]),
    tf.tensor2d(tr(f('lstm.weight_hh_l0'), 4 * H, H), [H, 4 * H]),
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
function gemmRate(): number {
  const buf = (n: number) => tensor(new Float32Array(n).fill(0.01), [n]);
  const [x, w, g, h, dw] = [buf(T * N * I), buf(4 * H * Math.max(I, H)), buf(T * N * 4 * H), buf(T * N * H), buf(4 * H * Math.max(I, H))];
  const run = () => {
    matmul(x.ptr, w.ptr, g.ptr, T * N, 4 * H, I, { transB: true });
    for (let t = 0; t < T; t++) matmul(h.ptr, w.ptr, g.ptr, N, 4 * H, H, { transB: true, beta: 1 });
    for (let t = 0; t < T; t++) matmul(g.ptr, w.ptr, h.ptr, N, H, 4 * H, { beta: 1 });
    matmul(g.ptr, x.ptr, dw.ptr, 4 * H, I, T * N, { transA: true, beta: 1 });
    matmul(g.ptr, h.ptr, dw.ptr, 4 * H, H, T * N, { transA: true, beta: 1 });
  };
  const ms = measure(run, budget).ms;
  for (const t of [x, w, g, h, dw]) t.dispose();
  return FLOPS / ms / 1e6;
}

const rows: { backend: string; ms: number; gflops: number; gemmGflops: number | null; firstLoss: number }[] = [];
const d = inputs();
let sd: Record<string, Float32Array | number> = {};
for (const b of OURS) {
  await useBackend(b);
  const o = ours(d);
  sd = o.sd;
  const firstLoss = o.step();
  const ms = measure(() => void o.step(), budget).ms;
  o.dispose();
  rows.push({ backend: b, ms, gflops: FLOPS / ms / 1e6, gemmGflops: gemmRate(), firstLoss });
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
const t = tfjs(d, sd);
const tfFirst = await t.step();
const tfMs = (await measureAsync(() => t.step().then(() => undefined), budget)).ms;
t.dispose();
rows.push({ backend: 'tfjs-wasm (tf.layers.lstm)', ms: tfMs, gflops: FLOPS / tfMs / 1e6, gemmGflops: null, firstLoss: tfFirst });

console.log(
  `LSTM training step, row-by-row MNIST: T=${T}, batch ${N}, input ${I}, hidden ${H}; ${(FLOPS / 1e6).toFixed(0)} MFLOP of products`,
);
console.log(`${os.cpus()[0]?.model ?? 'cpu'}; ${tfDesc}`);
console.log(
  'backend'.padEnd(28) +
    'ms/step'.padStart(10) +
    'GFLOP/s'.padStart(10) +
    '% of GEMM'.padStart(11) +
    'vs TF.js'.padStart(10) +
    'loss₁'.padStart(10),
);
for (const r of rows) {
  const pct = r.gemmGflops === null ? '' : `${((100 * r.gflops) / r.gemmGflops).toFixed(0)} %`;
  console.log(
    r.backend.padEnd(28) +
      r.ms.toFixed(2).padStart(10) +
      r.gflops.toFixed(2).padStart(10) +
      pct.padStart(11) +
      `${(tfMs / r.ms).toFixed(2)}×`.padStart(10) +
      r.firstLoss.toFixed(5).padStart(10),
  );
}
console.log(`\nnormalized LSTMs on ${OURS[0]} (median of ${rounds} alternating rounds; load ${os.loadavg()[0].toFixed(1)})`);
console.log('norm'.padEnd(28) + 'ms/step'.padStart(10) + '× LSTM'.padStart(10));
for (const r of variantRows)
  console.log(r.norm.padEnd(28) + r.ms.toFixed(2).padStart(10) + `${(r.ms / variantRows[0].ms).toFixed(2)}×`.padStart(10));
const lossOk = rows.every((r) => Math.abs(r.firstLoss - tfFirst) <= LOSS_TOL * Math.max(1, Math.abs(tfFirst)));
console.log(`first-step losses agree with TF.js's within ${LOSS_TOL}: ${lossOk ? 'yes' : 'NO'}`);
const dir = fileURLToPath(new URL('../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
writeFileSync(
  `${dir}lstm-${args.name}.json`,
  JSON.stringify({ date: new Date().toISOString(), T, N, I, H, flops: FLOPS, rows, variants: variantRows, lossOk }, null, 2),
);
if (!lossOk) process.exitCode = 1;
