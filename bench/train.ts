// `npm run bench -- --train [--quick] [--name NAME]`
// One SGD training step of the BN paper's MLP (784-100-100-100-10, sigmoids, batch 60, softmax
// cross-entropy, lr 0.5), with and without BN after each hidden Linear, on fixed random inputs:
// ours on the SIMD and scalar WASM builds and the pure-JS backend, against TF.js's wasm backend as
// a tf.layers model (trainOnBatch) and as core ops (variableGrads + applyGradients); ours both as
// the Sequential of examples/demo (backwardParams) and as a Module subclass trained through the tape
// (bench/autograd.ts), timed in alternating samples (measurePair), which must end its first steps
// with bit-identical state. Then eval-mode
// inference of the trained BN model against the same model with BN folded into the Linears.
// Every model starts from the same weights (ours, copied into TF.js), so the losses of the first
// steps are compared (untimed). Then, from bench/cnn.ts: one Adam step of the demo CNN against
// TF.js, and fused BN+ReLU against BN then ReLU. Writes bench/results/NAME.json.
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167 (§4.1)
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs-core';
import { foldBatchNorm, Generator, Linear, SGD, tensor, type Sequential, type Tensor } from '../src/index';
import { mlp } from '../examples/demo/experiments';
import { measure, measureAsync, measurePair, type Budget, type Timing } from './timing';
import { ourTrainer, runnable, useBackend, type OurBackend } from './ours';
import { initTfjs } from './tfjs';
import { tfCore, tfLayers, type MlpSpec } from './tfjs_mlp';
import { cnnBench, cnnBudgets, printCnn } from './cnn';
import { fuseBench, printFuse } from './fuse';
import { AUTOGRAD_RATIO, autogradTrainer, MlpNet, stateDiffers, type Style } from './autograd';

const BATCH = 60,
  LR = 0.5,
  EPS = 1e-5,
  SEED = 1,
  CLASSES = 10;
const SIZES: [number, number][] = [
  [784, 100],
  [100, 100],
  [100, 100],
  [100, 10],
];
// 3 GEMMs per Linear per step (y = x·Wᵀ, dW = dyᵀ·x, dx = dy·W), 2·m·n·k each; BN, sigmoid, loss
// and SGD add < 1 % and are not counted
// the first Linear's dx (the gradient w.r.t. the input data) is computed by neither side:
// TF.js prunes it from the tape, ours trains with backwardParams
const SPEC: MlpSpec = { sizes: SIZES, lr: LR, eps: EPS };
const FIRST_DX_FLOPS = 2 * BATCH * SIZES[0][0] * SIZES[0][1];
const FLOPS = SIZES.reduce((s, [i, o]) => s + 3 * 2 * BATCH * i * o, 0) - FIRST_DX_FLOPS;
const CHECK_STEPS = 3;
// first-step losses from the same weights differ by f32 summation order only (O(1) values)
const LOSS_TOL = { first: 1e-4, later: 1e-2 };
// folded vs unfolded logits: O(1) values, W·a rounded once more per weight
const FOLD_TOL = 1e-4;
const TARGET_MS = 2,
  TARGET_SPEEDUP = 5;
// the relaxed build (FMA in the products) where the runtime has relaxed SIMD
const OURS = runnable(['wasm-simd', 'wasm-relaxed', 'wasm', 'js'] as const);
const TFJS = ['tfjs-layers', 'tfjs-core'] as const;
type Column = OurBackend | (typeof TFJS)[number];

interface Row {
  model: 'BN' | 'no BN';
  backend: Column;
  /** Ours only (TF.js rows: null). */
  style: Style | null;
  ms: number;
  reps: number;
  warmCalls: number;
  stepsPerS: number;
  gflops: number;
  losses: number[];
  lastLoss: number;
  vsTfjsLayers: number | null;
  vsTfjsCore: number | null;
  /** Module + autograd rows: this row's ms ÷ the Sequential row's (same model, same backend). */
  vsSequential: number | null;
}
interface Infer {
  backend: OurBackend;
  evalMs: number;
  foldedMs: number;
  speedup: number;
  maxAbsDiff: number;
  ok: boolean;
}

