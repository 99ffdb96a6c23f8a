// Threads: BatchNorm's channel-first backward split into blocks of channels gives the bits of the
// single-threaded SIMD build (the build every other test checks against float64 and PyTorch) at 1,
// 2, 3 and 4 threads: with and without ReLU, batch and fixed statistics, without gamma, and with
// sums that overflow f32 and are taken again in f64.
import { afterAll, describe, expect, it } from 'vitest';
import { init, runtime, threads } from '../src/runtime/index';
import { bnParts } from '../src/runtime/threads';
import { bnTrain, bnBackward, geometry } from '../src/kernels/batchnorm';
import { values, bits, firstDiff } from './threads_helpers';

// channel-first shapes on the path of long runs: channels not a multiple of 8 (37, 19: a last block
// of 5 and 3, and an odd channel at the end), more than 8 MiB, one long run per channel
const SHAPES: [number, number, number, number][] = [
  [8, 37, 20, 20],
  [16, 64, 48, 48],
  [4, 19, 1, 1000],
];
// [relu, train, gamma given]
const MODES: [boolean, boolean, boolean][] = [
  [false, true, true],
  [true, true, true],
  [false, false, true],
  [true, true, false],
];

/** dx, dgamma, dbeta of the backward after a training forward, per shape and mode. */
function backwardResults(): Uint32Array[] {
  const rt = runtime();
  return SHAPES.flatMap((shape, i) =>
    MODES.flatMap(([relu, train, hasGamma], j) => {
      const g = geometry('NCHW', shape);
      const [x, y, dy, dx] = [0, 1, 2, 3].map(() => rt.k.alloc(4 * g.size));
      const [gamma, beta, dgamma, dbeta] = [0, 1, 2, 3].map(() => rt.k.alloc(4 * g.c));
      const stats = [0, 1, 2].map(() => rt.k.alloc(8 * g.c));
      const xs = values(g.size, 31 + i),
        dys = values(g.size, 61 + i + j);
      // channel 3 of the first item: ±3e38 gradients at equal x, whose f32 sums overflow (taken again
      // in f64, where they cancel)
      if (j === 0)
        for (let q = 0; q < 16; q++) {
          xs[3 * g.l + q] = 0.5;
          dys[3 * g.l + q] = q < 8 ? 3e38 : -3e38;
        }
      rt.f32(x, g.size).set(xs);
      rt.f32(dy, g.size).set(dys);
      rt.f32(gamma, g.c).set(values(g.c, 5 + i));
      rt.f32(beta, g.c).set(values(g.c, 9 + i));
      rt.f32(dgamma, g.c).set(values(g.c, 13 + i));
      rt.f32(dbeta, g.c).fill(0);
      bnTrain(g, x, y, gamma, beta, 1e-5, stats[0], stats[1], stats[2], relu);
      bnBackward(g, x, dy, dx, hasGamma ? gamma : 0, stats[0], stats[2], dgamma, dbeta, train, relu, beta);
      const out = [dx, dgamma, dbeta].map((p, k) => bits(rt.f32(p, k === 0 ? g.size : g.c).slice()));
      for (const p of [x, y, dy, dx, gamma, beta, dgamma, dbeta, ...stats]) rt.k.free(p);
      return out;
    }),
  );
}

afterAll(async () => {
  await init();
});

describe('threads: BatchNorm backward', () => {
  it('channel-first backward at 1, 2, 3 and 4 threads equals the single-threaded SIMD build, bit for bit', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = backwardResults();
    // the overflowing channel made the f64 sums run (dgamma there is finite, not ±∞ or NaN)
    const dgammaOverflow = new Float32Array(reference[1].buffer)[3];
    expect(Number.isFinite(dgammaOverflow)).toBe(true);
    for (const n of [1, 2, 3, 4]) {
      await init({ threads: n });
      expect(threads()).toBe(n);
      // every shape is really split (one thread runs the SIMD build itself)
      const e = runtime().k as unknown as { bnRunsNCL(n: number, c: number, l: number): number };
      if (n > 1) for (const [b, c, h, w] of SHAPES) expect(bnParts(b, c, h * w, e)).toBe(Math.ceil(c / 8));
      const got = backwardResults();
      for (let i = 0; i < got.length; i++) expect(firstDiff(got[i], reference[i]), `${n} threads, result ${i}`).toBe(-1);
    }
  });
});
