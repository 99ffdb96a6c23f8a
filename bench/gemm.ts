// `npm run bench -- --gemm [--quick] [--name NAME]`
// GFLOP/s of C = A·B (sgemm through src/kernels/gemm.ts, workspace included) on our SIMD, relaxed
// SIMD (FMA; where the runtime has relaxed SIMD) and scalar WASM builds and the pure-JS backend,
// against TF.js's wasm backend (tf.matMul, XNNPACK), on the same inputs; outputs are checked against
// each other (untimed). Beside them, the SIMD build's rate as a % of the core's f32x4 mul + add peak
// (bench/peak.ts, measured before and after the shapes; the larger is taken). Writes
// bench/results/NAME.json.
import os from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { runtime } from '../src/runtime/index';
import { matmul } from '../src/kernels/gemm';
import { budgets, measure, type Budget } from './timing';
import { runnable, useBackend, type OurBackend } from './ours';
import { initTfjs } from './tfjs';
import { mulAddPeak } from './peak';

interface Shape {
  name: string;
  m: number;
  k: number;
  n: number;
  transA?: boolean;
  transB?: boolean;
}

// m×k·k×n; the first four are the headline sizes, the rest the trainer's other products
const SHAPES: Shape[] = [
  { name: '64³', m: 64, k: 64, n: 64 },
  { name: '256³', m: 256, k: 256, n: 256 },
  { name: '[1024×784]·[784×100]', m: 1024, k: 784, n: 100 },
  { name: '[60×784]·[784×100]', m: 60, k: 784, n: 100 },
  { name: 'Linear [60×784]·[100×784]ᵀ', m: 60, k: 784, n: 100, transB: true },
  { name: 'dW [784×60]ᵀ·[60×100]', m: 784, k: 60, n: 100, transA: true },
  { name: 'dX [60×100]·[784×100]ᵀ', m: 60, k: 100, n: 784, transB: true },
  { name: '[60×100]·[100×10]', m: 60, k: 100, n: 10 },
  { name: 'im2col [25088×9]·[9×16]', m: 32 * 28 * 28, k: 9, n: 16 },
  { name: 'im2col [6272×144]·[144×32]', m: 32 * 14 * 14, k: 144, n: 32 },
];
const OURS = runnable(['wasm-simd', 'wasm-relaxed', 'wasm', 'js'] as const);
type Column = OurBackend | 'tfjs-wasm';
const COLUMNS: Column[] = [...OURS, 'tfjs-wasm'];

// ours and TF.js sum in f32 in different orders: relative to Σ|a||b|, k·2⁻²⁴ bounds each
const relTolerance = (k: number) => 2 * (k + 1) * 2 ** -24;

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

interface Result {
  shape: string;
  m: number;
  k: number;
  n: number;
  column: Column;
  ms: number;
  gflops: number;
  reps: number;
}

/** Times our kernel on the active backend; returns the time and the output. */
function timeOurs(s: Shape, a: Float32Array, b: Float32Array, budget: Budget) {
  const rt = runtime(),
    k = rt.k;
  const pa = k.alloc(a.length * 4),
    pb = k.alloc(b.length * 4),
    pc = k.alloc(s.m * s.n * 4);
  try {
    rt.f32(pa, a.length).set(a);
    rt.f32(pb, b.length).set(b);
    const run = () => matmul(pa, pb, pc, s.m, s.n, s.k, { transA: s.transA, transB: s.transB });
    const t = measure(run, budget);
    run();
    return { t, out: rt.f32(pc, s.m * s.n).slice() };
  } finally {
    for (const p of [pa, pb, pc]) k.free(p);
  }
}

function timeTfjs(s: Shape, a: Float32Array, b: Float32Array, budget: Budget) {
  const ta = tf.tensor2d(a, s.transA ? [s.k, s.m] : [s.m, s.k]),
    tb = tf.tensor2d(b, s.transB ? [s.n, s.k] : [s.k, s.n]);
  try {
    const t = measure(
      () =>
        tf.tidy(() => {
          tf.matMul(ta, tb, s.transA, s.transB);
        }),
      budget,
    );
    const c = tf.matMul(ta, tb, s.transA, s.transB);
    const out = Float32Array.from(c.dataSync() as Float32Array);
    c.dispose();
    return { t, out };
  } finally {
    ta.dispose();
    tb.dispose();
  }
}

