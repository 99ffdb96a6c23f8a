// `npm run bench -- --models [--quick] [--profile] [--only a,b] [--build wasm-simd|wasm-relaxed] [--name NAME] [--threads=1,2] [--against=FILE]`
// Inference latency of whole models: resnet18 and mobilenet_v2 (the stripped topologies of
// test/fixtures/onnx, weights filled from a seeded generator) at batch 1, 224×224, and the demo CNN
// (examples/demo/cnn.ts, exported with toOnnx) at batch 60. The same model bytes go to this package
// (loadOnnx: eval, BN folded, run under noGrad), onnxruntime-web (its WebAssembly backend, SIMD, one
// thread) and onnxruntime-node (native CPU, one intra-op thread), timed in one process in alternating
// rounds (ours, ours without the buffers kept between runs and the add+ReLU pass, web, node, ours,
// …) so a change in the machine's load falls on all alike.
// Outputs are compared with onnxruntime-node's, so a fast wrong result cannot pass. --profile times
// every step of inference runs by kind (layers with their fused activation, and the ops between
// them), then each layer alone by kind and shape. --threads=1,2 times ours alone at each thread count
// instead (1: the SIMD build; n > 1: init({ threads: n })), in alternating rounds, with the ratio to
// the first count and whether the outputs' bits agree; --against=FILE times ours on the SIMD build
// against ours on FILE (another SIMD build of this package, e.g. compiled before a change) the same
// way. Writes bench/results/models.json (or models-threads.json).
import os from 'node:os';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { init, memoryBytes, threads } from '../src/runtime/index';
import { tensor, noGrad, type Tensor } from '../src/tensor';
import { loadOnnx } from '../src/onnx/load';
import { toOnnx } from '../src/onnx/export';
import type { Graph } from '../src/graph/graph';
import { betweenLayers } from '../src/graph/arena';
import { BatchNorm2d } from '../src/nn/batchnorm';
import { Generator } from '../src/random';
import { cnn } from '../examples/demo/cnn';
import { fillStripped, seededInput } from '../test/onnx_helpers';
import { useBackend } from './ours';
import { countFlop, profile } from './models_profile';
import { mulAddPeak } from './peak';
import { budgets } from './timing';
import { median } from './timing';

const FIXTURES = fileURLToPath(new URL('../test/fixtures/onnx/', import.meta.url));
const SEED = 7;
// |ours − onnxruntime-node| on logits of order 1 after ≤ 50 layers of f32 sums in another order
// (and, for ours, BN folded into the weights before the sums): seen ≤ 1e-4; a wrong result is O(1)
const OUTPUT_TOL = 1e-3;

interface ModelCase {
  name: string;
  bytes: Uint8Array;
  input: string;
  dims: number[];
}

/** Our builds the bench can run: the default SIMD one, or the opt-in relaxed-SIMD one (fused multiply-adds where the CPU has FMA). */
type Build = 'wasm-simd' | 'wasm-relaxed';

interface Row {
  model: string;
  build: Build;
  batch: number;
  gflop: number;
  ms: { ours: number; web: number; node: number; oursBefore: number };
  rounds: number;
  gflops: { ours: number; web: number; node: number };
  /** web ÷ ours and node ÷ ours: above 1, ours is faster. */
  speedup: { web: number; node: number };
  /** Our WASM linear memory: after loading, and its high-water mark after the runs (it never shrinks). */
  memory: { loadedBytes: number; peakBytes: number; runBytes: number };
  maxAbsDiff: { ours: number; web: number };
}

function cases(only: string[] | null): ModelCase[] {
  const zoo = (name: string): ModelCase => ({
    name,
    bytes: fillStripped(new Uint8Array(readFileSync(FIXTURES + `${name}.onnx`)), SEED),
    input: 'input',
    dims: [1, 3, 224, 224],
  });
  const all = [zoo('resnet18'), zoo('mobilenet_v2'), { name: 'demo-cnn', bytes: demoCnn(), input: 'input', dims: [60, 1, 28, 28] }];
  return all.filter((c) => only === null || only.some((o) => c.name.includes(o)));
}

