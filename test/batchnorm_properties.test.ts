// Properties: every SIMD tail length and channel count agrees across backends, results are
// deterministic, outputs are normalized, and constant channels give exactly β.
import { describe, expect, it } from 'vitest';
import { init, tensor, backend } from '../src/index';
import { BACKENDS, makeLayer, shapeOf } from './helpers';
import { maxAbs, maxAbsDiff, randn, refForwardTrain, type Layout } from './reference';

// SIMD, scalar and JS differ only in f32 summation order and f64 vs f32 arithmetic: outputs are
// O(1), so 1e-5 absolute (≈ 80 ulps) bounds the difference. dx is a difference of terms as large
// as |γ|·invstd·|dy| (it cancels to ~0 for two values per channel), so its bound scales with that.
const TOL_XBACKEND = 1e-5;

interface Run {
  y: Float32Array;
  dx: Float32Array;
  dg: Float32Array;
  db: Float32Array;
  rm: Float32Array;
  rv: Float32Array;
}

const gammaOf = (c: number) => randn(c, 2, 1, 0.3);

/** The size of the terms dx is computed from: max |γ|·invstd · max |dy|. */
function dxScale(layout: Layout, shape: number[], c: number, x: Float32Array, dy: Float32Array): number {
  if (x.length === 0) return 0;
  const { invstd } = refForwardTrain(x, layout, shape, 1e-5);
  const g = gammaOf(c);
  return Math.max(...Array.from(invstd, (v, i) => v * Math.abs(g[i]))) * maxAbs(dy);
}

function run(layout: Layout, shape: number[], c: number, x: Float32Array, dy: Float32Array, train: boolean): Run {
  const bn = makeLayer(layout, c);
  bn.loadStateDict({ ...bn.stateDict(), weight: gammaOf(c), bias: randn(c, 3) });
  bn.train(train);
  using xt = tensor(x, shape);
  using y = bn.forward(xt);
  using dyt = tensor(dy, shape);
  using dx = bn.backward(dyt);
  const out = {
    y: y.toArray(),
    dx: dx.toArray(),
    dg: bn.weight!.grad.toArray(),
    db: bn.bias!.grad.toArray(),
    rm: bn.runningMean!.toArray(),
    rv: bn.runningVar!.toArray(),
  };
  bn.dispose();
  return out;
}

// channel-first: runs of length l (n = 1 and 3); channels-last: l rows of c channels
const FAMILIES: [Layout, (len: number, c: number, n: number) => number[]][] = [
  ['NCL', (len, c, n) => [n, c, len]],
  ['NLC', (len, c, n) => [n, len, c]],
];

describe('SIMD = scalar = JS for lengths 0..33 × channels 1..17', () => {
  for (const [layout, shapeFn] of FAMILIES) {
    it(`${layout}`, async () => {
      let cases = 0;
      for (let len = 0; len <= 33; len++) {
        for (let c = 1; c <= 17; c++) {
          for (const n of [1, 3]) {
            const shape = shapeFn(len, c, n);
            const size = n * c * len;
            const train = n * len > 1; // one value per channel cannot train
            const x = randn(size, 100 + len * 31 + c, 2, 3),
              dy = randn(size, 200 + len * 17 + c);
            const runs: Run[] = [];
            for (const b of BACKENDS) {
              await init({ backend: b });
              runs.push(run(layout, shape, c, x, dy, train));
            }
            const [simd, scalar, js] = runs;
            const scale = train ? dxScale(layout, shape, c, x, dy) : 0;
            for (const other of [scalar, js]) {
              expect(maxAbsDiff(simd.y, other.y)).toBeLessThanOrEqual(TOL_XBACKEND);
              expect(maxAbsDiff(simd.dx, other.dx)).toBeLessThanOrEqual(TOL_XBACKEND * Math.max(1, maxAbs(other.dx), scale));
              expect(maxAbsDiff(simd.dg, other.dg)).toBeLessThanOrEqual(TOL_XBACKEND * Math.max(1, n * len));
              expect(maxAbsDiff(simd.db, other.db)).toBeLessThanOrEqual(TOL_XBACKEND * Math.max(1, n * len));
              expect(maxAbsDiff(simd.rm, other.rm)).toBeLessThanOrEqual(TOL_XBACKEND);
              expect(maxAbsDiff(simd.rv, other.rv)).toBeLessThanOrEqual(TOL_XBACKEND * 10);
            }
            cases++;
          }
        }
      }
      expect(cases).toBe(34 * 17 * 2);
    });
  }
});

