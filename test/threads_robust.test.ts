// Threads that fail: a worker that dies while it holds a part of a kernel (the call ends with an error
// at once, the next calls run on one thread with the right bits), a worker that cannot start (init
// runs one thread and says why), disposeThreads() and a new init() (no worker outlives its pool), a
// part that traps (the error names the kernel), and shared memory grown between two parallel
// BatchNorm calls. The reference is always the single-threaded SIMD build.
import { afterAll, describe, expect, it } from 'vitest';
import { init, threads, disposeThreads, threadPool, runtime, threadsUnavailableReason } from '../src/runtime/index';
import { PART_KERNELS } from '../src/runtime/threads';
import { matmul } from '../src/kernels/gemm';
import { bnTrain, bnNormalize, geometry } from '../src/kernels/batchnorm';
import { values } from './threads_helpers';

// the browser suite's page blocks in no event loop either, but it has no watchdog: a Web Worker that
// is terminated sends no event, and MessagePort's close event is not one every browser has
const inBrowser = typeof window === 'object' && typeof document === 'object';

const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.slice().buffer));

/** C = A·B of 256³ (split at 2 threads and more) on the active backend: C's bits. */
function gemm256(): number[] {
  const rt = runtime(),
    n = 256 * 256;
  const [a, b, c] = [0, 1, 2].map(() => rt.k.alloc(4 * n));
  rt.f32(a, n).set(values(n, 1));
  rt.f32(b, n).set(values(n, 2));
  matmul(a, b, c, 256, 256, 256, {});
  const out = bitsOf(rt.f32(c, n));
  for (const p of [a, b, c]) rt.k.free(p);
  return out;
}

/** The arguments of one sgemmPart call C = A·B of n³ with its workspaces (free() them after). */
function sgemmCall(n: number, a0?: number): { args: number[]; free(): void } {
  const rt = runtime();
  const k = rt.k as unknown as { sgemmPartWorkspace(m: number, n: number, k: number): number };
  const ws = k.sgemmPartWorkspace(n, n, n);
  const ptrs = [n * n, n * n, n * n].map((s) => rt.k.alloc(4 * s)).concat([rt.k.alloc(ws), rt.k.alloc(ws)]);
  const [a, b, c, ws0, rest] = ptrs;
  return {
    args: [0, 0, n, n, n, a0 ?? a, n, b, n, c, n, 0, 0, ws0, rest, ws],
    free: () => ptrs.forEach((p) => rt.k.free(p)),
  };
}

/** A channel-first BatchNorm training forward and inference on [8, 37, 20, 20] (split at 2 threads and more): y, mean, invstd, then y of inference. */
function bn(): number[][] {
  const rt = runtime(),
    g = geometry('NCHW', [8, 37, 20, 20]);
  const [x, y, gamma, beta] = [g.size, g.size, g.c, g.c].map((s) => rt.k.alloc(4 * s));
  const [mean, vari, invstd] = [0, 1, 2].map(() => rt.k.alloc(8 * g.c));
  rt.f32(x, g.size).set(values(g.size, 3));
  rt.f32(gamma, g.c).set(values(g.c, 4));
  rt.f32(beta, g.c).set(values(g.c, 5));
  bnTrain(g, x, y, gamma, beta, 1e-5, mean, vari, invstd, true);
  const out = [bitsOf(rt.f32(y, g.size)), bitsOf(new Float32Array(rt.f64(mean, g.c).slice().buffer))];
  bnNormalize(g, x, y, gamma, beta, mean, invstd, false);
  out.push(bitsOf(rt.f32(y, g.size)));
  for (const p of [x, y, gamma, beta, mean, vari, invstd]) rt.k.free(p);
  return out;
}

/** Resolves once `ok()` holds, polling; rejects after `ms`. */
async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

afterAll(async () => {
  disposeThreads();
  await init();
});

describe('threads: a worker that dies while it holds a part', () => {
  it.skipIf(inBrowser)(
    'ends that call at once with an error naming the kernel; later calls run on one thread with the same bits',
    async () => {
      await init({ backend: 'wasm-simd' });
      const reference = gemm256();
      await init({ threads: 2 });
      const pool = threadPool()!;
      const call = sgemmCall(256);
      pool.exitOnNextPart();
      const t0 = Date.now();
      // two parts, the calling thread takes one: the worker must take the other, and exits holding it
      expect(() => pool.run(PART_KERNELS.indexOf('sgemmPart'), 2, call.args, 1)).toThrow(
        /^sgemmPart: worker thread 1 died while it ran part [01] of 2; the call's output is incomplete, and the pool is stopped/,
      );
      // the watchdog saw it: not the 60 s guard of a silent worker
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(threads()).toBe(1);
      expect(threadsUnavailableReason()).toBe('worker thread 1 died during sgemmPart');
      call.free();
      // a kernel call now runs on the calling thread, with the bits of the single-threaded build
      expect(gemm256()).toEqual(reference);
      // the next init() starts a new pool
      await init({ threads: 2 });
      expect(threads()).toBe(2);
      expect(gemm256()).toEqual(reference);
    },
  );

  it.skipIf(inBrowser)('a worker that dies between calls is seen before the next call, with no event delivered', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = gemm256();
    await init({ threads: 3 });
    const pool = threadPool()!;
    void pool.worker(1)!.terminate();
    // no await: this thread's event loop does not run, so only the watchdog can tell it
    const t0 = Date.now();
    while (threads() !== 1 && Date.now() - t0 < 5000);
    expect(threads()).toBe(1);
    expect(pool.broken).toBe('worker thread 2 died');
    expect(gemm256()).toEqual(reference);
  });
});