function budgets(quick: boolean): { fast: Budget; slow: Budget; infer: Budget } {
  if (quick) {
    const q: Budget = { warmCalls: 20, warmMs: 50, warmCapMs: 300, minReps: 5, timeMs: 100, maxReps: 500 };
    return { fast: q, slow: q, infer: q };
  }
  return {
    // a step makes ~40 kernel calls: 400 steps give each kernel thousands of calls to tier up on
    fast: { warmCalls: 400, warmMs: 800, warmCapMs: 3000, minReps: 50, timeMs: 1500, maxReps: 5000 },
    // scalar WASM, pure JS and TF.js (10–30 ms per step)
    slow: { warmCalls: 60, warmMs: 600, warmCapMs: 2500, minReps: 20, timeMs: 1500, maxReps: 5000 },
    infer: { warmCalls: 1000, warmMs: 400, warmCapMs: 1500, minReps: 30, timeMs: 600, maxReps: 5000 },
  };
}

/** Fixed inputs: pixels in [0, 1), labels in [0, 10). */
function makeData() {
  const g = new Generator(SEED);
  const x = g.fillUniform(new Float32Array(BATCH * SIZES[0][0]), 0, 1);
  const y = Int32Array.from({ length: BATCH }, () => g.below(CLASSES));
  return { x, y };
}
type Data = ReturnType<typeof makeData>;

/** The Linears' initial weights of mlp(bn, 1, SEED): W [out, in] and b [out], the same for BN and no BN. */
function initialWeights(): { w: Float32Array; b: Float32Array }[] {
  const m = mlp(false, 1, SEED);
  const out = m.layers.filter((l): l is Linear => l instanceof Linear).map((l) => ({ w: l.weight.toArray(), b: l.bias!.toArray() }));
  m.dispose();
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < a.length && m < Infinity; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Eval-mode forward of the trained BN model vs its folded version, on the active backend. */
function inference(backend: OurBackend, model: Sequential, x: Tensor, b: Budget): Infer {
  model.eval();
  const folded = foldBatchNorm(model);
  const run = (m: Sequential) => () => m.forward(x).dispose();
  const evalT = measure(run(model), b),
    foldT = measure(run(folded), b);
  const y0 = model.forward(x),
    y1 = folded.forward(x);
  const d = maxAbsDiff(y0.toArray(), y1.toArray());
  y0.dispose();
  y1.dispose();
  // the Sigmoids are shared with `model`: dispose only the folded Linears
  for (const l of folded.layers) if (l instanceof Linear) l.dispose();
  model.train();
  return { backend, evalMs: evalT.ms, foldedMs: foldT.ms, speedup: evalT.ms / foldT.ms, maxAbsDiff: d, ok: d <= FOLD_TOL };
}

function machine() {
  const cpus = os.cpus();
  let commit = '';
  try {
    commit = execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    /* not a checkout */
  }
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    loadAvg1m: +os.loadavg()[0].toFixed(2),
    date: new Date().toISOString(),
    commit,
  };
}