/** The demo CNN with seeded weights and seeded running statistics, as ONNX. */
function demoCnn(): Uint8Array {
  const m = cnn(SEED);
  const g = new Generator(SEED);
  for (const l of m.layers) {
    if (!(l instanceof BatchNorm2d)) continue;
    const c = l.numFeatures;
    const u = (lo: number, hi: number) => g.fillUniform(new Float32Array(c), lo, hi);
    l.loadStateDict({ weight: u(0.7, 1.3), bias: u(-0.2, 0.2), running_mean: u(-0.2, 0.2), running_var: u(0.5, 1.5) }, { strict: false });
  }
  const bytes = toOnnx(m.eval(), { inputShapes: { input: ['batch', 1, 28, 28] } });
  m.dispose();
  return bytes;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return Number.isNaN(m) ? Infinity : m;
}

async function runCase(c: ModelCase, build: Build, rounds: number, warm: number, showProfile: boolean): Promise<Row> {
  await useBackend(build); // a fresh instance: its linear memory starts small
  const data = seededInput(c.dims, SEED + 1);
  const graph = await loadOnnx(c.bytes);
  const x = tensor(data, c.dims);
  const loadedBytes = memoryBytes();
  const web = await ortWeb.InferenceSession.create(c.bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const nat = await ortNode.InferenceSession.create(c.bytes, {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  try {
    const feedsWeb = { [c.input]: new ortWeb.Tensor('float32', data, c.dims) };
    const feedsNode = { [c.input]: new ortNode.Tensor('float32', data, c.dims) };
    const ours = (): Float32Array => {
      const y = noGrad(() => graph.forward(x));
      const v = y.toArray();
      y.dispose();
      return v;
    };
    // ours without the buffers kept between runs and the add+ReLU pass (src/graph/arena.ts), in the same rounds
    const oursBefore = (): Float32Array => {
      betweenLayers.reuse = betweenLayers.addRelu = false;
      try {
        return ours();
      } finally {
        betweenLayers.reuse = betweenLayers.addRelu = true;
      }
    };
    const outName = web.outputNames[0];
    const runWeb = async () => (await web.run(feedsWeb))[outName].data as Float32Array;
    const runNode = async () => (await nat.run(feedsNode))[outName].data as Float32Array;
    const ref = await runNode();
    const diff = { ours: maxAbsDiff(ours(), ref), web: maxAbsDiff(await runWeb(), ref) };
    // the peak of ours alone (WASM memory never shrinks): before the runs without the kept buffers add theirs
    ours();
    ours();
    const peakBytes = memoryBytes();
    for (let i = 0; i < warm; i++) {
      ours();
      oursBefore();
      await runWeb();
      await runNode();
    }
    const t = { ours: [] as number[], web: [] as number[], node: [] as number[], oursBefore: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      let t0 = performance.now();
      ours();
      t.ours.push(performance.now() - t0);
      t0 = performance.now();
      oursBefore();
      t.oursBefore.push(performance.now() - t0);
      t0 = performance.now();
      await runWeb();
      t.web.push(performance.now() - t0);
      t0 = performance.now();
      await runNode();
      t.node.push(performance.now() - t0);
    }
    const flop = countFlop(graph, x);
    const ms = { ours: median(t.ours), web: median(t.web), node: median(t.node), oursBefore: median(t.oursBefore) };
    if (showProfile) profile(graph, x, ms.ours);
    const g = (v: number) => flop / v / 1e6;
    return {
      model: c.name,
      build,
      batch: c.dims[0],
      gflop: flop / 1e9,
      ms,
      rounds,
      gflops: { ours: g(ms.ours), web: g(ms.web), node: g(ms.node) },
      speedup: { web: ms.web / ms.ours, node: ms.node / ms.ours },
      memory: { loadedBytes, peakBytes, runBytes: peakBytes - loadedBytes },
      maxAbsDiff: diff,
    };
  } finally {
    await web.release();
    await nat.release();
    x.dispose();
    graph.dispose();
  }
}

interface ThreadRow {
  model: string;
  batch: number;
  threads: number[];
  /** Per thread count: the best over the rounds of each round's median. */
  ms: number[];
  /** ms at the first thread count ÷ ms at each. */
  ratio: number[];
  /** Whether every thread count gave the first one's output bits. */
  sameBits: boolean;
}

/** Our inference of `c` at each of `counts` threads, alternating (1 2 1 2 …) in `rounds` rounds of `runs` timed runs each, a fresh runtime and graph per turn. */
async function threadCase(c: ModelCase, counts: number[], rounds: number, runs: number, warm: number): Promise<ThreadRow> {
  const starts = counts.map((n) => async () => {
    await init(n === 1 ? { backend: 'wasm-simd' } : { threads: n });
    if (threads() !== n) throw new Error(`bench: ${n} threads asked, ${threads()} run`);
  });
  return { ...(await variantCase(c, starts, rounds, runs, warm)), threads: counts };
}

/** Our inference of `c` on each runtime that `starts` makes, alternating (A B A B …) as threadCase does. */
async function variantCase(
  c: ModelCase,
  starts: (() => Promise<unknown>)[],
  rounds: number,
  runs: number,
  warm: number,
): Promise<ThreadRow> {
  const data = seededInput(c.dims, SEED + 1);
  const best = starts.map(() => Infinity);
  let first: Uint32Array | null = null,
    sameBits = true;
  for (let r = 0; r < rounds; r++) {
    for (const [i, start] of starts.entries()) {
      await start();
      const graph = await loadOnnx(c.bytes);
      const x = tensor(data, c.dims);
      const run = (): Float32Array => {
        const y = noGrad(() => graph.forward(x));
        const v = y.toArray();
        y.dispose();
        return v;
      };
      const out = run();
      const b = new Uint32Array(out.buffer, out.byteOffset, out.length);
      if (first === null) first = b.slice();
      else if (b.length !== first.length || b.some((v, j) => v !== first![j])) sameBits = false;
      for (let k = 0; k < warm; k++) run();
      const t: number[] = [];
      for (let k = 0; k < runs; k++) {
        const t0 = performance.now();
        run();
        t.push(performance.now() - t0);
      }
      best[i] = Math.min(best[i], median(t));
      x.dispose();
      graph.dispose();
    }
  }
  return { model: c.name, batch: c.dims[0], threads: starts.map(() => 1), ms: best, ratio: best.map((m) => best[0] / m), sameBits };
}

const MiB = (b: number) => (b / 2 ** 20).toFixed(1);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      only: { type: 'string' },
      name: { type: 'string', default: 'models' },
      build: { type: 'string', default: 'wasm-simd' },
      threads: { type: 'string' },
      against: { type: 'string' },
    },
    strict: true,
  });
  if (!/^[\w.-]+$/.test(values.name)) throw new Error(`--name: use letters, digits, '.', '-', '_' only, got '${values.name}'`);
  const build = values.build as Build;
  if (build !== 'wasm-simd' && build !== 'wasm-relaxed') throw new Error(`--build: expected wasm-simd or wasm-relaxed, got '${build}'`);
  if (values.threads !== undefined) {
    const counts = values.threads.split(',').map(Number);
    if (counts.some((n) => !Number.isInteger(n) || n < 1) || build !== 'wasm-simd')
      throw new Error(`--threads: expected thread counts such as 1,2 (the wasm-simd build), got '${values.threads}'`);
    await threadMain(counts, values.only?.split(',') ?? null, values.quick, values.name === 'models' ? 'models-threads' : values.name);
    return;
  }
  if (values.against !== undefined) {
    await againstMain(values.against, values.only?.split(',') ?? null, values.quick);
    return;
  }
  ortWeb.env.wasm.numThreads = 1;
  ortWeb.env.wasm.simd = true;
  const load0 = os.loadavg()[0];
  const rows: Row[] = [];
  await useBackend(build); // the demo CNN is built (and exported) here
  // our GFLOP/s as a % of the core's f32x4 mul + add peak, measured now on this build
  const peak = mulAddPeak(budgets(values.quick).fast);
  console.log(`mul + add peak (bench/peak.ts): ${peak.toFixed(1)} GFLOP/s`);
  for (const c of cases(values.only?.split(',') ?? null)) {
    console.log(`${c.name} [${c.dims.join(', ')}] …`);
    const row = await runCase(c, build, values.quick ? 5 : 15, values.quick ? 2 : 5, values.profile);
    rows.push(row);
    const ok = row.maxAbsDiff.ours <= OUTPUT_TOL && row.maxAbsDiff.web <= OUTPUT_TOL;
    console.log(
      `  ${row.gflop.toFixed(2)} GFLOP; ms (median of ${row.rounds}): ours ${row.ms.ours.toFixed(1)}, ort-web ${row.ms.web.toFixed(1)}, ` +
        `ort-node ${row.ms.node.toFixed(1)}; GFLOP/s ${row.gflops.ours.toFixed(1)} / ${row.gflops.web.toFixed(1)} / ${row.gflops.node.toFixed(1)}` +
        ` (ours ${((100 * row.gflops.ours) / peak).toFixed(0)}% of the mul + add peak)`,
    );
    console.log(
      `  ours without the kept buffers and the add+ReLU pass: ${row.ms.oursBefore.toFixed(1)} ms (×${(row.ms.oursBefore / row.ms.ours).toFixed(2)} of ours with them)`,
    );
    console.log(
      `  ours ×${row.speedup.web.toFixed(2)} of ort-web's speed, ×${row.speedup.node.toFixed(2)} of ort-node's; ` +
        `WASM memory ${MiB(row.memory.loadedBytes)} MiB loaded, ${MiB(row.memory.peakBytes)} MiB peak; ` +
        `max |Δ| vs ort-node: ours ${row.maxAbsDiff.ours.toExponential(1)}, ort-web ${row.maxAbsDiff.web.toExponential(1)} ${ok ? 'ok' : 'FAIL'}`,
    );
  }
  const load1 = os.loadavg()[0];
  console.log(
    `load average (1 min) ${load0.toFixed(2)} before, ${load1.toFixed(2)} after; ${os.cpus().length} CPUs; Node ${process.version}`,
  );
  const dir = fileURLToPath(new URL('../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: os.cpus()[0]?.model,
    load: [load0, load1],
    mulAddPeakGflops: peak,
    outputTol: OUTPUT_TOL,
  };
  writeFileSync(`${dir}${values.name}.json`, JSON.stringify({ meta, rows }, null, 2) + '\n');
  if (rows.some((r) => !(r.maxAbsDiff.ours <= OUTPUT_TOL && r.maxAbsDiff.web <= OUTPUT_TOL))) process.exitCode = 1;
}

