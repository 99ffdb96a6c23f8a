// Part of `npm run bench -- --train` (bench/train.ts runs and prints it): one Adam training step of
// the demo CNN (examples/demo/cnn.ts: Conv 1→32 3×3, BN+ReLU fused, max-pool 2, Conv 32→64 3×3,
// BN+ReLU fused, max-pool 2, Linear 3136→10), batch 60, softmax
// cross-entropy, on our SIMD build (NCHW [60,1,28,28]) against the same network in TF.js's wasm
// backend (NHWC [60,28,28,1]: its conv2d is channels-last) as a tf.layers model (trainOnBatch)
// and as core ops (variableGrads + applyGradients). TF.js 4.22's wasm backend cannot train a
// conv2d on its own (no Conv2DBackpropFilter kernel): bench/tfjs_conv.ts supplies the gradients,
// as a GEMM (the rows the ratios use) and from TF.js's own kernels ('stock', one row).
// All start from our weights (copied into TF.js), so the first losses are compared (untimed).
// Ours runs twice per build: as the Sequential of examples/demo (backwardParams) and as a Module
// subclass trained through the tape (bench/autograd.ts), the two timed in alternating samples
// (measurePair), whose state after the first steps must be bit-identical to the Sequential's.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Adam, Conv2d, Linear, tensor, type Module, type Sequential, type Tensor } from '../src/index';
import { cnn } from '../examples/demo/cnn';
import { ourTrainer, runnable, useBackend } from './ours';
import { measure, measureAsync, measurePair, type Budget, type Timing } from './timing';
import { checkConvGrads, setConvGrads } from './tfjs_conv';
import { AUTOGRAD_RATIO, autogradTrainer, CnnNet, stateDiffers, type Style } from './autograd';

const BATCH = 60,
  SIDE = 28,
  C1 = 32,
  C2 = 64,
  CLASSES = 10,
  LR = 1e-3,
  ADAM_EPS = 1e-8,
  BN_EPS = 1e-5,
  SEED = 1;
const CHECK_STEPS = 3;
// step 1 from the same weights: the forward only, f32 summation order (loss ≈ 2.5). Steps 2–3 carry
// the gradients, and there f32 differences in the activations (≈ 2e-5) flip a few ReLU signs and
// the argmax of a near-tied max-pool window, so a few gradient entries go elsewhere (conv weight
// gradients then differ by up to ~1e-3 of their largest value); Adam's first update, ≈ lr·sign(g)
// per weight, carries that into the loss (seen: ~3e-4)
const LOSS_TOL = { first: 1e-4, later: 1e-3 };
// GEMM FLOP of one step (2·m·n·k per product; BN, ReLU, pooling, loss and Adam not counted)
const CONV1 = 2 * BATCH * SIDE * SIDE * C1 * 9,
  CONV2 = 2 * BATCH * (SIDE / 2) ** 2 * C2 * C1 * 9,
  LIN = 2 * BATCH * C2 * 49 * CLASSES;
// conv1's dx (the gradient w.r.t. the images) is computed by neither side (ours: backwardParams)
const FLOPS = 3 * (CONV1 + CONV2 + LIN) - CONV1;
const OUR_COLUMNS = ['wasm-simd', 'wasm-relaxed'] as const;
const TF_COLUMNS = ['tfjs-layers', 'tfjs-core', 'tfjs-layers-stock'] as const;
type CnnColumn = (typeof OUR_COLUMNS)[number] | (typeof TF_COLUMNS)[number];

export interface CnnRow {
  backend: CnnColumn;
  /** Ours only (TF.js rows: null). */
  style: Style | null;
  ms: number;
  reps: number;
  warmCalls: number;
  gflops: number;
  losses: number[];
  lastLoss: number;
  vsOurs: number;
  /** Module + autograd rows: this row's ms ÷ the Sequential row's on the same build. */
  vsSequential: number | null;
}
export interface CnnResult {
  rows: CnnRow[];
  flopsPerStep: number;
  firstConvDxFlops: number;
  lossChecks: { backend: CnnColumn; style: Style | null; losses: number[]; diffs: number[]; ok: boolean }[];
  /** Entries whose bits differ between the two styles after CHECK_STEPS steps (empty: bit-identical), per build. */
  sameState: { backend: CnnColumn; steps: number; differs: string[] }[];
  convGradCheck: { dW: number; dx: number };
  tfjsProfile: { kernel: string; ms: number }[];
  notes: string[];
}

