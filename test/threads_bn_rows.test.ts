// Threads: channels-last BatchNorm (x[m][c]) split into row blocks whose sums are added in block
// order gives the bits of the single-threaded SIMD build, which sums in the same blocks, at 1, 2, 3
// and 4 threads: training forward (statistics and y), inference, and the backward with and without
// ReLU, batch and fixed statistics, without gamma; with sums that overflow f32 (taken again in
// f64), a channel of NaN, and first rows far from the rest (the statistics taken again, RESHIFT).
import { afterAll, describe, expect, it } from 'vitest';
import { init, runtime, threads, threadPool } from '../src/runtime/index';
import { counts, rowBlocks } from '../src/runtime/threads';
import { bnTrain, bnBackward, bnNormalize, geometry, type Layout } from '../src/kernels/batchnorm';
import { values, bits, firstDiff } from './threads_helpers';

// [layout, shape]: channels with a tail past a multiple of 4 and 8 (100, 37), rows not a multiple of
// the blocks' 4 (1031: two uneven blocks), beyond 8 MiB with rows of 256 bytes (two halves, two rows
// of each a step) and of 384 bytes (one row of each half a step)
const SHAPES: [Layout, number[]][] = [
  ['NC', [4096, 100]],
  ['NLC', [40, 50, 37]],
  ['NC', [1031, 64]],
  ['NHWC', [9, 64, 64, 64]],
  ['NC', [24000, 96]],
];
// [relu, train, gamma given]
const MODES: [boolean, boolean, boolean][] = [
  [false, true, true],
  [true, true, true],
  [false, false, true],
  [true, true, false],
];

/** Per shape: y, mean, var, invstd of the training forward, the inference output, then dx, dgamma, dbeta per mode. */
function results(): Uint32Array[] {
  const rt = runtime();
  return SHAPES.flatMap(([layout, shape], i) => {
    const g = geometry(layout, shape);
    const [x, y, dy, dx] = [0, 1, 2, 3].map(() => rt.k.alloc(4 * g.size));
    const [gamma, beta, dgamma, dbeta] = [0, 1, 2, 3].map(() => rt.k.alloc(4 * g.c));
    const stats = [0, 1, 2].map(() => rt.k.alloc(8 * g.c));
    const xs = values(g.size, 71 + i);
    // channel 1: its first rows far from the rest (RESHIFT); channel 2: a NaN in the middle
    for (let r = 0; r < g.m; r++) xs[r * g.c + 1] = r < 40 ? 1e4 + xs[r * g.c + 1] : xs[r * g.c + 1];
    xs[(g.m >> 1) * g.c + 2] = NaN;
    rt.f32(x, g.size).set(xs);
    rt.f32(gamma, g.c).set(values(g.c, 5 + i));
    rt.f32(beta, g.c).set(values(g.c, 9 + i));
    bnTrain(g, x, y, gamma, beta, 1e-5, stats[0], stats[1], stats[2]);
    const out = [bits(rt.f32(y, g.size).slice()), ...stats.map((p) => new Uint32Array(rt.f64(p, g.c).slice().buffer))];
    bnNormalize(g, x, y, gamma, beta, stats[0], stats[2], true);
    out.push(bits(rt.f32(y, g.size).slice()));
    for (const [j, [relu, train, hasGamma]] of MODES.entries()) {
      const dys = values(g.size, 61 + i + j);
      // channel 3: ±3e38 gradients at equal x, whose f32 sums overflow (taken again in f64)
      if (j === 0)
        for (let r = 0; r < 16; r++) {
          xs[r * g.c + 3] = 0.5;
          dys[r * g.c + 3] = r < 8 ? 3e38 : -3e38;
        }
      rt.f32(x, g.size).set(xs);
      rt.f32(dy, g.size).set(dys);
      rt.f32(dgamma, g.c).set(values(g.c, 13 + i));
      rt.f32(dbeta, g.c).fill(0);
      bnTrain(g, x, y, gamma, beta, 1e-5, stats[0], stats[1], stats[2], relu);
      bnBackward(g, x, dy, dx, hasGamma ? gamma : 0, stats[0], stats[2], dgamma, dbeta, train, relu, beta);
      out.push(...[dx, dgamma, dbeta].map((p, k) => bits(rt.f32(p, k === 0 ? g.size : g.c).slice())));
    }
    for (const p of [x, y, dy, dx, gamma, beta, dgamma, dbeta, ...stats]) rt.k.free(p);
    return out;
  });
}

afterAll(async () => {
  await init();
});

describe('threads: channels-last BatchNorm', () => {
  it('training forward, inference and backward at 1, 2, 3 and 4 threads equal the single-threaded SIMD build, bit for bit', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = results();
    for (const n of [1, 2, 3, 4]) {
      await init({ threads: n });
      expect(threads()).toBe(n);
      const again = counts.bnStatsAgain;
      const got = results();
      if (n > 1) {
        // every shape is really split, in the blocks of one thread, and took its statistics again
        const rt = runtime();
        const e = rt.k as unknown as { bnRowBlocksNHWC(m: number, c: number): number };
        for (const [layout, shape] of SHAPES) {
          const g = geometry(layout, shape);
          expect(rowBlocks(g.m, g.c, e, threadPool()!), `${shape}`).toBeGreaterThan(1);
        }
        expect(counts.bnStatsAgain - again).toBeGreaterThanOrEqual(SHAPES.length);
      }
      for (let i = 0; i < got.length; i++) expect(firstDiff(got[i], reference[i]), `${n} threads, result ${i}`).toBe(-1);
    }
  });
});
