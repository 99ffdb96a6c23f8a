// `npm run bench -- --threads`: the same calls on one thread (the SIMD build, no pool) and on 2
// threads (init({ threads: 2 }): the shared-memory build), with the ratio; the cost of an empty
// fork-join; and the bits of every timed output compared between the two (they must be equal).
// Rows: GEMM 256³, the demo CNN's second convolution (a layer forward, im2col + GEMM per image; its
// backward) and its GEMM alone, BatchNorm2d's training forward and backward on NCHW and NHWC 24.5
// MiB (with the memory roof of 1 and 2 threads measured in the same run, and each thread count's
// share of its roof), the demo's first max-pool, one training step of the demo CNN and of the MLP
// at batch 60 (small: below the thresholds, it must be no slower); the inference kernels and the
// training depthwise convolution (bench/threads_infer.ts). `--quick` cuts the budgets;
// `--only=conv,MLP` times the cases whose names contain one of the words. Writes
// bench/results/threads.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import {
  Adam,
  RMSprop,
  BatchNorm2d,
  Conv2d,
  MaxPool2d,
  Generator,
  Linear,
  BatchNorm1d,
  ReLU,
  Sequential,
  tensor,
  type Tensor,
} from '../src/index';
import { init, runtime, threadPool, threads } from '../src/runtime/index';
import { forkJoinMicros, roofline } from '../src/runtime/threads';
import { rooflineCopy, rooflineRead } from '../src/kernels/roofline';
import { matmul } from '../src/kernels/gemm';
import { cnn } from '../examples/demo/cnn';
import { ourTrainer } from './ours';
import { inferCases } from './threads_infer';
import { budgets, measure, type Budget } from './timing';

const quick = process.argv.includes('--quick');
const { fast } = budgets(quick);
const slowBudget: Budget = quick ? fast : { ...fast, warmCalls: 10, minReps: 10, timeMs: 2000, maxReps: 200 };

/** Deterministic inputs in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 8) * 2 ** -23 - 1;
  }
  return out;
}

interface Case {
  name: string;
  /** Work per call for the GFLOP/s column (0: none). */
  flops: number;
  /** Bytes moved per call for the GB/s column (0: none). */
  bytes: number;
  /** Sets the case up on the active backend; returns the timed call, its output's bits, and a cleanup. */
  setup(): { run: () => void; out: () => Float32Array; dispose: () => void };
}

function gemmCase(name: string, m: number, n: number, k: number): Case {
  return {
    name,
    flops: 2 * m * n * k,
    bytes: 0,
    setup() {
      const rt = runtime();
      const p = [m * k, k * n, m * n].map((s, i) => {
        const ptr = rt.k.alloc(4 * s);
        rt.f32(ptr, s).set(values(s, i + 1));
        return ptr;
      });
      return {
        run: () => matmul(p[0], p[1], p[2], m, n, k),
        out: () =>
          runtime()
            .f32(p[2], m * n)
            .slice(),
        dispose: () => p.forEach((q) => rt.k.free(q)),
      };
    },
  };
}

/** A layer's forward on x of `shape`, output disposed each call. */
function layerCase(
  name: string,
  make: () => { forward(x: Tensor): Tensor; dispose(): void },
  shape: number[],
  flops: number,
  bytes: number,
): Case {
  return {
    name,
    flops,
    bytes,
    setup() {
      const layer = make();
      const x = tensor(
        values(
          shape.reduce((a, b) => a * b),
          3,
        ),
        shape,
      );
      let last: Float32Array | null = null;
      return {
        run: () => {
          const y = layer.forward(x);
          y.dispose();
        },
        out: () => {
          const y = layer.forward(x);
          last = y.toArray();
          y.dispose();
          return last;
        },
        dispose: () => {
          x.dispose();
          layer.dispose();
        },
      };
    },
  };
}