export function cnnBudgets(quick: boolean): Record<'ours' | 'tf' | 'stock' | 'fuse', Budget> {
  if (quick) {
    const q: Budget = { warmCalls: 2, warmMs: 0, warmCapMs: 300, minReps: 3, timeMs: 200, maxReps: 200 };
    return { ours: q, tf: q, stock: q, fuse: { ...q, warmCalls: 10 } };
  }
  return {
    // ~40 kernel calls a step, 30–60 ms: 20 steps give each GEMM hundreds of calls to tier up on
    ours: { warmCalls: 20, warmMs: 800, warmCapMs: 2000, minReps: 20, timeMs: 2000, maxReps: 500 },
    tf: { warmCalls: 5, warmMs: 600, warmCapMs: 1500, minReps: 10, timeMs: 2000, maxReps: 500 },
    // about half a second a step
    stock: { warmCalls: 2, warmMs: 0, warmCapMs: 1200, minReps: 5, timeMs: 1500, maxReps: 20 },
    fuse: { warmCalls: 30, warmMs: 300, warmCapMs: 800, minReps: 20, timeMs: 600, maxReps: 5000 },
  };
}

type Init = { conv: { w: Float32Array; b: Float32Array }[]; lin: { w: Float32Array; b: Float32Array } };

function ourWeights(model: Sequential): Init {
  const convs = model.layers.filter((l): l is Conv2d => l instanceof Conv2d);
  const lin = model.layers.find((l): l is Linear => l instanceof Linear)!;
  return {
    conv: convs.map((c) => ({ w: c.weight.toArray(), b: c.bias!.toArray() })),
    lin: { w: lin.weight.toArray(), b: lin.bias!.toArray() },
  };
}

/** Our weights in TF.js's layouts: conv [out, in, kh, kw] → [kh, kw, in, out]; the Linear's input
 *  index c·49 + h·7 + w (NCHW flatten) → the dense kernel's row (h·7 + w)·C2 + c (NHWC flatten). */
function tfWeights(init: Init): { conv: [tf.Tensor4D, tf.Tensor1D][]; dense: [tf.Tensor2D, tf.Tensor1D] } {
  const conv = init.conv.map(({ w, b }, l): [tf.Tensor4D, tf.Tensor1D] => {
    const cin = l === 0 ? 1 : C1,
      cout = l === 0 ? C1 : C2,
      k = new Float32Array(w.length);
    for (let o = 0; o < cout; o++)
      for (let c = 0; c < cin; c++) for (let q = 0; q < 9; q++) k[(q * cin + c) * cout + o] = w[(o * cin + c) * 9 + q];
    return [tf.tensor4d(k, [3, 3, cin, cout]), tf.tensor1d(b)];
  });
  const k = new Float32Array(init.lin.w.length);
  for (let o = 0; o < CLASSES; o++)
    for (let c = 0; c < C2; c++) for (let p = 0; p < 49; p++) k[(p * C2 + c) * CLASSES + o] = init.lin.w[o * C2 * 49 + c * 49 + p];
  return { conv, dense: [tf.tensor2d(k, [C2 * 49, CLASSES]), tf.tensor1d(init.lin.b)] };
}

const softmaxCE = (yTrue: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, logits);
const tfAdam = () => tf.train.adam(LR, 0.9, 0.999, ADAM_EPS);

