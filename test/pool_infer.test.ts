// Inference max pooling (assembly/pool_infer.ts, its JS twin), which a Graph runs under noGrad for
// each MaxPool2d: the maxima MaxPool2d.forward gives, bit for bit, on every build, in both layouts,
// for strides 1, 2 and 3 and widths that cover each tail of the 4-wide SIMD rows, with NaN, ±0 and
// ±∞ in the data; no argmax block allocated; bad input refused with the layer's message.
import { describe, expect, it } from 'vitest';
import { init, memoryBytes, noGrad, tensor, Graph, MaxPool2d, relaxedSimdSupported } from '../src/index';
import { runMaxPoolInfer } from '../src/graph/fuse';
import { BACKENDS, bits, throwsLike, values } from './helpers';

const runnable = BACKENDS.filter((b) => b !== 'wasm-relaxed' || relaxedSimdSupported());

interface Case {
  k: [number, number];
  s: [number, number];
  p: [number, number];
  layout: 'NCHW' | 'NHWC';
}

const CASES: Case[] = [
  { k: [3, 3], s: [2, 2], p: [1, 1], layout: 'NCHW' }, // ResNet's
  { k: [2, 2], s: [2, 2], p: [0, 0], layout: 'NCHW' }, // the demo CNN's
  { k: [3, 3], s: [1, 1], p: [1, 1], layout: 'NCHW' },
  { k: [3, 2], s: [3, 1], p: [1, 0], layout: 'NCHW' },
  { k: [3, 3], s: [2, 2], p: [1, 1], layout: 'NHWC' },
  { k: [2, 3], s: [1, 2], p: [0, 1], layout: 'NHWC' },
];

/** Seeded values with NaN, ±0 and ±∞ sprinkled in (every 11th, 13th, 17th, 19th element). */
function data(n: number, seed: number): Float32Array {
  const v = values(n, seed);
  for (let i = 0; i < n; i++) {
    if (i % 11 === 5) v[i] = i % 2 ? 0 : -0;
    if (i % 13 === 7) v[i] = -Infinity;
    if (i % 17 === 3) v[i] = NaN;
    if (i % 19 === 9) v[i] = Infinity;
  }
  return v;
}

describe('inference max pooling', () => {
  for (const backend of runnable) {
    it(`${backend}: MaxPool2d.forward's bits, every width 2…14, both layouts`, async () => {
      await init({ backend });
      for (const t of CASES)
        for (let w = 2; w <= 14; w++) {
          const [c, h] = [t.layout === 'NCHW' ? 2 : 6, 3 + (w % 4)];
          const shape = t.layout === 'NCHW' ? [2, c, h, w] : [2, h, w, c];
          const pool = new MaxPool2d(t.k, { stride: t.s, padding: t.p, layout: t.layout });
          const x = tensor(data(2 * c * h * w, w), shape);
          const want = noGrad(() => pool.forward(x));
          const before = memoryBytes();
          const got = noGrad(() => runMaxPoolInfer(pool, x));
          // only y: no argmax block beside it (the js backend counts live bytes)
          if (backend === 'js') expect(memoryBytes() - before).toBe(got.size * 4);
          expect(got.shape).toEqual(want.shape);
          expect(bits(got.toArray()), `${JSON.stringify(t)} w ${w}`).toEqual(bits(want.toArray()));
          got.dispose();
          want.dispose();
          x.dispose();
          pool.dispose();
        }
    });
  }

  it('a Graph under noGrad runs it; recorded, the layer’s own forward (the same outputs)', async () => {
    await init({ backend: 'wasm-simd' });
    const g = new Graph();
    g.output('y', g.layer('pool', new MaxPool2d(3, { stride: 2, padding: 1 }), g.input('x')));
    const x = tensor(data(2 * 3 * 9 * 9, 4), [2, 3, 9, 9]);
    const taped = g.forward(x);
    const inferred = noGrad(() => g.forward(x));
    expect(bits(inferred.toArray())).toEqual(bits(taped.toArray()));
    taped.dispose();
    inferred.dispose();
    x.dispose();
    g.dispose();
  });

  it('bad input: the layer’s error, nothing allocated that stays', async () => {
    await init({ backend: 'wasm-simd' });
    const pool = new MaxPool2d(2);
    const x = tensor(values(3), [1, 3, 1, 1]);
    const before = memoryBytes();
    throwsLike(
      () => noGrad(() => runMaxPoolInfer(pool, x)),
      RangeError,
      /^MaxPool2d\.forward: input: expected a padded size \(H \+ 2·0\) × \(W \+ 2·0\) of at least the kernel 2×2, got \[1, 3, 1, 1\] \(padded 1×1\)$/,
    );
    expect(memoryBytes()).toBe(before);
    x.dispose();
  });
});
