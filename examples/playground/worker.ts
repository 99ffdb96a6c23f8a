// The playground's Web Worker: trains the BN paper's MNIST MLP (784-100-100-100-10, sigmoids,
// batch 60, SGD) with and without BatchNorm side by side, step for step on the same batches, and
// classifies drawn digits with the BN model, or with an ONNX model the page hands over (onnx_model.ts).
// Messages (see protocol.ts):
//   in:  start { lr }, stop, predict { pixels: Float32Array(784) in [0, 1] }, load-onnx { name, bytes }
//   out: ready { backend }, progress { … }, done, prediction { probs, model }, onnx-loaded { name },
//        onnx-error { name, message }, error { message }
import { backend, CrossEntropyLoss, evaluate, init, predict, SGD, tensor, type Dataset, type Sequential } from '../../src/index';
import { mlp } from '../demo/experiments';
import { classify, loadDigitModel, type DigitModel } from './onnx_model';
import type { FromWorker, ModelStats, ToWorker } from './protocol';

const BATCH = 60;
const EVAL_EVERY = 50;
const MAX_STEPS = 4000; // 30 epochs of 133 steps
const SEED = 1;

const post = (m: FromWorker) => (self as unknown as Worker).postMessage(m);

function decode(buf: ArrayBuffer): { train: Dataset; test: Dataset } {
  const dv = new DataView(buf);
  const nTrain = dv.getUint32(0, true),
    nTest = dv.getUint32(4, true);
  const bytes = new Uint8Array(buf);
  let o = 8;
  const split = (n: number): Dataset => {
    const x = new Float32Array(n * 784);
    for (let i = 0; i < x.length; i++) x[i] = bytes[o + i]! / 255;
    o += x.length;
    const y = Int32Array.from(bytes.subarray(o, o + n));
    o += n;
    return { x, y, shape: [784] };
  };
  const train = split(nTrain);
  return { train, test: split(nTest) };
}

interface Run {
  model: Sequential;
  opt: SGD;
  loss: CrossEntropyLoss;
  lossSum: number;
  lossCount: number;
  diverged: boolean;
  stats: ModelStats;
}

const newRun = (bn: boolean, lr: number): Run => {
  const model = mlp(bn, 1, SEED);
  return {
    model,
    opt: new SGD(model.parameters(), { lr }),
    loss: new CrossEntropyLoss(),
    lossSum: 0,
    lossCount: 0,
    diverged: false,
    stats: { loss: [], accuracy: [], diverged: false },
  };
};

function step(r: Run, bx: Float32Array, by: Int32Array): void {
  if (r.diverged) return;
  r.model.train();
  r.opt.zeroGrad();
  const x = tensor(bx, [by.length, 784]);
  const logits = r.model.forward(x);
  const l = r.loss.forward(logits, by);
  const dlogits = r.loss.backward();
  r.model.backwardParams(dlogits);
  r.opt.step();
  logits.dispose();
  dlogits.dispose();
  x.dispose();
  if (!Number.isFinite(l)) {
    r.diverged = true; // a NaN stays NaN: stop this model here
    r.stats.diverged = true;
    return;
  }
  r.lossSum += l;
  r.lossCount++;
}

function checkpoint(r: Run, s: number, test: Dataset): void {
  if (r.lossCount > 0) r.stats.loss.push([s, r.lossSum / r.lossCount]);
  r.lossSum = 0;
  r.lossCount = 0;
  r.stats.accuracy.push([s, r.diverged ? NaN : evaluate(r.model, test, { batchSize: 500 }).accuracy]);
}

let data: { train: Dataset; test: Dataset } | null = null;
let runs: { bn: Run; plain: Run } | null = null;
let generation = 0;
let onnx: { name: string; model: DigitModel } | null = null;
const ready = (async () => {
  const [, buf] = await Promise.all([
    init(),
    fetch('mnist.bin').then((r) => {
      if (!r.ok) throw new Error(`mnist.bin: HTTP ${r.status}`);
      return r.arrayBuffer();
    }),
  ]);
  data = decode(buf);
  post({ type: 'ready', backend: backend(), train: data.train.y.length, test: data.test.y.length });
})();
ready.catch((e: Error) => post({ type: 'error', message: e.message }));

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

async function train(lr: number): Promise<void> {
  await ready;
  const gen = ++generation;
  if (runs)
    for (const r of [runs.bn, runs.plain]) {
      r.model.dispose();
      r.opt.dispose();
    }
  const { train: tr, test } = data!;
  const bn = newRun(true, lr),
    plain = newRun(false, lr);
  runs = { bn, plain };
  const n = tr.y.length,
    perEpoch = Math.floor(n / BATCH);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  let rng = SEED >>> 0; // xorshift32: both models see the same batches
  const next = () => {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    return (rng >>> 0) / 0x1_0000_0000;
  };
  const bx = new Float32Array(BATCH * 784),
    by = new Int32Array(BATCH);
  checkpoint(bn, 0, test);
  checkpoint(plain, 0, test);
  let trainMs = 0,
    s = 0;
  const report = () =>
    post({
      type: 'progress',
      lr,
      step: s,
      maxSteps: MAX_STEPS,
      stepsPerSec: trainMs > 0 ? (s * 1000) / trainMs : 0,
      bn: bn.stats,
      plain: plain.stats,
    });
  report();
  while (s < MAX_STEPS) {
    if (s % perEpoch === 0)
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
    const t0 = performance.now();
    const b = s % perEpoch;
    for (let i = 0; i < BATCH; i++) {
      const k = order[b * BATCH + i]!;
      bx.set(tr.x.subarray(k * 784, (k + 1) * 784), i * 784);
      by[i] = tr.y[k]!;
    }
    step(bn, bx, by);
    step(plain, bx, by);
    s++;
    trainMs += performance.now() - t0; // a "step" trains both models once
    if (s % EVAL_EVERY === 0 || s === MAX_STEPS) {
      checkpoint(bn, s, test);
      checkpoint(plain, s, test);
      report();
    }
    if (s % 10 === 0) {
      await tick(); // let 'stop', 'start' and 'predict' messages in
      if (gen !== generation) return;
    }
  }
  post({ type: 'done' });
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  const fail = (err: Error) => post({ type: 'error', message: err.message });
  if (m.type === 'start') train(m.lr).catch(fail);
  else if (m.type === 'stop') generation++;
  else if (m.type === 'load-onnx') {
    // the previous model stays until the new one has loaded and passed its checks
    ready
      .then(() => loadDigitModel(m.bytes))
      .then(
        (model) => {
          onnx?.model.graph.dispose();
          onnx = { name: m.name, model };
          post({ type: 'onnx-loaded', name: m.name });
        },
        (err: Error) => post({ type: 'onnx-error', name: m.name, message: err.message }),
      );
  } else if (m.type === 'predict') {
    if (!runs && !onnx) return post({ type: 'error', message: 'train the model first, or drop an .onnx digit classifier on the page' });
    try {
      if (onnx) return post({ type: 'prediction', probs: classify(onnx.model, m.pixels), model: onnx.name });
      const logits = predict(runs!.bn.model, m.pixels, [784]);
      const max = Math.max(...logits);
      const exp = Array.from(logits, (v) => Math.exp(v - max));
      const sum = exp.reduce((a, b) => a + b, 0);
      post({ type: 'prediction', probs: exp.map((v) => v / sum), model: 'BN model' });
    } catch (err) {
      fail(err as Error);
    }
  }
};