function tfLayers(init: Init, x: tf.Tensor, y1h: tf.Tensor) {
  const model = tfl.sequential();
  for (const [i, filters] of [C1, C2].entries()) {
    model.add(tfl.layers.conv2d({ filters, kernelSize: 3, padding: 'same', ...(i === 0 ? { inputShape: [SIDE, SIDE, 1] } : {}) }));
    // epsilon as ours; momentum 0.9 is PyTorch's 0.1 (it only moves the running statistics)
    model.add(tfl.layers.batchNormalization({ axis: -1, epsilon: BN_EPS, momentum: 0.9 }));
    model.add(tfl.layers.activation({ activation: 'relu' }));
    model.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  }
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: CLASSES }));
  model.compile({ optimizer: tfAdam(), loss: softmaxCE });
  const w = tfWeights(init),
    convs = model.layers.filter((l) => l.getClassName() === 'Conv2D');
  w.conv.forEach((ws, i) => convs[i].setWeights(ws));
  model.layers.find((l) => l.getClassName() === 'Dense')!.setWeights(w.dense);
  tf.dispose([...w.conv.flat(), ...w.dense]);
  return {
    step: async () => (await model.trainOnBatch(x, y1h)) as number,
    dispose: () => {
      model.optimizer.dispose();
      model.dispose();
    },
  };
}

/** fused conv2d + bias, moments + batchNorm, relu, maxPool; fused matMul; variableGrads + Adam in a tidy. */
function tfCore(init: Init, x: tf.Tensor, y1h: tf.Tensor) {
  const vars: tf.Variable[] = [];
  const keep = <T extends tf.Tensor>(t: T) => {
    const v = tf.variable(t);
    t.dispose();
    vars.push(v);
    return v as unknown as T;
  };
  const w = tfWeights(init);
  const convs = w.conv.map(([k, b]) => ({
    k: keep(k),
    b: keep(b),
    gamma: keep(tf.ones([k.shape[3]]) as tf.Tensor1D),
    beta: keep(tf.zeros([k.shape[3]]) as tf.Tensor1D),
  }));
  const dk = keep(w.dense[0]),
    db = keep(w.dense[1]);
  const loss = () => {
    let h = x as tf.Tensor4D;
    for (const c of convs) {
      h = tf.fused.conv2d({ x: h, filter: c.k, strides: 1, pad: 'same', bias: c.b });
      const { mean, variance } = tf.moments(h, [0, 1, 2]);
      h = tf.maxPool(tf.relu(tf.batchNorm4d(h, mean as tf.Tensor1D, variance as tf.Tensor1D, c.beta, c.gamma, BN_EPS)), 2, 2, 'valid');
    }
    return softmaxCE(y1h, tf.fused.matMul({ a: tf.reshape(h, [BATCH, -1]), b: dk, bias: db })) as tf.Scalar;
  };
  const opt = tfAdam();
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(loss, vars);
      opt.applyGradients(grads as Parameters<typeof opt.applyGradients>[0]);
      return value.dataSync()[0];
    });
  /** Time per kernel over one step (tf.profile; untimed), largest first. */
  const profile = async () => {
    const p = await tf.profile(() => {
      step();
    });
    const by = new Map<string, number>();
    for (const k of p.kernels) by.set(k.name, (by.get(k.name) ?? 0) + (k.kernelTimeMs as number));
    return [...by].map(([kernel, ms]) => ({ kernel, ms })).sort((a, b) => b.ms - a.ms);
  };
  return {
    step,
    profile,
    dispose: () => {
      opt.dispose();
      tf.dispose(vars);
    },
  };
}

