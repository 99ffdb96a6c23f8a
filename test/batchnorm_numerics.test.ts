// Numerics at the edges: large offsets (where E[x²]−E[x]² in f32 fails), NaN/Inf containment,
// and empty batches.
import { describe, expect, it } from 'vitest';
import { init, tensor } from '../src/index';
import { BACKENDS, makeLayer, shapeOf } from './helpers';
import { channelIndices, maxAbs, maxAbsDiff, randn, refBackward, refForwardTrain } from './reference';

// The variance must keep 1e-5 relative accuracy at mean 1e4/std 0.1 and mean 1e7/std 1 (the f32
// inputs are exact; the reference is f64). y, dx and dγ/dβ within 2e-4 (of O(1) outputs, of the
// largest |dx|, of Σ|dy|).
const TOL_VAR_REL = 1e-5;
const TOL_OUT = 2e-4;

const OFFSETS: [number, number][] = [
  [1e4, 0.1],
  [1e7, 1],
  [-5e5, 0.01],
  [1e18, 1e14],
];

for (const b of BACKENDS) {
  describe(`${b}: large offsets`, () => {
    for (const layout of ['NCHW', 'NHWC', 'NC'] as const) {
      for (const [mean, std] of OFFSETS) {
        it(`${layout} mean ${mean}, std ${std}`, async () => {
          await init({ backend: b });
          const c = 5;
          // 72·72 per plane: several statistics chunks per channel
          const shape = layout === 'NC' ? [20000, c] : shapeOf(layout, 3, c, [72, 72]);
          const size = shape.reduce((p, v) => p * v, 1);
          const x = randn(size, 42, mean, std),
            dy = randn(size, 43);
          const gamma = randn(c, 44, 1, 0.2),
            beta = randn(c, 45);
          const bn = makeLayer(layout, c, { momentum: 1 });
          bn.loadStateDict({ ...bn.stateDict(), weight: gamma, bias: beta });
          using xt = tensor(x, shape);
          using y = bn.forward(xt);
          const ref = refForwardTrain(x, layout, shape, 1e-5, gamma, beta);
          const M = size / c;
          const rv = bn.runningVar!.toArray(),
            rm = bn.runningMean!.toArray();
          for (let ch = 0; ch < c; ch++) {
            const unbiased = (ref.var[ch] * M) / (M - 1);
            expect(Math.abs(rv[ch] - unbiased) / unbiased).toBeLessThanOrEqual(TOL_VAR_REL);
            expect(rm[ch]).toBe(Math.fround(ref.mean[ch]));
          }
          expect(maxAbsDiff(y.toArray(), ref.y)).toBeLessThanOrEqual(TOL_OUT);
          using dyt = tensor(dy, shape);
          using dx = bn.backward(dyt);
          const rb = refBackward(x, dy, layout, shape, 1e-5, gamma, true);
          expect(maxAbsDiff(dx.toArray(), rb.dx)).toBeLessThanOrEqual(TOL_OUT * maxAbs(rb.dx));
          const absDy = Array.from(dy, Math.abs).reduce((p, v) => p + v, 0);
          expect(maxAbsDiff(bn.weight!.grad.toArray(), rb.dgamma)).toBeLessThanOrEqual(TOL_OUT * absDy);
          expect(maxAbsDiff(bn.bias!.grad.toArray(), rb.dbeta)).toBeLessThanOrEqual(TOL_OUT * absDy);
          bn.dispose();
        });
      }
    }
  });

  // Channels whose mean is a few standard deviations from 0 are where the kernels choose between
  // summing x and summing x − K (a test on the first rows): both sides of that choice must keep the
  // same accuracy. mean²/var from 0 to 4096, 27 channels (24 in vector lanes, 3 in the scalar tail).
  describe(`${b}: moderate offsets`, () => {
    const RATIOS = [0, 0.5, 1, 2, 3, 4, 5, 6, 8, 16, 64, 256, 4096];
    for (const layout of ['NHWC', 'NC'] as const) {
      for (const rows of [6, 40, 300, 5000]) {
        it(`${layout}, ${rows} rows`, async () => {
          await init({ backend: b });
          const c = 27;
          const shape = layout === 'NC' ? [rows, c] : [rows, 1, 1, c];
          const x = randn(rows * c, rows, 0, 1.5);
          for (let i = 0; i < x.length; i++) x[i] += 1.5 * Math.sqrt(RATIOS[(i % c) % RATIOS.length]);
          const bn = makeLayer(layout, c, { momentum: 1 });
          using xt = tensor(x, shape);
          using y = bn.forward(xt);
          const ref = refForwardTrain(x, layout, shape, 1e-5);
          const rv = bn.runningVar!.toArray();
          for (let ch = 0; ch < c; ch++) {
            const unbiased = (ref.var[ch] * rows) / (rows - 1);
            expect(Math.abs(rv[ch] - unbiased) / unbiased).toBeLessThanOrEqual(TOL_VAR_REL);
          }
          expect(maxAbsDiff(y.toArray(), ref.y)).toBeLessThanOrEqual(TOL_OUT);
          bn.dispose();
        });
      }
    }
  });

  // The shift comes from the first rows (or the first run): when they are unlike the rest of the
  // batch (data sorted by class, say), the batch mean lies far from it and the sums cancel. The
  // kernels then take the sums again, shifted by the batch mean. Here the first batch item (the
  // first 40 for NC) sits at 0 and the others at 1e4 (std 0.1 each): mean²/var ≈ 250–400.
  describe(`${b}: first rows unlike the rest`, () => {
    // 6 channels: rows folded (channels-last) or short runs (channel-first); 21: the main paths
    for (const [layout, c] of [
      ['NCHW', 6],
      ['NHWC', 6],
      ['NC', 6],
      ['NHWC', 21],
      ['NC', 21],
      ['NCL', 21],
    ] as const) {
      it(`${layout}, ${c} channels`, async () => {
        await init({ backend: b });
        const n = layout === 'NC' ? 10_000 : 400;
        const shape = layout === 'NC' ? [n, c] : layout === 'NCL' ? [n, c, 100] : shapeOf(layout, n, c, [5, 5]);
        const size = shape.reduce((p, v) => p * v, 1),
          per = size / n;
        const x = randn(size, 77, 0, 0.1);
        for (let i = (layout === 'NC' ? 40 : 1) * per; i < size; i++) x[i] += 1e4;
        const bn = makeLayer(layout, c, { momentum: 1 });
        using xt = tensor(x, shape);
        using y = bn.forward(xt);
        const ref = refForwardTrain(x, layout, shape, 1e-5);
        const M = size / c,
          rv = bn.runningVar!.toArray();
        for (let ch = 0; ch < c; ch++) {
          const unbiased = (ref.var[ch] * M) / (M - 1);
          expect(Math.abs(rv[ch] - unbiased) / unbiased).toBeLessThanOrEqual(TOL_VAR_REL);
        }
        expect(maxAbsDiff(y.toArray(), ref.y)).toBeLessThanOrEqual(TOL_OUT);
        bn.dispose();
      });
    }
  });

  describe(`${b}: NaN and Inf stay in their channel`, () => {
    for (const layout of ['NCHW', 'NHWC', 'NC'] as const) {
      for (const bad of [NaN, Infinity, -Infinity]) {
        it(`${layout} with ${bad} in channel 2`, async () => {
          await init({ backend: b });
          const c = 7;
          const shape = layout === 'NC' ? [40, c] : shapeOf(layout, 2, c, [5, 6]);
          const size = shape.reduce((p, v) => p * v, 1);
          const x = randn(size, 3),
            dy = randn(size, 4);
          const idx = channelIndices(layout, shape);
          const clean = Float32Array.from(x);
          x[idx[2][5]] = bad;
          const bn = makeLayer(layout, c);
          using xt = tensor(x, shape);
          using y = bn.forward(xt);
          using dyt = tensor(dy, shape);
          using dx = bn.backward(dyt);
          const ref = refForwardTrain(clean, layout, shape, 1e-5);
          const rb = refBackward(clean, dy, layout, shape, 1e-5, null, true);
          const yv = y.toArray(),
            dxv = dx.toArray();
          const rm = bn.runningMean!.toArray(),
            rv = bn.runningVar!.toArray(),
            dg = bn.weight!.grad.toArray();
          for (let ch = 0; ch < c; ch++) {
            const ys = idx[ch].map((i) => yv[i]),
              dxs = idx[ch].map((i) => dxv[i]);
            if (ch === 2) {
              expect(ys.every(Number.isNaN)).toBe(true);
              expect(dxs.every(Number.isNaN)).toBe(true);
              expect(rm[ch]).toSatisfy((v: number) => !Number.isFinite(v));
              expect(rv[ch]).toBeNaN();
              expect(dg[ch]).toBeNaN();
            } else {
              expect(
                maxAbsDiff(
                  ys,
                  idx[ch].map((i) => ref.y[i]),
                ),
              ).toBeLessThan(2e-5);
              expect(
                maxAbsDiff(
                  dxs,
                  idx[ch].map((i) => rb.dx[i]),
                ),
              ).toBeLessThan(1e-4);
              expect(Number.isFinite(rm[ch]) && Number.isFinite(rv[ch]) && Number.isFinite(dg[ch])).toBe(true);
            }
          }
          bn.dispose();
        });
      }
    }
  });

  describe(`${b}: empty batch`, () => {
    it('N = 0 gives an empty output and gradient and leaves the running statistics alone', async () => {
      await init({ backend: b });
      const bn = makeLayer('NCHW', 3);
      using x = tensor([], [0, 3, 4, 4]);
      using y = bn.forward(x);
      expect(y.shape).toEqual([0, 3, 4, 4]);
      using dy = tensor([], [0, 3, 4, 4]);
      using dx = bn.backward(dy);
      expect(dx.size).toBe(0);
      expect(Array.from(bn.runningMean!.toArray())).toEqual([0, 0, 0]);
      expect(Array.from(bn.runningVar!.toArray())).toEqual([1, 1, 1]);
      expect(Array.from(bn.weight!.grad.toArray())).toEqual([0, 0, 0]);
      bn.dispose();
    });
  });
}