/** One training step (Adam, cross-entropy) of `model` on a fixed batch; the output: the weights after one more step. */
function trainCase(name: string, make: () => Sequential, shape: number[], classes: number): Case {
  return {
    name,
    flops: 0,
    bytes: 0,
    setup() {
      const model = make();
      const x = tensor(
        values(
          shape.reduce((a, b) => a * b),
          5,
        ),
        shape,
      );
      const labels = new Int32Array(shape[0]).map((_, i) => i % classes);
      const t = ourTrainer(model, x, labels, new Adam(model.parameters(), { lr: 1e-3 }));
      return {
        run: () => void t.step(),
        out: () => {
          t.step();
          const sd = model.stateDict();
          return Float32Array.from(
            Object.keys(sd).flatMap((k) => (sd[k] instanceof Float32Array ? Array.from(sd[k] as Float32Array) : [])),
          );
        },
        dispose: () => {
          t.dispose();
          x.dispose();
          model.dispose();
        },
      };
    },
  };
}

/** A layer's backward (dx, and the parameters' gradients) after one forward on x of `shape`; the output: dx. */
function backwardCase(
  name: string,
  make: () => { forward(x: Tensor): Tensor; backward(dy: Tensor): Tensor; dispose(): void },
  shape: number[],
  flops: number,
  bytes = 0,
): Case {
  return {
    name,
    flops,
    bytes,
    setup() {
      const layer = make();
      const x = tensor(
        values(
          shape.reduce((a, b) => a * b),
          3,
        ),
        shape,
      );
      const y = layer.forward(x);
      const dy = tensor(values(y.size, 4), y.shape);
      const step = () => layer.backward(dy);
      return {
        run: () => step().dispose(),
        out: () => {
          const dx = step();
          const v = dx.toArray();
          dx.dispose();
          return v;
        },
        dispose: () => {
          for (const t of [dy, y, x]) t.dispose();
          layer.dispose();
        },
      };
    },
  };
}

/** One RMSprop step on a Linear(1024, 1024)'s weights (2^20 values) after one backward; the output: the weights after one more step. */
function rmspropCase(name: string): Case {
  return {
    name,
    flops: 0,
    bytes: 0,
    setup() {
      const layer = new Linear(1024, 1024, { generator: new Generator(2) });
      const x = tensor(values(8 * 1024, 6), [8, 1024]);
      const y = layer.forward(x);
      const dy = tensor(values(y.size, 7), y.shape);
      layer.backward(dy).dispose();
      const opt = new RMSprop(layer.parameters(), { lr: 1e-3, momentum: 0.9 });
      return {
        run: () => opt.step(),
        out: () => {
          opt.step();
          return layer.stateDict()['weight'] as Float32Array;
        },
        dispose: () => {
          for (const t of [dy, y, x]) t.dispose();
          opt.dispose();
          layer.dispose();
        },
      };
    },
  };
}

