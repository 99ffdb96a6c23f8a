// BatchNorm at the ends of the f32 range: values whose squares overflow f32, and the smallest eps.
// Every build must agree with a float64 reference (the f32 partial sums of the SIMD build included).
import { describe, expect, it } from 'vitest';
import { init, tensor } from '../src/index';
import { BACKENDS, makeLayer, shapeOf } from './helpers';
import { maxAbs, maxAbsDiff, randn, refBackward, refForwardTrain, type Layout } from './reference';

// y of O(1) within 4e-6 (a few f32 ulps of the constants a = γ·invstd, b, and of x·a); the running
// variance within 2e-6 relative (its f64 value rounded once to f32, plus the sums' f64 rounding).
const TOL_Y = 4e-6;
const TOL_VAR_REL = 2e-6;
// dx within 4e-6 of max |dx|, dγ and dβ within 4e-6 of their largest (f32 constants, f64 sums)
const TOL_GRAD_REL = 4e-6;

/** f32 values v·u, u uniform in [−1, 1] from a fixed sequence (no Inf: |v·u| ≤ v). */
function uniformScaled(size: number, v: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let s = seed >>> 0;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = v * (2 * (s / 4294967296) - 1);
  }
  return out;
}

function checkTrain(layout: Layout, shape: number[], x: Float32Array): void {
  const c = layout === 'NC' || !layout.endsWith('C') ? shape[1] : shape[shape.length - 1];
  const bn = makeLayer(layout, c, { momentum: 1 });
  using xt = tensor(x, shape);
  using y = bn.forward(xt);
  const ref = refForwardTrain(x, layout, shape, 1e-5);
  const got = y.toArray();
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref.y[i]));
  expect(worst, 'max |y − y_ref|').toBeLessThanOrEqual(TOL_Y);
  const m = x.length / c,
    rv = bn.runningVar!.toArray();
  for (let ch = 0; ch < c; ch++) {
    const want = Math.fround((ref.var[ch] * m) / (m - 1));
    if (want === Infinity) expect(rv[ch]).toBe(Infinity);
    else expect(Math.abs(rv[ch] - want) / want, `running_var[${ch}]`).toBeLessThanOrEqual(TOL_VAR_REL);
  }
  bn.dispose();
}

