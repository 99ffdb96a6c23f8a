// The BatchNorm kernels' benchmark in a form every JavaScript runtime runs: no Node built-ins, only
// `performance.now()`, WebAssembly and the library's own loader (which reads the .wasm files beside
// this bundle with node:fs under file: URLs and fetches them over http:). Bundled by
// scripts/bench.mjs into build/bench-kernels.mjs; bench/runtimes.ts runs it in Node, Deno, Bun and
// Chromium. `run()` times forward (training), inference and backward on the SIMD build, the scalar
// build and the pure-JS backend, and returns plain JSON.
import { init } from '../src/runtime/index';
import { geometry, type Layout } from '../src/kernels/batchnorm';
import { kernelCase, OPS, type KernelInputs, type Op } from './kernel_case';
import { measure, median, type Budget } from './timing';

export type { Budget } from './timing';
export { OPS, type Op } from './kernel_case';

export type Backend = 'wasm-simd' | 'wasm' | 'js';
export const BACKENDS: Backend[] = ['wasm-simd', 'wasm', 'js'];

export interface Shape {
  name: string;
  layout: Layout;
  shape: number[];
}
// Smaller than `npm run bench`'s shapes, so that one runtime takes seconds, not minutes.
export const SHAPES: Shape[] = [
  { name: 'NCHW 16x32x28x28', layout: 'NCHW', shape: [16, 32, 28, 28] },
  { name: 'NHWC 16x28x28x32', layout: 'NHWC', shape: [16, 28, 28, 32] },
  { name: 'NC 256x1024', layout: 'NC', shape: [256, 1024] },
];

// ≥ 200 warm-up calls per case (V8 tiers WebAssembly up from Liftoff to TurboFan only after a
// budget of calls; JavaScriptCore has its own tiers); samples of ≥ 1 ms, because browsers coarsen
// performance.now() (Chromium: 100 µs, or 5 µs when the page is cross-origin isolated).
export const BUDGET: Budget = { warmCalls: 200, warmMs: 100, warmCapMs: 10_000, minReps: 15, timeMs: 250, maxReps: 2000, sampleMs: 1 };

export interface Case {
  shape: string;
  op: Op;
  backend: Backend;
  ms: number;
  reps: number;
  inner: number;
  warmCalls: number;
}
export interface Result {
  runtime: string;
  engine: string;
  timerResolutionMs: number;
  crossOriginIsolated: boolean | null;
  budget: Budget;
  cases: Case[];
  /** max |output − JS backend's output| per backend over every shape and op (untimed). */
  maxAbsDiffVsJs: Record<string, number>;
  durationMs: number;
}

const EPS = 1e-5;

/** Seeded normal values (mulberry32 + Box–Muller): the same inputs in every runtime. */
function normals(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const r = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - r(),
      v = r(),
      m = Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

function makeInputs(s: Shape): KernelInputs {
  const g = geometry(s.layout, s.shape),
    C = g.c;
  const x = normals(g.size, 1234),
    dy = normals(g.size, 5678);
  const chan = g.channelsLast ? (i: number) => i % C : (i: number) => Math.floor(i / g.l) % C;
  for (let i = 0; i < x.length; i++) {
    const c = chan(i);
    x[i] = ((c % 5) - 2) * 0.5 + (0.5 + (c % 3) * 0.5) * x[i];
  }
  const gamma = new Float32Array(C),
    beta = new Float32Array(C),
    runMean = new Float64Array(C),
    runInv = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    gamma[c] = 1 + 0.1 * (((c % 7) - 3) / 3);
    beta[c] = 0.1 * ((c % 4) - 1.5);
    runMean[c] = ((c % 5) - 2) * 0.5 + 0.05;
    runInv[c] = 1 / Math.sqrt((0.5 + (c % 3) * 0.5) ** 2 * 1.1 + EPS);
  }
  return { g, x, dy, gamma, beta, runMean, runInv };
}

interface Globals {
  Deno?: { version: { deno: string; v8: string } };
  Bun?: { version: string };
  process?: { versions?: Record<string, string> };
  navigator?: { userAgent?: string };
  crossOriginIsolated?: boolean;
}

function describeRuntime(): { runtime: string; engine: string } {
  const g = globalThis as unknown as Globals;
  if (g.Deno) return { runtime: `deno ${g.Deno.version.deno}`, engine: `V8 ${g.Deno.version.v8}` };
  if (g.Bun)
    return {
      runtime: `bun ${g.Bun.version}`,
      engine: `JavaScriptCore${g.process?.versions?.webkit ? ` ${g.process.versions.webkit.slice(0, 12)}` : ''}`,
    };
  if (g.process?.versions?.node) return { runtime: `node v${g.process.versions.node}`, engine: `V8 ${g.process.versions.v8}` };
  const ua = g.navigator?.userAgent ?? '';
  const m = /(HeadlessChrome|Chrome)\/([\d.]+)/.exec(ua);
  return { runtime: m ? `chromium ${m[2]}` : ua || 'unknown', engine: m ? 'V8' : 'unknown' };
}

/** Smallest step of performance.now() seen over a few hundred reads. */
function timerResolution(): number {
  let best = Infinity,
    last = performance.now();
  for (let i = 0, seen = 0; i < 1e6 && seen < 200; i++) {
    const t = performance.now();
    if (t > last) {
      best = Math.min(best, t - last);
      seen++;
      last = t;
    }
  }
  return best;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Times every shape × backend × op; `log` gets one progress line per shape and backend. */
export async function run(options: { log?: (s: string) => void; budget?: Partial<Budget> } = {}): Promise<Result> {
  const log = options.log ?? (() => {});
  const budget = { ...BUDGET, ...options.budget };
  const t0 = performance.now();
  const cases: Case[] = [];
  const diffs: Record<string, number> = {};
  for (const s of SHAPES) {
    const inp = makeInputs(s);
    const outputs: Partial<Record<Backend, Record<Op, Float32Array>>> = {};
    for (const backend of BACKENDS) {
      await init({ backend });
      const c = kernelCase(inp, EPS);
      try {
        const line: string[] = [];
        for (const op of OPS) {
          const t = measure(c.run[op], budget);
          cases.push({ shape: s.name, op, backend, ...t });
          line.push(`${op} ${t.ms.toPrecision(3)} ms`);
        }
        outputs[backend] = Object.fromEntries(OPS.map((op) => [op, c.output(op)])) as Record<Op, Float32Array>;
        log(`  ${s.name} ${backend.padEnd(9)} ${line.join(', ')}`);
      } finally {
        c.free();
      }
    }
    for (const backend of BACKENDS.filter((b) => b !== 'js')) {
      for (const op of OPS) diffs[backend] = Math.max(diffs[backend] ?? 0, maxAbsDiff(outputs[backend]![op], outputs.js![op]));
    }
  }
  const coi = (globalThis as unknown as Globals).crossOriginIsolated;
  return {
    ...describeRuntime(),
    timerResolutionMs: timerResolution(),
    crossOriginIsolated: typeof coi === 'boolean' ? coi : null,
    budget,
    cases,
    maxAbsDiffVsJs: diffs,
    durationMs: performance.now() - t0,
  };
}
