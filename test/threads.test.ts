// Threads (init({ threads })): kernel calls shared between worker threads give the same bits as the
// single-threaded SIMD build whatever the thread count (the reference: the build every other test
// checks against float64 and PyTorch); a training run hashes the same; a worker that dies, a new
// init() and a memory grown between two parallel calls leave nothing hanging and nothing wrong.
import { afterAll, describe, expect, it } from 'vitest';
import { init, threads, disposeThreads, threadPool, runtime, threadsUnavailableReason } from '../src/runtime/index';
import { gemmParts, bnParts, counts } from '../src/runtime/threads';
import { matmul, type MatmulOptions } from '../src/kernels/gemm';
import { bnTrain, bnNormalize, geometry } from '../src/kernels/batchnorm';
import { Sequential, Linear, BatchNorm1d, ReLU, Generator } from '../src/index';
import { values, bits, firstDiff, diffs, trainedBits } from './threads_helpers';

interface GemmCase {
  m: number;
  n: number;
  k: number;
  o: MatmulOptions;
}

// shapes that split by columns and by rows, with tails of 1–7 columns and 1–3 rows, k beyond one
// 256-deep panel, both transposes, beta and bias; all above the size below which one thread runs
const GEMM_CASES: GemmCase[] = [
  { m: 256, n: 256, k: 256, o: {} },
  { m: 67, n: 203, k: 300, o: { transB: true, beta: 1 } },
  { m: 301, n: 45, k: 129, o: { transA: true } },
  { m: 1024, n: 13, k: 64, o: { transA: true, transB: true, beta: 1 } },
  { m: 60, n: 100, k: 784, o: { transB: true, bias: -1 } },
  { m: 97, n: 1024, k: 33, o: { beta: 1 } },
];

/** C of each case on the active backend (bias: a vector of n values when o.bias is −1). */
function gemmResults(): Uint32Array[] {
  const rt = runtime();
  return GEMM_CASES.map(({ m, n, k, o }, i) => {
    const sizes = [m * k, k * n, m * n, n];
    const ptrs = sizes.map((s) => rt.k.alloc(4 * s));
    sizes.forEach((s, j) => rt.f32(ptrs[j], s).set(values(s, 7 * i + j + 1)));
    matmul(ptrs[0], ptrs[1], ptrs[2], m, n, k, { ...o, bias: o.bias === -1 ? ptrs[3] : 0 });
    const c = rt.f32(ptrs[2], m * n).slice();
    for (const p of ptrs) rt.k.free(p);
    return bits(c);
  });
}

// channel-first shapes on the path of long runs: channels not a multiple of 8; more than 8 MiB (the
// passes read two batch items at a time there); one channel whose first values are unlike the rest,
// so that its statistics are taken again around the batch means (RESHIFT), for every channel
const BN_SHAPES: [number, number, number, number][] = [
  [8, 37, 20, 20],
  [16, 64, 48, 48],
  [4, 19, 1, 1000],
];

/** y, mean, var and invstd of a training forward (BN+ReLU for odd cases), then y of inference with those statistics, per shape. */
function bnResults(): Uint32Array[] {
  const rt = runtime();
  return BN_SHAPES.flatMap((shape, i) => {
    const g = geometry('NCHW', shape);
    const x = rt.k.alloc(4 * g.size),
      y = rt.k.alloc(4 * g.size),
      gamma = rt.k.alloc(4 * g.c),
      beta = rt.k.alloc(4 * g.c);
    const stats = [0, 1, 2].map(() => rt.k.alloc(8 * g.c));
    const xs = values(g.size, 31 + i);
    // channel 5 of the first item: 32 values far from the rest (the shift from them is far from the mean)
    for (let j = 0; j < 32; j++) xs[5 * g.l + j] = 100;
    rt.f32(x, g.size).set(xs);
    rt.f32(gamma, g.c).set(values(g.c, 5 + i));
    rt.f32(beta, g.c).set(values(g.c, 9 + i));
    bnTrain(g, x, y, gamma, beta, 1e-5, stats[0], stats[1], stats[2], i % 2 === 1);
    const out = [bits(rt.f32(y, g.size).slice()), ...stats.map((p) => bits(new Float32Array(rt.f64(p, g.c).slice().buffer)))];
    bnNormalize(g, x, y, gamma, beta, stats[0], stats[2], i % 2 === 0);
    out.push(bits(rt.f32(y, g.size).slice()));
    for (const p of [x, y, gamma, beta, ...stats]) rt.k.free(p);
    return out;
  });
}