const BN_SHAPE = [32, 64, 56, 56]; // 24.5 MiB of f32
const BN_NHWC = [32, 56, 56, 64];
/** Bytes of the BatchNorm rows' x (the roof's buffer). */
const BN_BYTES = 4 * BN_SHAPE.reduce((a, b) => a * b);
const CASES: Case[] = [
  gemmCase('GEMM 256³', 256, 256, 256),
  gemmCase('CNN conv2 GEMM 64×196×288', 64, 196, 288),
  layerCase(
    'CNN conv2 forward [60,32,14,14]',
    () => new Conv2d(32, 64, 3, { padding: 1, generator: new Generator(1) }),
    [60, 32, 14, 14],
    2 * 60 * 196 * 64 * 288,
    0,
  ),
  backwardCase(
    'CNN conv2 backward [60,32,14,14]',
    () => new Conv2d(32, 64, 3, { padding: 1, generator: new Generator(1) }),
    [60, 32, 14, 14],
    4 * 60 * 196 * 64 * 288,
  ),
  layerCase('BatchNorm2d train NCHW 24.5 MiB', () => new BatchNorm2d(64), BN_SHAPE, 0, 2 * 4 * BN_SHAPE.reduce((a, b) => a * b)),
  // reads x, dy twice (sums, then dx) and writes dx
  backwardCase('BatchNorm2d backward NCHW 24.5 MiB', () => new BatchNorm2d(64), BN_SHAPE, 0, 5 * 4 * BN_SHAPE.reduce((a, b) => a * b)),
  layerCase('BatchNorm2d train NHWC 24.5 MiB', () => new BatchNorm2d(64, { layout: 'NHWC' }), BN_NHWC, 0, 2 * BN_BYTES),
  backwardCase('BatchNorm2d backward NHWC 24.5 MiB', () => new BatchNorm2d(64, { layout: 'NHWC' }), BN_NHWC, 0, 5 * BN_BYTES),
  layerCase('MaxPool2d(2) NCHW [60,32,28,28]', () => new MaxPool2d(2), [60, 32, 28, 28], 0, 1.25 * 4 * 60 * 32 * 28 * 28),
  // at the split threshold (2^16 values) and above it
  layerCase('ReLU forward [64,1024] (2^16)', () => new ReLU(), [64, 1024], 0, 8 * 65536),
  layerCase('ReLU forward [60,32,28,28]', () => new ReLU(), [60, 32, 28, 28], 0, 8 * 60 * 32 * 28 * 28),
  rmspropCase('RMSprop step, 2^20 weights'),
  trainCase('CNN training step, batch 60', () => cnn(1), [60, 1, 28, 28], 10),
  trainCase(
    'MLP training step, batch 60',
    () => {
      const generator = new Generator(1);
      return new Sequential(new Linear(784, 100, { generator }), new BatchNorm1d(100), new ReLU(), new Linear(100, 10, { generator }));
    },
    [60, 784],
    10,
  ),
  ...inferCases(values),
];

// `--only=a,b`: the cases whose names contain one of these (to time a few quickly)
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
if (only) CASES.splice(0, CASES.length, ...CASES.filter((c) => only.some((o) => c.name.includes(o))));
/** Whether a BatchNorm row runs (then the roof is measured beside it). */
const bnRows = () => CASES.some((c) => c.name.startsWith('BatchNorm2d'));

interface Row {
  case: string;
  ms1: number;
  ms2: number;
  ratio: number;
  gflops2: number | null;
  gbps2: number | null;
  sameBits: boolean;
}

/**
 * The memory roof of the BatchNorm rows at the active thread count, ms: a copy of BN_BYTES (the
 * forward's: read x, write y) and a read of them (the backward's: a read and a copy), each thread
 * taking its half on 2 threads (src/runtime/threads.ts's roofline).
 */
function roofs(n: number): { copy: number; read: number } {
  const rt = runtime(),
    src = rt.k.alloc(BN_BYTES),
    dst = rt.k.alloc(BN_BYTES),
    out = rt.k.alloc(16);
  rt.f32(src, BN_BYTES / 4).set(values(BN_BYTES / 4, 7));
  const pool = threadPool();
  const copy = n === 1 ? () => rooflineCopy(src, dst, BN_BYTES) : () => roofline(pool!, src, dst, BN_BYTES, 0);
  const read = n === 1 ? () => void rooflineRead(src, BN_BYTES) : () => roofline(pool!, src, 0, BN_BYTES, out);
  const r = { copy: measure(copy, slowBudget).ms, read: measure(read, slowBudget).ms };
  for (const p of [src, dst, out]) rt.k.free(p);
  return r;
}

async function timeAll(n: number): Promise<{ ms: number[]; outs: Float32Array[]; roof: { copy: number; read: number } }> {
  await init(n === 1 ? { backend: 'wasm-simd' } : { threads: n });
  if (threads() !== n) throw new Error(`bench: ${n} threads asked, ${threads()} run`);
  const ms: number[] = [],
    outs: Float32Array[] = [];
  for (const c of CASES) {
    const s = c.setup();
    outs.push(s.out());
    ms.push(measure(s.run, c.name.includes('step') || c.name.includes('BatchNorm') ? slowBudget : fast).ms);
    s.dispose();
  }
  return { ms, outs, roof: bnRows() ? roofs(n) : { copy: NaN, read: NaN } };
}