describe('threads: a worker that dies while it holds a part, on the web', () => {
  // a page has no watchdog (a terminated Web Worker sends no event a spinning page could see): the call
  // ends when no part has finished for pool.stallMs (60 s; shortened here)
  it.runIf(inBrowser)('ends the call after the stall guard; later calls run on one thread with the same bits', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = gemm256();
    await init({ threads: 2 });
    const pool = threadPool()!;
    pool.stallMs = 300;
    const call = sgemmCall(256);
    pool.exitOnNextPart();
    expect(() => pool.run(PART_KERNELS.indexOf('sgemmPart'), 2, call.args, 1)).toThrow(
      /^sgemmPart: a worker thread stopped responding \(no part finished in 0\.3 s\); the call's output is incomplete, and the pool is stopped/,
    );
    expect(threads()).toBe(1);
    call.free();
    expect(gemm256()).toEqual(reference);
  });
});

describe('threads: workers that cannot start, and pools that end', () => {
  // Node only: the test replaces worker_threads' Worker with one whose thread fails at its start
  it.skipIf(inBrowser)(
    'a worker whose thread fails at its start, or whose module does not instantiate: one thread, and the reason',
    async () => {
      const proc = process as unknown as { getBuiltinModule(id: string): unknown };
      const real = proc.getBuiltinModule.bind(process);
      const wt = real('node:worker_threads') as { Worker: new (src: string, o: object) => unknown; MessageChannel: unknown };
      for (const [prefix, reason] of [
        ["throw new Error('no thread for you');\n", /^init: options\.threads: a worker could not start: worker error: no thread for you$/],
        [
          "WebAssembly.Instance = function () { throw new Error('no instance'); };\n",
          /^init: options\.threads: a worker could not start: Error: no instance$/,
        ],
      ] as const) {
        class Failing extends (wt.Worker as new (src: string, o: object) => object) {
          constructor(src: string, o: object) {
            // the watchdog starts as usual; the pool's workers (their source holds workerMain) fail
            super(src.includes('function workerMain') ? prefix + src : src, o);
          }
        }
        proc.getBuiltinModule = (id: string) => (id === 'node:worker_threads' ? { ...wt, Worker: Failing } : real(id));
        try {
          expect(await init({ threads: 3 })).toBe('wasm-simd');
        } finally {
          proc.getBuiltinModule = real;
        }
        expect(threads()).toBe(1);
        expect(threadPool()).toBeNull();
        expect(threadsUnavailableReason()).toMatch(reason);
        // the single-threaded build runs
        expect(gemm256()).toHaveLength(256 * 256);
      }
      await init({ threads: 2 });
      expect(threads()).toBe(2);
      expect(threadsUnavailableReason()).toBeNull();
    },
  );

  it.skipIf(inBrowser)('disposeThreads() and a new init() end every thread of the pool (watchdog included)', async () => {
    await init({ threads: 3 });
    const first = threadPool()!;
    expect(first.threadsAlive).toBe(3); // two workers and the watchdog
    await init({ threads: 2 });
    const second = threadPool()!;
    await until(() => first.threadsAlive === 0, 5000, 'the first pool ends');
    expect(first.broken).toBe('terminated');
    expect(second.threadsAlive).toBe(2);
    disposeThreads();
    await until(() => second.threadsAlive === 0, 5000, 'the disposed pool ends');
    expect(threads()).toBe(1);
    expect(threadsUnavailableReason()).toBe('disposed');
  });
});

describe('threads: errors and memory', () => {
  it('a part that traps: the error names the part kernel, on the calling thread and on a worker', async () => {
    await init({ threads: 2 });
    const pool = threadPool()!;
    const sgemm = PART_KERNELS.indexOf('sgemmPart');
    // A beyond the memory: every part's first load of A traps
    const call = sgemmCall(64, 2 ** 32 - 4096);
    // one part runs on the calling thread
    expect(() => pool.run(sgemm, 1, call.args)).toThrow(/^sgemmPart: part 0 of 1 failed: RuntimeError: memory access out of bounds/);
    // two: whichever thread claims a part first may fail first (a fast worker can take both)
    expect(() => pool.run(sgemm, 2, call.args)).toThrow(
      /^sgemmPart: part [01] of 2 failed( on a worker thread)?: RuntimeError: memory access out of bounds/,
    );
    // the calling thread takes no part: the worker's error comes back with its message
    expect(() => pool.run(sgemm, 2, call.args, 0)).toThrow(
      /^sgemmPart: part [01] of 2 failed on a worker thread: RuntimeError: memory access out of bounds/,
    );
    call.free();
    // a trap does not stop the pool
    expect(threads()).toBe(2);
  });

  it('memory grown between two parallel BatchNorm calls: the second sees it, on every thread', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = bn();
    await init({ threads: 2 });
    const rt = runtime();
    const forks = () => threadPool()!.forks().bnNormalizeNCLPart;
    const before = rt.memoryBytes(),
      f0 = forks();
    const first = bn();
    // a block larger than the memory holds forces memory.grow; the workers' instances see the same memory
    const big = rt.k.alloc(before + (64 << 20));
    expect(rt.memoryBytes()).toBeGreaterThan(before);
    const second = bn();
    rt.k.free(big);
    expect(forks() - f0).toBe(4); // two calls of each of bn(): training forward and inference, split
    expect(first).toEqual(reference);
    expect(second).toEqual(reference);
  });
});