/** The CNN step on wasm-simd and in TF.js; `data` holds 60 images of 28·28 pixels in [0, 1) and their labels. */
export async function cnnBench(
  data: { x: Float32Array; y: Int32Array },
  b: ReturnType<typeof cnnBudgets>,
  progress: (s: string) => void,
): Promise<CnnResult> {
  const rows: CnnRow[] = [],
    notes: string[] = [],
    sameState: CnnResult['sameState'] = [];
  let tfjsProfile: { kernel: string; ms: number }[] = [];
  const record = (backend: CnnColumn, t: Timing, losses: number[], lastLoss: number, style: Style | null = null) => {
    const gflops = FLOPS / t.ms / 1e6;
    rows.push({ backend, style, ms: t.ms, reps: t.reps, warmCalls: t.warmCalls, gflops, losses, lastLoss, vsOurs: 0, vsSequential: null });
    progress(
      `  CNN ${backend.padEnd(17)}${style === 'Module + autograd' ? ' autograd' : ''} ${t.ms.toPrecision(3)} ms/step (${t.reps} samples after ${t.warmCalls} warm-up steps; loss ${losses[0].toFixed(4)} → ${lastLoss.toFixed(4)})`,
    );
  };
  /** Our step on `backend`, timed; returns the initial weights (the same seed on every backend). */
  const runOurs = async (backend: (typeof OUR_COLUMNS)[number]): Promise<Init> => {
    await useBackend(backend);
    const model = cnn(SEED, C1, C2),
      net = new CnnNet(SEED, C1, C2);
    const weights = ourWeights(model);
    // kept: after the first loss.backward() a tensor made outside a scope belongs to a training step
    const xt = tensor(data.x, [BATCH, 1, SIDE, SIDE]).keep();
    const adam = (m: Module) => new Adam(m.parameters(), { lr: LR, eps: ADAM_EPS });
    const c = ourTrainer(model, xt, data.y, adam(model)),
      a = autogradTrainer(net, xt, data.y, adam(net));
    const losses = Array.from({ length: CHECK_STEPS }, c.step),
      autoLosses = Array.from({ length: CHECK_STEPS }, a.step);
    sameState.push({ backend, steps: CHECK_STEPS, differs: stateDiffers(model, net) });
    const [t, ta] = measurePair(c.step, a.step, b.ours);
    record(backend, t, losses, c.step(), 'Sequential');
    record(backend, ta, autoLosses, a.step(), 'Module + autograd');
    rows[rows.length - 1].vsSequential = ta.ms / t.ms;
    for (const m of [c, a, model, net, xt]) m.dispose();
    return weights;
  };
  const init = await runOurs('wasm-simd');
  // the relaxed build (FMA in the products) where the runtime has relaxed SIMD
  for (const backend of runnable(['wasm-relaxed'] as const)) await runOurs(backend);

  // with one input channel, NCHW [60,1,28,28] and NHWC [60,28,28,1] are the same array
  const x = tf.tensor4d(data.x, [BATCH, SIDE, SIDE, 1]),
    y1h = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(data.y, 'int32'), CLASSES), 'float32'));
  const convGradCheck = checkConvGrads([BATCH, SIDE / 2, SIDE / 2, C1], [3, 3, C1, C2], SEED);
  for (const kind of TF_COLUMNS) {
    const before = tf.memory().numTensors;
    setConvGrads(kind === 'tfjs-layers-stock' ? 'stock' : 'gemm');
    if (kind === 'tfjs-core') {
      const c = tfCore(init, x, y1h);
      const losses = Array.from({ length: CHECK_STEPS }, c.step);
      record(kind, measure(c.step, b.tf), losses, c.step());
      tfjsProfile = await c.profile();
      c.dispose();
    } else {
      const c = tfLayers(init, x, y1h);
      const losses: number[] = [];
      for (let i = 0; i < CHECK_STEPS; i++) losses.push(await c.step());
      record(kind, await measureAsync(c.step, kind === 'tfjs-layers' ? b.tf : b.stock), losses, await c.step());
      c.dispose();
    }
    const leaked = tf.memory().numTensors - before;
    if (leaked !== 0) notes.push(`CNN ${kind}: ${leaked} TF.js tensors left after the case`);
  }
  setConvGrads('gemm');
  tf.dispose([x, y1h]);

  const ours = rows[0];
  for (const r of rows) r.vsOurs = r.ms / ours.ms;
  const lossChecks = rows.slice(1).map((r) => {
    const diffs = r.losses.map((l, i) => Math.abs(l - ours.losses[i]));
    return {
      backend: r.backend,
      style: r.style,
      losses: r.losses,
      diffs,
      ok: diffs[0] <= LOSS_TOL.first && diffs.every((d) => d <= LOSS_TOL.later),
    };
  });
  return { rows, flopsPerStep: FLOPS, firstConvDxFlops: CONV1, lossChecks, sameState, convGradCheck, tfjsProfile, notes };
}