/** Largest |x − y| ÷ (Σ|a||b| of that element, bounded above by k·max|a|·max|b| = k for values in [−1, 1]). */
function relDiff(x: Float32Array, y: Float32Array, k: number): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]) / Math.max(k, 1);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, name: { type: 'string', default: 'gemm' }, gemm: { type: 'boolean' } },
    strict: true,
  });
  if (!/^[\w.-]+$/.test(values.name)) throw new Error(`--name: use letters, digits, '.', '-', '_' only, got '${values.name}'`);
  const b = budgets(values.quick);
  const reference = await initTfjs();
  console.log(
    `machine: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores; node ${process.versions.node} (V8 ${process.versions.v8})${values.quick ? '; --quick (rough figures)' : ''}`,
  );
  console.log(`reference: ${reference}; our workspace alloc/free is inside the timed call`);
  await useBackend('wasm-simd');
  const peak0 = mulAddPeak(b.fast);
  const results: Result[] = [];
  const checks: { shape: string; column: Column; maxRelDiff: number; ok: boolean }[] = [];
  for (const [i, s] of SHAPES.entries()) {
    process.stderr.write(`[${i + 1}/${SHAPES.length}] ${s.name}\n`);
    const a = rand(s.m * s.k, 1),
      bv = rand(s.k * s.n, 2);
    const flops = 2 * s.m * s.n * s.k;
    const outs: Partial<Record<Column, Float32Array>> = {};
    const record = (column: Column, r: { t: { ms: number; reps: number }; out: Float32Array }) => {
      results.push({ shape: s.name, m: s.m, k: s.k, n: s.n, column, ms: r.t.ms, reps: r.t.reps, gflops: flops / r.t.ms / 1e6 });
      outs[column] = r.out;
    };
    record('tfjs-wasm', timeTfjs(s, a, bv, b.slow));
    for (const name of OURS) {
      await useBackend(name);
      record(name, timeOurs(s, a, bv, name === 'wasm-simd' || name === 'wasm-relaxed' ? b.fast : b.slow));
    }
    for (const c of OURS) {
      const d = relDiff(outs[c]!, outs['tfjs-wasm']!, s.k);
      checks.push({ shape: s.name, column: c, maxRelDiff: d, ok: d <= relTolerance(s.k) });
    }
  }

  await useBackend('wasm-simd');
  const peak = Math.max(peak0, mulAddPeak(b.fast));
  const w = Math.max(...SHAPES.map((s) => s.name.length)) + 2;
  console.log(
    `\nGFLOP/s (2·m·n·k ÷ median time per call; single thread); mul + add peak ${peak.toFixed(1)} GFLOP/s ` +
      `(${peak0.toFixed(1)} before the shapes)\n${'shape (m×k·k×n)'.padEnd(w)}${COLUMNS.map((c) => c.padStart(13)).join('')}   SIMD ÷ TF.js  SIMD % of peak`,
  );
  for (const s of SHAPES) {
    const g = (c: Column) => results.find((r) => r.shape === s.name && r.column === c)!.gflops;
    console.log(
      `${s.name.padEnd(w)}${COLUMNS.map((c) => g(c).toFixed(1).padStart(13)).join('')}   ${(g('wasm-simd') / g('tfjs-wasm')).toFixed(2).padStart(8)}×` +
        `${((100 * g('wasm-simd')) / peak).toFixed(0).padStart(14)}%`,
    );
  }
  const bad = checks.filter((c) => !c.ok);
  console.log(
    `\noutputs vs TF.js: worst |diff| ÷ k = ${Math.max(...checks.map((c) => c.maxRelDiff)).toExponential(2)}${bad.length ? '' : ' (all within 2·(k + 1)·2⁻²⁴)'}`,
  );
  for (const c of bad) console.log(`  MISMATCH ${c.shape} ${c.column}: ${c.maxRelDiff}`);

  const dir = fileURLToPath(new URL('../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${values.name}.json`;
  writeFileSync(
    file,
    JSON.stringify(
      {
        name: values.name,
        quick: values.quick,
        reference,
        date: new Date().toISOString(),
        budgets: b,
        mulAddPeakGflops: peak,
        results,
        checks,
      },
      null,
      1,
    ) + '\n',
  );
  console.log(`wrote ${file}`);
  if (bad.length) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