/** A 3-layer MLP with BatchNorm trained 8 SGD steps on layers large enough to run on every thread: the final weights' bits. */
function trainMlp(): Uint32Array {
  const generator = new Generator(3);
  const model = new Sequential(new Linear(256, 384, { generator }), new BatchNorm1d(384), new ReLU(), new Linear(384, 10, { generator }));
  return trainedBits(model, 8, [96, 256], 100, 7);
}

afterAll(async () => {
  await init();
});

// the browser suite (vitest.browser.config.ts) serves COOP/COEP headers: its page is cross-origin isolated
const inBrowser = typeof window === 'object' && typeof document === 'object';

describe('threads: the same bits on any number of threads', () => {
  it('GEMM at 1, 2, 3 and 4 threads equals the single-threaded SIMD build, bit for bit', async () => {
    await init({ backend: 'wasm-simd' });
    expect(threads()).toBe(1);
    const reference = gemmResults();
    for (const n of [2, 3, 4]) {
      await init({ threads: n });
      expect(threads()).toBe(n);
      // every case is really split on this many threads
      for (const { m, n: cols, k } of GEMM_CASES) expect(gemmParts(m, cols, k, n)).toBe(n);
      const got = gemmResults();
      for (let i = 0; i < GEMM_CASES.length; i++) expect(firstDiff(got[i], reference[i]), `${n} threads, case ${i}`).toBe(-1);
    }
  });

  it('BatchNorm (channel-first training forward and inference) at 1, 2, 3 and 4 threads equals the single-threaded SIMD build, bit for bit', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = bnResults();
    for (const n of [2, 3, 4]) {
      await init({ threads: n });
      const e = runtime().k as unknown as { bnRunsNCL(n: number, c: number, l: number): number };
      // every shape is really split, into blocks that do not depend on the thread count
      for (const [b, c, h, w] of BN_SHAPES) expect(bnParts(b, c, h * w, e)).toBe(Math.ceil(c / 8));
      const again = counts.bnStatsAgain;
      const got = bnResults();
      // the channel with far first values made every shape take its statistics again, split too
      expect(counts.bnStatsAgain - again).toBe(BN_SHAPES.length);
      for (let i = 0; i < got.length; i++) expect(firstDiff(got[i], reference[i]), `${n} threads, result ${i}`).toBe(-1);
    }
  });

  it('an MLP trained at 1 and 2 threads ends with the weights of the single-threaded build', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = trainMlp();
    for (const n of [1, 2]) {
      await init({ threads: n });
      expect(firstDiff(trainMlp(), reference), `${n} threads`).toBe(-1);
    }
  });
});

describe('threads: options and where they run', () => {
  it("'auto' runs the cores the runtime reports (at most 8); threads() follows init()", async () => {
    const cores = inBrowser ? navigator.hardwareConcurrency : (await import('node:os')).availableParallelism();
    await init({ threads: 'auto' });
    expect(threads()).toBe(Math.min(cores, 8));
    await init();
    expect(threads()).toBe(1);
  });

  it('refuses a bad count, and a count on a backend without a shared-memory build, changing nothing', async () => {
    await init({ threads: 2 });
    for (const bad of [0, 1.5, 65, '2', -1]) {
      await expect(init({ threads: bad as number })).rejects.toThrow(
        new RegExp(`^init: options\\.threads: expected 'auto' or an integer from 1 to 64, got `),
      );
    }
    await expect(init({ backend: 'wasm', threads: 2 })).rejects.toThrow(
      "init: options.threads: 2 threads run only with the 'wasm-simd' backend's own shared-memory build (backend 'wasm')",
    );
    expect(threads()).toBe(2);
    // 'auto' on a backend without threads is one thread, not an error
    expect(await init({ backend: 'js', threads: 'auto' })).toBe('js');
    expect(threads()).toBe(1);
  });
});