export function printCnn(r: CnnResult): void {
  const f = (v: number) => (v / 1e6).toFixed(0);
  console.log(
    `\nDemo CNN, one training step: batch ${BATCH}, ours NCHW [${BATCH},1,${SIDE},${SIDE}], TF.js NHWC [${BATCH},${SIDE},${SIDE},1]; forward + softmax cross-entropy + backward + Adam (lr ${LR}); median`,
  );
  console.log(
    `GEMM FLOP per step: ${f(FLOPS)} M (conv1 ${f(2 * CONV1)} M without its dx, which neither side computes; conv2 ${f(3 * CONV2)} M; linear ${f(3 * LIN)} M)`,
  );
  console.log(
    `${'backend'.padEnd(19)}${'written as'.padEnd(19)}${'ms/step'.padStart(9)}${'steps/s'.padStart(9)}${'GFLOP/s'.padStart(9)}${'÷ wasm-simd'.padStart(13)}${'loss step 1'.padStart(13)}${'÷ Sequential'.padStart(14)}`,
  );
  for (const x of r.rows) {
    console.log(
      `${x.backend.padEnd(19)}${(x.style ?? '-').padEnd(19)}${x.ms.toFixed(2).padStart(9)}${(1000 / x.ms).toFixed(1).padStart(9)}${x.gflops.toFixed(1).padStart(9)}${`${x.vsOurs.toFixed(2)}×`.padStart(13)}${x.losses[0].toFixed(5).padStart(13)}${(x.vsSequential === null ? '' : `${x.vsSequential.toFixed(3)}×`).padStart(14)}`,
    );
  }
  console.log('  ÷ wasm-simd: this row ms ÷ wasm-simd Sequential ms (how many times longer than ours a step takes)');
  console.log('  Sequential: cnn() of examples/demo, CrossEntropyLoss, model.backwardParams(dlogits); Module + autograd: the same');
  console.log('  layers as fields of a Module subclass (bench/autograd.ts), F.maxPool2d, F.flatten, F.crossEntropy, loss.backward()');
  console.log(
    `  state after ${r.sameState[0]?.steps ?? 0} steps from the same seed, Module + autograd against Sequential: ${r.sameState
      .map((s) => `${s.backend} ${s.differs.length === 0 ? 'bit-identical' : `DIFFERS in ${s.differs.join(', ')}`}`)
      .join('; ')}`,
  );
  console.log('  TF.js conv gradients (bench/tfjs_conv.ts): tfjs-layers, tfjs-core: filter gradient as one XNNPACK matMul over');
  console.log('  transposed im2col columns, input gradient as a forward conv2d with the flipped filter; tfjs-layers-stock:');
  console.log("  TF.js's own Conv3DBackpropFilterV2 (depth 1) and Conv2DBackpropInput kernels");
  const p = r.tfjsProfile,
    total = p.reduce((a, k) => a + k.ms, 0);
  console.log(
    `  tfjs-core, one step by kernel (tf.profile, ${total.toFixed(0)} ms in all): ${p
      .slice(0, 6)
      .map((k) => `${k.kernel} ${k.ms.toFixed(0)}`)
      .join(', ')} ms`,
  );
  const g = r.convGradCheck;
  console.log(
    `  the two agree on conv2's gradients ([${BATCH},14,14,${C1}] → ${C2}): max |diff| / max |value| ${g.dW.toExponential(2)} (dW), ${g.dx.toExponential(2)} (dx)`,
  );
  console.log(
    `CNN losses of the first ${CHECK_STEPS} steps from the same weights, against wasm-simd (step 1 within ${LOSS_TOL.first}, all within ${LOSS_TOL.later}):`,
  );
  const ours = r.rows[0].losses.map((l) => l.toFixed(5)).join(' ');
  for (const c of r.lossChecks)
    console.log(
      `  ${c.backend.padEnd(18)}${c.style === 'Module + autograd' ? ' autograd' : ''} ${c.losses.map((l) => l.toFixed(5)).join(' ')}  (simd ${ours}; max |diff| ${Math.max(...c.diffs).toExponential(2)})${c.ok ? '' : '  MISMATCH'}`,
    );
  for (const n of r.notes) console.log(`  note: ${n}`);
  for (const x of r.rows.filter((x) => x.vsSequential !== null))
    console.log(
      `Target (${x.backend}): Module + autograd ≤ ${AUTOGRAD_RATIO}× Sequential  ${x.vsSequential!.toFixed(2)}×  ${x.vsSequential! <= AUTOGRAD_RATIO ? 'PASS' : 'FAIL'}`,
    );
}