/** --threads: ours at each thread count, alternating, with the ratios; writes bench/results/NAME.json. */
async function threadMain(counts: number[], only: string[] | null, quick: boolean, name: string): Promise<void> {
  const load0 = os.loadavg()[0];
  const rows: ThreadRow[] = [];
  await useBackend('wasm-simd'); // the demo CNN is built (and exported) here
  for (const c of cases(only)) {
    const row = await threadCase(c, counts, quick ? 2 : 3, quick ? 5 : 10, 2);
    rows.push(row);
    const cols = counts.map((n, i) => `${n} thread${n > 1 ? 's' : ''} ${row.ms[i].toFixed(1)} ms (×${row.ratio[i].toFixed(2)})`);
    console.log(
      `${c.name} [${c.dims.join(', ')}]: ${cols.join(', ')}; bits ${row.sameBits ? 'the same' : 'DIFFER'}; load ${os.loadavg()[0].toFixed(2)}`,
    );
  }
  const load1 = os.loadavg()[0];
  console.log(
    `load average (1 min) ${load0.toFixed(2)} before, ${load1.toFixed(2)} after; ${os.cpus().length} CPUs; Node ${process.version}`,
  );
  const dir = fileURLToPath(new URL('../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const meta = { date: new Date().toISOString(), node: process.version, cpu: os.cpus()[0]?.model, load: [load0, load1] };
  writeFileSync(`${dir}${name}.json`, JSON.stringify({ meta, rows }, null, 2) + '\n');
  await init();
  if (rows.some((r) => !r.sameBits)) process.exitCode = 1;
}

/** --against=FILE: ours on the SIMD build against ours on another build of it (FILE, e.g. one compiled before a change), alternating; the ratio is this build's speed over FILE's. */
async function againstMain(file: string, only: string[] | null, quick: boolean): Promise<void> {
  const other = await WebAssembly.compile(readFileSync(file));
  const load0 = os.loadavg()[0];
  await useBackend('wasm-simd'); // the demo CNN is built (and exported) here
  for (const c of cases(only)) {
    const starts = [() => init({ module: other }), () => init({ backend: 'wasm-simd' })];
    const row = await variantCase(c, starts, quick ? 3 : 5, quick ? 5 : 10, 2);
    console.log(
      `${c.name} [${c.dims.join(', ')}]: ${file} ${row.ms[0].toFixed(1)} ms, this build ${row.ms[1].toFixed(1)} ms (×${row.ratio[1].toFixed(2)} the speed); ` +
        `bits ${row.sameBits ? 'the same' : 'DIFFER'}; load ${os.loadavg()[0].toFixed(2)}`,
    );
  }
  console.log(
    `load average (1 min) ${load0.toFixed(2)} before, ${os.loadavg()[0].toFixed(2)} after; ${os.cpus().length} CPUs; Node ${process.version}`,
  );
  await init();
}

await main();