// Node only: the page's crossOriginIsolated and SharedArrayBuffer cannot be taken away there
describe.skipIf(inBrowser)('threads: where they cannot run', () => {
  it('a page that is not cross-origin isolated, and a runtime without SharedArrayBuffer, run the single-threaded build and say why', async () => {
    const g = globalThis as { crossOriginIsolated?: boolean; SharedArrayBuffer?: unknown };
    const sab = g.SharedArrayBuffer;
    try {
      g.crossOriginIsolated = false;
      expect(await init({ threads: 2 })).toBe('wasm-simd');
      expect(threads()).toBe(1);
      expect(threadPool()).toBeNull();
      expect(threadsUnavailableReason()).toBe('the page is not cross-origin isolated (it needs COOP/COEP headers)');
      delete g.crossOriginIsolated;
      g.SharedArrayBuffer = undefined;
      await init({ threads: 'auto' });
      expect(threads()).toBe(1);
      expect(threadsUnavailableReason()).toBe('SharedArrayBuffer is not available');
    } finally {
      delete g.crossOriginIsolated;
      g.SharedArrayBuffer = sab;
    }
    await init({ threads: 2 });
    expect(threads()).toBe(2);
    expect(threadsUnavailableReason()).toBeNull();
  });
});

describe('threads: robustness', () => {
  // Node only: a terminated Web Worker sends no event, so the pool cannot tell (its parts are then taken by the calling thread)
  it.skipIf(inBrowser)('a worker that dies: the next calls run on one thread, with the same bits, and nothing hangs', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = gemmResults();
    await init({ threads: 3 });
    const pool = threadPool()!;
    await pool.worker(0)!.terminate();
    await new Promise((r) => setTimeout(r, 50)); // the exit event
    expect(threads()).toBe(1);
    expect(pool.broken).toMatch(/^worker exited with code/);
    expect(diffs(gemmResults(), reference)).toEqual(reference.map(() => -1));
  });

  it('a new init() and disposeThreads() stop the workers', async () => {
    await init({ threads: 2 });
    const first = threadPool()!;
    await init({ threads: 2 });
    expect(first.broken).toBe('terminated');
    expect(threads()).toBe(2);
    disposeThreads();
    expect(threadPool()!.broken).toBe('disposed');
    expect(threads()).toBe(1);
  });

  it('memory grown between two parallel calls: the second sees it, on every thread', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = gemmResults();
    await init({ threads: 2 });
    const rt = runtime();
    const before = rt.memoryBytes();
    const first = gemmResults();
    // a block larger than the memory holds forces memory.grow; the workers' instances see the same memory
    const big = rt.k.alloc(before + (64 << 20));
    expect(rt.memoryBytes()).toBeGreaterThan(before);
    const second = gemmResults();
    rt.k.free(big);
    expect(diffs(first, reference)).toEqual(reference.map(() => -1));
    expect(diffs(second, reference)).toEqual(reference.map(() => -1));
  });

  it.skipIf(inBrowser)('a Node process with a pool exits without disposeThreads()', async () => {
    const { spawnSync } = await import('node:child_process');
    const code = `
      const lib = await import(${JSON.stringify(new URL('../build/node.js', import.meta.url).href)});
      await lib.init({ threads: 2 });
      console.log(lib.threads());`;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('2');
    expect(r.status).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});

afterAll(() => disposeThreads());