for (const b of BACKENDS) {
  describe(`${b}: squares beyond f32`, () => {
    for (const v of [1e19, 3e38]) {
      it(`BatchNorm1d(8) on [8, 8] rows alternating ±${v}`, async () => {
        await init({ backend: b });
        const x = new Float32Array(64);
        for (let i = 0; i < 64; i++) x[i] = (i >> 3) % 2 ? -v : v;
        checkTrain('NC', [8, 8], x);
      });
      // every path of the kernels: long runs, short runs (channels-last passes), rows, folded rows
      const cases: [Layout, number[]][] = [
        ['NC', [64, 5]],
        ['NC', [40, 24]],
        ['NCHW', [2, 3, 9, 9]],
        ['NCHW', [32, 2, 3, 3]],
        ['NHWC', shapeOf('NHWC', 4, 16, [4, 4])],
        ['NCL', [4, 3, 100]],
        ['NLC', [6, 33, 12]],
      ];
      for (const [layout, shape] of cases) {
        it(`${layout} [${shape.join(', ')}], |x| up to ${v}`, async () => {
          await init({ backend: b });
          checkTrain(
            layout,
            shape,
            uniformScaled(
              shape.reduce((p, q) => p * q, 1),
              v,
              shape.length * 7 + shape[1],
            ),
          );
        });
      }
    }
  });

  describe(`${b}: backward sums beyond f32`, () => {
    // Σdy·(x − K) with |x| = 1e19 and |dy| ~ 1e20: each product overflows f32, not f64
    for (const layout of ['NC', 'NCHW', 'NHWC', 'NCL'] as const) {
      for (const activation of [null, 'relu'] as const) {
        it(`${layout}, ReLU ${activation === 'relu'}: dx, dγ, dβ against float64`, async () => {
          await init({ backend: b });
          const c = 8,
            shape = layout === 'NC' ? [8, c] : layout === 'NCL' ? [2, c, 70] : shapeOf(layout, 2, c, [3, 5]);
          const size = shape.reduce((p, q) => p * q, 1);
          const x = uniformScaled(size, 1e19, 11),
            dy = randn(size, 12, 0, 1e20);
          const bn = makeLayer(layout, c, activation === 'relu' ? { activation } : {});
          using xt = tensor(x, shape);
          using y = bn.forward(xt);
          // BN+ReLU: the gradient reaches BN only where its output was positive
          const yv = y.toArray(),
            g = Float32Array.from(dy, (d, i) => (activation === 'relu' && !(yv[i] > 0) ? 0 : d));
          using dyt = tensor(dy, shape);
          using dx = bn.backward(dyt);
          const ref = refBackward(x, g, layout, shape, 1e-5, null, true);
          expect(maxAbsDiff(dx.toArray(), ref.dx), 'max |dx − dx_ref|').toBeLessThanOrEqual(TOL_GRAD_REL * maxAbs(ref.dx));
          expect(maxAbsDiff(bn.weight!.grad.toArray(), ref.dgamma), 'max |dγ − dγ_ref|').toBeLessThanOrEqual(
            TOL_GRAD_REL * maxAbs(ref.dgamma),
          );
          expect(maxAbsDiff(bn.bias!.grad.toArray(), ref.dbeta), 'max |dβ − dβ_ref|').toBeLessThanOrEqual(TOL_GRAD_REL * maxAbs(ref.dbeta));
          bn.dispose();
        });
      }
    }
  });

  describe(`${b}: eps = 5e-324`, () => {
    // γ·invstd overflows f32 (invstd ≈ 4.5e161) where the variance is 0: a constant channel still gives β
    for (const layout of ['NC', 'NCHW', 'NHWC', 'NCL'] as const) {
      for (const value of [0, 3.25]) {
        it(`${layout}, a constant channel of ${value} gives β, training and eval, with and without ReLU`, async () => {
          await init({ backend: b });
          const c = 3,
            shape = layout === 'NC' ? [40, c] : layout === 'NCL' ? [2, c, 70] : shapeOf(layout, 2, c, [3, 5]);
          const size = shape.reduce((p, q) => p * q, 1);
          const beta = [0.5, -0.75, 2];
          for (const activation of [null, 'relu'] as const) {
            const bn = makeLayer(layout, c, { eps: 5e-324, momentum: 1, activation });
            bn.loadStateDict({ ...bn.stateDict(), bias: new Float32Array(beta) });
            using xt = tensor(new Float32Array(size).fill(value), shape);
            for (const mode of ['train', 'eval'] as const) {
              if (mode === 'eval') bn.eval();
              using y = bn.forward(xt);
              const got = y.toArray(),
                idx = channelOf(layout, shape);
              for (let i = 0; i < size; i++) {
                const want = activation === 'relu' ? Math.max(beta[idx(i)], 0) : beta[idx(i)];
                if (got[i] !== Math.fround(want))
                  expect(`${mode} ${activation} y[${i}] = ${got[i]}`).toBe(`${mode} ${activation} y[${i}] = ${Math.fround(want)}`);
              }
            }
            bn.dispose();
          }
        });
      }
    }
  });
}

/** The channel of flat index i. */
function channelOf(layout: Layout, shape: number[]): (i: number) => number {
  const c = layout === 'NC' || !layout.endsWith('C') ? shape[1] : shape[shape.length - 1];
  if (layout === 'NC' || layout.endsWith('C')) return (i) => i % c;
  const inner = shape.slice(2).reduce((p, q) => p * q, 1);
  return (i) => Math.floor(i / inner) % c;
}