for (const b of BACKENDS) {
  describe(`${b}: properties`, () => {
    it('same input twice gives bit-identical output, gradients and running statistics', async () => {
      await init({ backend: b });
      for (const layout of ['NCHW', 'NHWC'] as const) {
        const shape = shapeOf(layout, 4, 10, [7, 9]);
        const size = 4 * 10 * 63;
        const x = randn(size, 5, 1, 2),
          dy = randn(size, 6);
        const a = run(layout, shape, 10, x, dy, true),
          c = run(layout, shape, 10, x, dy, true);
        expect(Buffer.from(c.y.buffer)).toEqual(Buffer.from(a.y.buffer));
        expect(Buffer.from(c.dx.buffer)).toEqual(Buffer.from(a.dx.buffer));
        expect(Buffer.from(c.dg.buffer)).toEqual(Buffer.from(a.dg.buffer));
        expect(Buffer.from(c.rv.buffer)).toEqual(Buffer.from(a.rv.buffer));
      }
    });

    it('each output channel has mean ≈ 0 and variance ≈ 1 (γ = 1, β = 0)', async () => {
      await init({ backend: b });
      expect(backend()).toBe(b);
      for (const layout of ['NCHW', 'NHWC', 'NC'] as const) {
        const shape = layout === 'NC' ? [300, 12] : shapeOf(layout, 6, 12, [11, 5]);
        const size = shape.reduce((p, v) => p * v, 1);
        const x = randn(size, 77, 50, 7);
        const bn = makeLayer(layout, 12, { eps: 1e-5 });
        using xt = tensor(x, shape);
        using yt = bn.forward(xt);
        const y = yt.toArray();
        const ax = layout === 'NCHW' ? 1 : shape.length - 1;
        const inner = shape.slice(ax + 1).reduce((p, v) => p * v, 1);
        const sum = new Float64Array(12),
          sq = new Float64Array(12),
          cnt = new Float64Array(12);
        y.forEach((v, i) => {
          const ch = Math.floor(i / inner) % 12;
          sum[ch] += v;
          sq[ch] += v * v;
          cnt[ch]++;
        });
        for (let ch = 0; ch < 12; ch++) {
          const mean = sum[ch] / cnt[ch];
          // mean: f32 rounding of O(1) values averaged: 1e-6; var = σ²/(σ² + eps) ≈ 1 − 2e-7 here: 1e-5
          expect(Math.abs(mean)).toBeLessThan(1e-6);
          expect(Math.abs(sq[ch] / cnt[ch] - mean * mean - 1)).toBeLessThan(1e-5);
        }
        bn.dispose();
      }
    });

    it('a constant channel gives exactly β, with zero variance', async () => {
      await init({ backend: b });
      for (const layout of ['NCHW', 'NHWC'] as const) {
        for (const value of [0.37, 1e4 + 0.5, -3e7, 0]) {
          const shape = shapeOf(layout, 5, 6, [9, 13]);
          const size = 5 * 6 * 117;
          const x = randn(size, 9);
          const ax = layout === 'NCHW' ? 1 : 3;
          const inner = shape.slice(ax + 1).reduce((p, v) => p * v, 1);
          for (let i = 0; i < size; i++) if (Math.floor(i / inner) % 6 === 2) x[i] = value;
          const bn = makeLayer(layout, 6, { momentum: 1 });
          const beta = randn(6, 10);
          bn.loadStateDict({ ...bn.stateDict(), bias: beta });
          using xt = tensor(x, shape);
          using yt = bn.forward(xt);
          const y = yt.toArray();
          for (let i = 0; i < size; i++) if (Math.floor(i / inner) % 6 === 2) expect(y[i]).toBe(beta[2]);
          expect(bn.runningVar!.toArray()[2]).toBe(0);
          expect(bn.runningMean!.toArray()[2]).toBe(Math.fround(value));
          bn.dispose();
        }
      }
    });
  });
}