const progress = (s: string) => process.stderr.write(`${s}\n`);
const fmt = (v: number | null, d = 2) => (v === null ? '-' : v.toFixed(d));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, name: { type: 'string', default: 'train' }, train: { type: 'boolean' } },
    strict: true,
  });
  if (!/^[\w.-]+$/.test(values.name)) throw new Error(`--name: use letters, digits, '.', '-', '_' only, got '${values.name}'`);
  const t0 = performance.now();
  const b = budgets(values.quick);
  const m = machine();
  const reference = await initTfjs();
  console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.platform}, ${m.memoryGiB} GiB`);
  console.log(
    `node ${m.node} (V8 ${m.v8}), ${m.date}, load ${m.loadAvg1m}${m.commit ? `, ${m.commit}` : ''}${values.quick ? ', --quick (rough figures)' : ''}`,
  );
  console.log(`reference: ${reference}`);

  const data: Data = makeData();
  const rows: Row[] = [];
  const infer: Infer[] = [];
  const notes: string[] = [];
  const sameState: { model: Row['model']; backend: OurBackend; steps: number; differs: string[] }[] = [];
  const record = (model: Row['model'], backend: Column, t: Timing, losses: number[], lastLoss: number, style: Style | null = null) => {
    rows.push({
      model,
      backend,
      style,
      ms: t.ms,
      reps: t.reps,
      warmCalls: t.warmCalls,
      stepsPerS: 1000 / t.ms,
      gflops: FLOPS / t.ms / 1e6,
      losses,
      lastLoss,
      vsTfjsLayers: null,
      vsTfjsCore: null,
      vsSequential: null,
    });
    progress(
      `  ${model.padEnd(5)} ${backend.padEnd(11)}${style === 'Module + autograd' ? ' autograd' : ''} ${t.ms.toPrecision(3)} ms/step (${t.reps} samples after ${t.warmCalls} warm-up steps; loss ${losses[0].toFixed(4)} → ${lastLoss.toExponential(2)})`,
    );
  };
  const firstLosses = (step: () => number) => Array.from({ length: CHECK_STEPS }, step);

  // TF.js first: its rows are the references for the ratio columns
  let init: { w: Float32Array; b: Float32Array }[] = [];
  await useBackend('wasm-simd');
  init = initialWeights();
  const x = tf.tensor2d(data.x, [BATCH, SIZES[0][0]]),
    y1h = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(data.y, 'int32'), CLASSES), 'float32'));
  for (const bn of [true, false]) {
    const model = bn ? 'BN' : 'no BN';
    for (const kind of TFJS) {
      const before = tf.memory().numTensors;
      if (kind === 'tfjs-layers') {
        const c = tfLayers(SPEC, bn, init, x, y1h);
        const losses: number[] = [];
        for (let i = 0; i < CHECK_STEPS; i++) losses.push(await c.step());
        const t = await measureAsync(c.step, b.slow);
        record(model, kind, t, losses, await c.step());
        c.dispose();
      } else {
        const c = tfCore(SPEC, bn, init, x, y1h);
        const losses = firstLosses(c.step);
        record(model, kind, measure(c.step, b.slow), losses, c.step());
        c.dispose();
      }
      const leaked = tf.memory().numTensors - before;
      if (leaked !== 0) notes.push(`${model} ${kind}: ${leaked} TF.js tensors left after the case`);
    }
  }
  tf.dispose([x, y1h]);

  for (const backend of OURS) {
    await useBackend(backend);
    // kept: after the first loss.backward() a tensor made outside a scope belongs to a training step
    const xt = tensor(data.x, [BATCH, SIZES[0][0]]).keep();
    for (const bn of [true, false]) {
      const name = bn ? 'BN' : 'no BN';
      const model = mlp(bn, 1, SEED),
        net = new MlpNet(bn, SEED);
      const c = ourTrainer(model, xt, data.y, new SGD(model.parameters(), { lr: LR }));
      const a = autogradTrainer(net, xt, data.y, new SGD(net.parameters(), { lr: LR }));
      const losses = firstLosses(c.step),
        autoLosses = firstLosses(a.step);
      sameState.push({ model: name, backend, steps: CHECK_STEPS, differs: stateDiffers(model, net) });
      const budget = backend === 'wasm-simd' || backend === 'wasm-relaxed' ? b.fast : b.slow;
      const [ts, ta] = measurePair(c.step, a.step, budget);
      record(name, backend, ts, losses, c.step(), 'Sequential');
      record(name, backend, ta, autoLosses, a.step(), 'Module + autograd');
      a.dispose();
      net.dispose();
      if (bn) {
        const r = inference(backend, model, xt, b.infer);
        infer.push(r);
        progress(
          `  inference ${backend}: eval ${r.evalMs.toPrecision(3)} ms, folded ${r.foldedMs.toPrecision(3)} ms, max |diff| ${r.maxAbsDiff.toExponential(2)}`,
        );
      }
      c.dispose();
      model.dispose();
    }
    xt.dispose();
  }

  const cb = cnnBudgets(values.quick);
  const cnnResult = await cnnBench(data, cb, progress);
  const fuse = await fuseBench(cb.fuse, progress);

  // ratios, loss checks, targets
  // TF.js rows and our Sequential rows
  const plain = (r: Row) => r.style !== 'Module + autograd';
  const ms = (model: string, backend: Column) => rows.find((r) => r.model === model && r.backend === backend && plain(r))!.ms;
  for (const r of rows) {
    r.vsTfjsLayers = ms(r.model, 'tfjs-layers') / r.ms;
    r.vsTfjsCore = ms(r.model, 'tfjs-core') / r.ms;
    if (!plain(r)) r.vsSequential = r.ms / ms(r.model, r.backend);
  }
  const checks = rows
    .filter((r) => r.backend !== 'wasm-simd' || !plain(r))
    .map((r) => {
      const ref = rows.find((s) => s.model === r.model && s.backend === 'wasm-simd' && plain(s))!;
      const diffs = r.losses.map((l, i) => Math.abs(l - ref.losses[i]));
      const ok = diffs[0] <= LOSS_TOL.first && diffs.every((d) => d <= LOSS_TOL.later);
      return { model: r.model, backend: r.backend, style: r.style, losses: r.losses, reference: ref.losses, diffs, ok };
    });
  const targets = (['BN', 'no BN'] as const).flatMap((model) => {
    const simd = ms(model, 'wasm-simd'),
      auto = rows.find((r) => r.model === model && r.backend === 'wasm-simd' && !plain(r))!.ms,
      best = Math.min(ms(model, 'tfjs-layers'), ms(model, 'tfjs-core'));
    return [
      { model, target: `step ≤ ${TARGET_MS} ms`, value: simd, ok: simd <= TARGET_MS },
      { model, target: `≥ ${TARGET_SPEEDUP}× faster than the faster TF.js variant`, value: best / simd, ok: best / simd >= TARGET_SPEEDUP },
      { model, target: `Module + autograd ≤ ${AUTOGRAD_RATIO}× Sequential`, value: auto / simd, ok: auto / simd <= AUTOGRAD_RATIO },
    ];
  });

  console.log(
    `\nOne training step: batch ${BATCH}, forward + softmax cross-entropy + backward + SGD (lr ${LR}); median of the timed steps`,
  );
  console.log(
    `GEMM FLOP per step: ${(FLOPS / 1e6).toFixed(2)} M (3 GEMMs per Linear, 2·m·n·k each, less the first Linear's dx, ${(FIRST_DX_FLOPS / 1e6).toFixed(2)} M, which neither side computes)`,
  );
  const head = `${'model'.padEnd(7)}${'backend'.padEnd(13)}${'written as'.padEnd(19)}${'ms/step'.padStart(9)}${'steps/s'.padStart(9)}${'GFLOP/s'.padStart(9)}${'÷ tfjs-layers'.padStart(15)}${'÷ tfjs-core'.padStart(13)}${'loss step 1'.padStart(13)}${'÷ Sequential'.padStart(14)}`;
  console.log(head);
  for (const r of rows) {
    console.log(
      `${r.model.padEnd(7)}${r.backend.padEnd(13)}${(r.style ?? '-').padEnd(19)}${r.ms.toFixed(3).padStart(9)}${r.stepsPerS.toFixed(0).padStart(9)}${r.gflops.toFixed(1).padStart(9)}${`${fmt(r.vsTfjsLayers)}×`.padStart(15)}${`${fmt(r.vsTfjsCore)}×`.padStart(13)}${r.losses[0].toFixed(5).padStart(13)}${(r.vsSequential === null ? '' : `${r.vsSequential.toFixed(3)}×`).padStart(14)}`,
    );
  }
  console.log('  ÷ tfjs-X: TF.js variant ms ÷ this row ms (> 1: this row is faster); GFLOP/s: GEMM FLOP ÷ whole-step time');
  console.log(
    '  Sequential: mlp() of examples/demo, CrossEntropyLoss, model.backwardParams(dlogits); Module + autograd: the same layers as fields',
  );
  console.log(
    '  of a Module subclass (bench/autograd.ts), F.crossEntropy, loss.backward(); ÷ Sequential: this row ms ÷ the Sequential row ms',
  );
  console.log(
    `  state after ${CHECK_STEPS} steps from the same seed, Module + autograd against Sequential: ${sameState
      .map((s) => `${s.model} ${s.backend} ${s.differs.length === 0 ? 'bit-identical' : `DIFFERS in ${s.differs.join(', ')}`}`)
      .join('; ')}`,
  );
  console.log(
    '  tfjs-layers: tf.layers Sequential, model.trainOnBatch (async, reads the loss); tfjs-core: tf.variableGrads + optimizer.applyGradients in tf.tidy, loss read with dataSync',
  );

  console.log(
    `\nInference of the trained BN model, batch ${BATCH} (eval mode) vs foldBatchNorm(model); outputs must agree within ${FOLD_TOL}`,
  );
  console.log(
    `${'backend'.padEnd(13)}${'eval ms'.padStart(9)}${'folded ms'.padStart(11)}${'speed-up'.padStart(10)}${'max |diff|'.padStart(12)}`,
  );
  for (const r of infer)
    console.log(
      `${r.backend.padEnd(13)}${r.evalMs.toFixed(4).padStart(9)}${r.foldedMs.toFixed(4).padStart(11)}${`${r.speedup.toFixed(2)}×`.padStart(10)}${r.maxAbsDiff.toExponential(2).padStart(12)}${r.ok ? '' : '  MISMATCH'}`,
    );

  console.log(
    `\nLosses of the first ${CHECK_STEPS} steps from the same weights, against wasm-simd (step 1 within ${LOSS_TOL.first}, all within ${LOSS_TOL.later}):`,
  );
  for (const c of checks)
    console.log(
      `  ${c.model.padEnd(6)}${c.backend.padEnd(12)}${c.style === 'Module + autograd' ? ' autograd' : ''} ${c.losses.map((l) => l.toFixed(5)).join(' ')}  (simd ${c.reference.map((l) => l.toFixed(5)).join(' ')}; max |diff| ${Math.max(...c.diffs).toExponential(2)})${c.ok ? '' : '  MISMATCH'}`,
    );
  for (const n of notes) console.log(`  note: ${n}`);

  console.log('\nTargets (wasm-simd):');
  for (const t of targets)
    console.log(
      `  ${t.model.padEnd(6)}${t.target.padEnd(45)} ${t.target.startsWith('step') ? `${t.value.toFixed(3)} ms` : `${t.value.toFixed(2)}×`}  ${t.ok ? 'PASS' : 'FAIL'}`,
    );
  printCnn(cnnResult);
  printFuse(fuse);
  const durationS = (performance.now() - t0) / 1000;
  console.log(`run took ${durationS.toFixed(0)} s`);

  const dir = fileURLToPath(new URL('../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${values.name}.json`;
  writeFileSync(
    file,
    JSON.stringify(
      {
        name: values.name,
        quick: values.quick,
        machine: m,
        reference,
        budgets: b,
        model: { sizes: SIZES, batch: BATCH, lr: LR, eps: EPS, seed: SEED, flopsPerStep: FLOPS, firstDxFlops: FIRST_DX_FLOPS },
        rows,
        inference: infer,
        lossChecks: checks,
        sameState,
        targets,
        notes,
        cnn: { budgets: cb, ...cnnResult },
        fusedBnRelu: fuse,
        durationS,
      },
      null,
      1,
    ) + '\n',
  );
  console.log(`wrote ${file}`);
  const cnnOk =
    cnnResult.lossChecks.every((c) => c.ok) &&
    cnnResult.sameState.every((s) => s.differs.length === 0) &&
    fuse.every((r) => Object.values(r.identical).every(Boolean));
  const sameOk = sameState.every((s) => s.differs.length === 0);
  if (checks.some((c) => !c.ok) || infer.some((r) => !r.ok) || !cnnOk || !sameOk) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
