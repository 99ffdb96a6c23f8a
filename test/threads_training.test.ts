// 100-step training runs at 1, 2, 3 and 4 threads (more threads than this machine's cores is allowed):
// the final weights, the running statistics and every step's loss are bit-identical whatever the
// thread count, and equal to the single-threaded SIMD build's run (its own init(), the build every
// other test checks against float64 and PyTorch). The shapes put some GEMMs above 2^17 multiply-adds
// and some channel-first BatchNorms above 2^16 elements; the pool counts the calls it split, so the
// test sees that the parallel paths really ran.
import { afterAll, describe, expect, it } from 'vitest';
import { init, threads, disposeThreads, threadPool } from '../src/runtime/index';
import { Adam, BatchNorm1d, CrossEntropyLoss, Generator, Linear, ReLU, SGD, Sequential, tensor, type Optimizer } from '../src/index';
import { cnn } from '../examples/demo/cnn';
import { values } from './threads_helpers';

const STEPS = 100;
const THREADS = [1, 2, 3, 4];

interface RunBits {
  /** Every Float32Array of the final state dict (weights, biases, running mean and variance), by key. */
  state: Record<string, number[]>;
  /** The bits of each step's loss (an f64, as the loss function returns it), as two u32 words. */
  losses: number[];
}

/** `STEPS` training steps of `model` on batches of `shape` (10 classes); the bits of what they leave. */
function train(model: Sequential, makeOpt: (m: Sequential) => Optimizer, shape: number[]): RunBits {
  const opt = makeOpt(model);
  const lossFn = new CrossEntropyLoss();
  const batch = shape[0],
    size = shape.reduce((a, b) => a * b);
  const losses = new Float64Array(STEPS);
  model.train();
  for (let step = 0; step < STEPS; step++) {
    const xs = values(size, 1000 + step);
    // the class: the largest of each item's first 10 values (learnable, so the loss falls)
    const labels = new Int32Array(batch).map((_, i) => {
      const row = xs.subarray((i * size) / batch, (i * size) / batch + 10);
      return row.indexOf(Math.max(...row));
    });
    const x = tensor(xs, shape);
    opt.zeroGrad();
    const logits = model.forward(x);
    losses[step] = lossFn.forward(logits, labels);
    const dLogits = lossFn.backward();
    model.backward(dLogits).dispose();
    opt.step();
    for (const t of [dLogits, logits, x]) t.dispose();
  }
  const sd = model.stateDict();
  const state: Record<string, number[]> = {};
  for (const key of Object.keys(sd).sort()) {
    const v = sd[key];
    if (v instanceof Float32Array) state[key] = Array.from(new Uint32Array(v.slice().buffer));
  }
  opt.dispose();
  lossFn.dispose();
  model.dispose();
  return { state, losses: Array.from(new Uint32Array(losses.buffer)) };
}

/** The first key whose bits differ, or null: a short failure message instead of two 100 k-element arrays. */
function firstDifference(got: RunBits, ref: RunBits): string | null {
  if (got.losses.some((w, i) => w !== ref.losses[i])) return `loss of step ${got.losses.findIndex((w, i) => w !== ref.losses[i]) >> 1}`;
  const keys = Object.keys(ref.state);
  if (Object.keys(got.state).join() !== keys.join()) return `state keys ${Object.keys(got.state).join()}`;
  for (const k of keys) {
    const i = ref.state[k].findIndex((w, j) => w !== got.state[k][j]);
    if (i >= 0 || got.state[k].length !== ref.state[k].length) return `${k}[${i}]`;
  }
  return null;
}

const CASES: {
  name: string;
  make: () => Sequential;
  opt: (m: Sequential) => Optimizer;
  shape: number[];
  /** Part kernels that must have run split at 2 threads and more. */
  split: string[];
}[] = [
  {
    // GEMMs of 32·128·256 = 2^20 and 32·10·128 multiply-adds forward; BatchNorm1d stays on one thread
    name: 'MLP 256→128 (BatchNorm1d, ReLU)→10, batch 32, SGD with momentum',
    make: () => {
      const generator = new Generator(11);
      return new Sequential(new Linear(256, 128, { generator }), new BatchNorm1d(128), new ReLU(), new Linear(128, 10, { generator }));
    },
    opt: (m) => new SGD(m.parameters(), { lr: 0.05, momentum: 0.9 }),
    shape: [32, 256],
    split: ['sgemmPart'],
  },
  {
    // the demo CNN, narrower: BatchNorm2d(16) over [12, 16, 28, 28] = 150 528 elements in two blocks
    // of 8 channels; the convolutions (12·16·784·9 and 12·8·196·144 multiply-adds) split by images
    name: 'demo CNN (16, 8 channels), batch 12, Adam',
    make: () => cnn(5, 16, 8),
    opt: (m) => new Adam(m.parameters(), { lr: 1e-3 }),
    shape: [12, 1, 28, 28],
    split: [
      'convForwardNCHWPart',
      'convInputGradNCHWPart',
      'convWeightGradNCHWPart',
      'bnStatsNCLPart',
      'bnNormalizeNCLPart',
      'bnBackwardNCLPart',
    ],
  },
];

afterAll(async () => {
  disposeThreads();
  await init();
});

describe('threads: 100 training steps hash the same on any number of threads', () => {
  for (const c of CASES) {
    it(`${c.name}: 1, 2, 3 and 4 threads give the single-threaded SIMD build's weights, running statistics and losses`, async () => {
      await init({ backend: 'wasm-simd' });
      const reference = train(c.make(), c.opt, c.shape);
      // the run learns (a constant loss would hide a model that does nothing)
      const loss = (r: RunBits, step: number) => new Float64Array(new Uint32Array(r.losses.slice(2 * step, 2 * step + 2)).buffer)[0];
      expect(loss(reference, STEPS - 1)).toBeLessThan(loss(reference, 0));
      expect(Object.keys(reference.state).some((k) => k.endsWith('running_var'))).toBe(true);
      for (const n of THREADS) {
        await init({ threads: n });
        expect(threads()).toBe(n);
        const got = train(c.make(), c.opt, c.shape);
        expect(firstDifference(got, reference), `${n} threads`).toBeNull();
        if (n > 1) {
          const forks = threadPool()!.forks();
          for (const part of c.split) expect(forks[part], `${n} threads: calls of ${part} split between threads`).toBeGreaterThan(0);
        }
      }
    }, 120_000);
  }
});
