// Threads: BatchNorm on its virtual-channel paths (channel-first short runs taken as c·l virtual
// channels; channels-last with few channels, k rows folded into k·c) computes its statistics on one
// thread and splits its normalize pass over the virtual rows: the training forward (y and the
// statistics) and inference give the bits of the single-threaded SIMD build at 1, 2, 3 and 4
// threads, with rows that leave a remainder of folded rows and of the slices' 16.
import { afterAll, describe, expect, it } from 'vitest';
import { init, runtime, threads } from '../src/runtime/index';
import { virtualCounts } from '../src/runtime/threads_bn_virtual';
import { bnTrain, bnNormalize, geometry, type Layout } from '../src/kernels/batchnorm';
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

/** Per shape: y, mean, var, invstd of the training forward (with ReLU on odd shapes), then the inference output with and without ReLU. */
function results(): Uint32Array[] {
  const rt = runtime();
  return SHAPES.flatMap(([layout, shape], i) => {
    const g = geometry(layout, shape);
    const [x, y] = [0, 1].map(() => rt.k.alloc(4 * g.size));
    const [gamma, beta] = [0, 1].map(() => rt.k.alloc(4 * g.c));
    const stats = [0, 1, 2].map(() => rt.k.alloc(8 * g.c));
    rt.f32(x, g.size).set(values(g.size, 31 + i));
    rt.f32(gamma, g.c).set(values(g.c, 5 + i));
    rt.f32(beta, g.c).set(values(g.c, 9 + i));
    bnTrain(g, x, y, gamma, beta, 1e-5, stats[0], stats[1], stats[2], i % 2 === 1);
    const out = [bits(rt.f32(y, g.size).slice()), ...stats.map((p) => new Uint32Array(rt.f64(p, g.c).slice().buffer))];
    for (const relu of [false, true]) {
      bnNormalize(g, x, y, gamma, beta, stats[0], stats[2], relu);
      out.push(bits(rt.f32(y, g.size).slice()));
    }
    for (const p of [x, y, gamma, beta, ...stats]) rt.k.free(p);
    return out;
  });
}

afterAll(async () => {
  await init();
});

describe("threads: BatchNorm's virtual-channel paths", () => {
  it('training forward and inference at 1, 2, 3 and 4 threads equal the single-threaded SIMD build, bit for bit', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = results();
    for (const n of [1, 2, 3, 4]) {
      await init({ threads: n });
      expect(threads()).toBe(n);
      const before = virtualCounts.normalize;
      const got = results();
      // every shape's three normalize passes ran split (one thread: none)
      expect(virtualCounts.normalize - before).toBe(n === 1 ? 0 : 3 * SHAPES.length);
      expect(got.length).toBe(reference.length);
      for (let i = 0; i < got.length; i++) expect(firstDiff(got[i], reference[i]), `${n} threads, result ${i}`).toBe(-1);
    }
  });
});
