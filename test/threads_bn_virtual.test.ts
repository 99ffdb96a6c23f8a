// Threads: BatchNorm on its virtual-channel paths (channel-first short runs taken as c·l virtual
// channels; channels-last with few channels, k rows folded into k·c) splits every pass over the
// virtual rows: the sums in the one-thread pass's row blocks, normalize and dx in slices. The
// training forward (y and the statistics), the statistics alone, inference and the backward in four
// modes give the bits of the single-threaded SIMD build at 1, 2, 3 and 4 threads, with rows that
// leave a remainder of folded rows, of the blocks' 4 and of the slices' 16, a channel whose first
// values are far from the rest (its statistics taken again: RESHIFT), a NaN, and backward sums
// that overflow f32 (taken again in f64).
import { afterAll, describe, expect, it } from 'vitest';
import { init, runtime, threads } from '../src/runtime/index';
import { counts } from '../src/runtime/threads';
import { virtualCounts } from '../src/runtime/threads_bn_virtual';
import { bnTrain, bnStats, bnNormalize, bnBackward, geometry, type Geometry, type Layout } from '../src/kernels/batchnorm';
import { values, bits, firstDiff } from './threads_helpers';

// SHORT: runs of 5 and 13 (under 64) over 2048 and 999 items; FOLD: 3 channels (8 rows folded),
// 12 channels (2 rows folded, one row left over) and 5 channels (one row left over); all above
// the 2^16 elements below which one thread runs
const SHAPES: [Layout, number[]][] = [
  ['NCL', [2048, 12, 5]],
  ['NCL', [999, 7, 13]],
  ['NHWC', [8, 96, 96, 3]],
  ['NC', [9001, 12]],
  ['NLC', [3, 16667, 5]],
];
// [relu, train, gamma given]
const MODES: [boolean, boolean, boolean][] = [
  [false, true, true],
  [true, true, true],
  [false, false, true],
  [true, true, false],
];

/** Offset of the k-th of channel ch's m values in x. */
const offset = (g: Geometry, ch: number, k: number) => (g.channelsLast ? k * g.c + ch : (Math.floor(k / g.l) * g.c + ch) * g.l + (k % g.l));

/** Per shape: y, mean, var, invstd of the training forward (with ReLU on odd shapes), the statistics alone, inference with and without ReLU, then dx, dgamma, dbeta per mode. */
function results(): Uint32Array[] {
  const rt = runtime();
  return SHAPES.flatMap(([layout, shape], i) => {
    const g = geometry(layout, shape);
    const [x, y, dy, dx] = [0, 1, 2, 3].map(() => rt.k.alloc(4 * g.size));
    const [gamma, beta, dgamma, dbeta] = [0, 1, 2, 3].map(() => rt.k.alloc(4 * g.c));
    const stats = [0, 1, 2].map(() => rt.k.alloc(8 * g.c));
    const xs = values(g.size, 31 + i);
    // channel 1: its first values far from the rest (RESHIFT); channel 0: a NaN in the middle
    for (let k = 0; k < 40; k++) xs[offset(g, 1, k)] += 1e4;
    xs[offset(g, 0, g.m >> 1)] = NaN;
    rt.f32(x, g.size).set(xs);
    rt.f32(gamma, g.c).set(values(g.c, 5 + i));
    rt.f32(beta, g.c).set(values(g.c, 9 + i));
    const f64s = () => stats.map((p) => new Uint32Array(rt.f64(p, g.c).slice().buffer));
    bnTrain(g, x, y, gamma, beta, 1e-5, stats[0], stats[1], stats[2], i % 2 === 1);
    const out = [bits(rt.f32(y, g.size).slice()), ...f64s()];
    bnStats(g, x, 1e-5, stats[0], stats[1], stats[2]);
    out.push(...f64s());
    for (const relu of [false, true]) {
      bnNormalize(g, x, y, gamma, beta, stats[0], stats[2], relu);
      out.push(bits(rt.f32(y, g.size).slice()));
    }
    for (const [j, [relu, train, hasGamma]] of MODES.entries()) {
      const dys = values(g.size, 61 + i + j);
      // the last channel: ±3e38 gradients at equal x, whose f32 sums overflow (taken again in f64)
      if (j === 0)
        for (let k = 0; k < 16; k++) {
          xs[offset(g, g.c - 1, k)] = 0.5;
          dys[offset(g, g.c - 1, k)] = k < 8 ? 3e38 : -3e38;
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

describe("threads: BatchNorm's virtual-channel paths", () => {
  it('training forward, statistics, inference and backward at 1, 2, 3 and 4 threads equal the single-threaded SIMD build, bit for bit', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = results();
    for (const n of [1, 2, 3, 4]) {
      await init({ threads: n });
      expect(threads()).toBe(n);
      const before = { ...virtualCounts };
      const again = counts.bnStatsAgain;
      const got = results();
      const runs = (k: keyof typeof virtualCounts) => virtualCounts[k] - before[k];
      // per shape, split (one thread: none): 2 + 4 normalize passes (training forward and inference),
      // 4 dx passes, and the sums of 1 + 4 training forwards, the statistics alone (each taken
      // twice: RESHIFT) and 4 backwards
      const split = n === 1 ? 0 : 1;
      expect(runs('normalize')).toBe(split * 7 * SHAPES.length);
      expect(runs('dx')).toBe(split * 4 * SHAPES.length);
      expect(runs('sums')).toBe(split * (2 * 6 + 4) * SHAPES.length);
      expect(counts.bnStatsAgain).toBe(again);
      expect(got.length).toBe(reference.length);
      for (let i = 0; i < got.length; i++) expect(firstDiff(got[i], reference[i]), `${n} threads, result ${i}`).toBe(-1);
    }
  });
});