const same = (a: Float32Array, b: Float32Array) =>
  a.length === b.length &&
  new Uint32Array(a.buffer, a.byteOffset, a.length).every((v, i) => v === new Uint32Array(b.buffer, b.byteOffset, b.length)[i]);

// 1 and 2 threads alternate (A B A B …), each case's best of the rounds kept, so that a change in the
// machine's load falls on both alike
const ROUNDS = quick ? 2 : 3;
const one = await timeAll(1);
const two = await timeAll(2);
for (let r = 1; r < ROUNDS; r++) {
  for (const [n, acc] of [
    [1, one],
    [2, two],
  ] as const) {
    const again = await timeAll(n);
    again.ms.forEach((ms, i) => (acc.ms[i] = Math.min(acc.ms[i], ms)));
    acc.roof.copy = Math.min(acc.roof.copy, again.roof.copy);
    acc.roof.read = Math.min(acc.roof.read, again.roof.read);
  }
}
// the empty fork-join: a call of the part kernel that does nothing, shared by both threads
// (spread: each thread takes one part, the round trip through every worker; else the calling thread
// takes what the workers have not claimed yet, as a kernel call does)
const forkJoin: Record<string, number> = {};
for (const n of [2, 3, 4]) {
  await init({ threads: n });
  for (const spread of [true, false]) {
    forkJoinMicros(threadPool()!, 2000, spread); // warm-up
    const best = Math.min(...[0, 1, 2, 3, 4].map(() => forkJoinMicros(threadPool()!, 5000, spread)));
    forkJoin[`${n} threads${spread ? ', one part each' : ''}`] = +best.toFixed(2);
  }
}
await init();

const rows: Row[] = CASES.map((c, i) => ({
  case: c.name,
  ms1: +one.ms[i].toFixed(4),
  ms2: +two.ms[i].toFixed(4),
  ratio: +(one.ms[i] / two.ms[i]).toFixed(2),
  gflops2: c.flops ? +(c.flops / two.ms[i] / 1e6).toFixed(1) : null,
  gbps2: c.bytes ? +(c.bytes / two.ms[i] / 1e6).toFixed(1) : null,
  sameBits: same(one.outs[i], two.outs[i]),
}));
console.log('1 thread (SIMD build) vs 2 threads (shared-memory build); ratio = ms at 1 ÷ ms at 2');
console.table(rows);
console.log('empty fork-join, µs per call (best of 5 runs of 5000 calls):', forkJoin);
// BatchNorm against the memory roof of as many threads (issue's criterion: the share of the roof
// at 2 threads at least that at 1): forward roof = a copy of x, backward roof = a read and a copy
const roofRows = CASES.flatMap((c, i) => {
  if (!c.name.startsWith('BatchNorm2d')) return [];
  const roof = (r: typeof one.roof) => (c.name.includes('backward') ? r.read + r.copy : r.copy);
  const pct1 = (100 * roof(one.roof)) / one.ms[i],
    pct2 = (100 * roof(two.roof)) / two.ms[i];
  return [{ case: c.name, '% roof, 1 thread': +pct1.toFixed(1), '% roof, 2 threads': +pct2.toFixed(1), met: pct2 >= pct1 }];
});
const roofMs = {
  copy1: +one.roof.copy.toFixed(3),
  copy2: +two.roof.copy.toFixed(3),
  read1: +one.roof.read.toFixed(3),
  read2: +two.roof.read.toFixed(3),
};
if (roofRows.length > 0) {
  console.log(`memory roof of ${(BN_BYTES / 2 ** 20).toFixed(1)} MiB, ms (copy, read; 1 and 2 threads):`, roofMs);
  console.table(roofRows);
}
if (rows.some((r) => !r.sameBits)) {
  console.error('bench: 1 and 2 threads gave different bits');
  process.exitCode = 1;
}
mkdirSync('bench/results', { recursive: true });
writeFileSync(
  'bench/results/threads.json',
  JSON.stringify(
    { date: new Date().toISOString(), node: process.version, quick, rows, roofMs, roofRows, forkJoinMicros: forkJoin },
    null,
    2,
  ) + '\n',
);
