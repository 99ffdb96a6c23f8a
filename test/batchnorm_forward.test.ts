// Kernels against the float64 reference: forward (train and eval) and backward, every layout,
// odd shapes, every backend.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor } from '../src/index';
import { BACKENDS, makeLayer, shapeOf } from './helpers';
import { maxAbs, maxAbsDiff, randn, refBackward, refForwardEval, refForwardTrain, type Layout } from './reference';

// Tolerances (f32 kernels vs f64 reference, inputs ~ N(offset, 3²), outputs O(1)):
// y is a few f32 roundings of O(1) values: 2e-5 absolute leaves ~100 ulps of headroom.
const TOL_Y = 2e-5;
// dx cancels terms of size |γ·invstd·dy|: 1e-5 of the largest |dx| (f32 eps·√M with margin).
const TOL_DX_REL = 1e-5;
// dγ, dβ are sums over M elements accumulated in f32 chunks merged in f64: 1e-5 relative to Σ|term|.
const TOL_SUM_REL = 1e-5;

const CASES: [Layout, number, number, number[]][] = [
  ['NC', 7, 13, []],
  ['NC', 64, 33, []],
  ['NCL', 4, 6, [9]],
  ['NCL', 3, 5, [1]],
  ['NLC', 5, 6, [4]],
  ['NCHW', 3, 5, [7, 3]],
  ['NCHW', 2, 17, [9, 11]],
  ['NHWC', 2, 7, [3, 5]],
  ['NHWC', 3, 19, [5, 6]],
  ['NCDHW', 2, 3, [2, 3, 4]],
  ['NDHWC', 2, 5, [2, 3, 2]],
  ['NCHW', 2, 3, [70, 70]],
  ['NHWC', 4, 9, [40, 40]],
];

for (const b of BACKENDS) {
  describe(`${b}: kernels vs float64 reference`, () => {
    beforeAll(async () => {
      await init({ backend: b });
    });

    for (const [layout, n, c, spatial] of CASES) {
      const shape = shapeOf(layout, n, c, spatial);
      it(`${layout} [${shape}] train forward + backward`, () => {
        const size = shape.reduce((a, v) => a * v, 1);
        const x = randn(size, 1 + size, 0, 3);
        // per-channel offsets so channels differ
        const dy = randn(size, 7 + size);
        const gamma = randn(c, 3, 1, 0.5),
          beta = randn(c, 4);
        const bn = makeLayer(layout, c, { eps: 1e-5 });
        bn.loadStateDict({ ...bn.stateDict(), weight: gamma, bias: beta });
        using xt = tensor(x, shape);
        using y = bn.forward(xt);
        const ref = refForwardTrain(x, layout, shape, 1e-5, gamma, beta);
        expect(maxAbsDiff(y.toArray(), ref.y)).toBeLessThanOrEqual(TOL_Y * Math.max(1, maxAbs(ref.y)));
        using dyt = tensor(dy, shape);
        using dx = bn.backward(dyt);
        const rb = refBackward(x, dy, layout, shape, 1e-5, gamma, true);
        expect(maxAbsDiff(dx.toArray(), rb.dx)).toBeLessThanOrEqual(TOL_DX_REL * maxAbs(rb.dx));
        const absDy = Array.from(dy, Math.abs).reduce((a, v) => a + v, 0);
        expect(maxAbsDiff(bn.bias!.grad.toArray(), rb.dbeta)).toBeLessThanOrEqual(TOL_SUM_REL * absDy);
        expect(maxAbsDiff(bn.weight!.grad.toArray(), rb.dgamma)).toBeLessThanOrEqual(TOL_SUM_REL * absDy * 4);
        bn.dispose();
      });

      it(`${layout} [${shape}] eval forward + backward with running statistics`, () => {
        const size = shape.reduce((a, v) => a * v, 1);
        const x = randn(size, 11 + size, 0.5, 2);
        const dy = randn(size, 13 + size);
        const rm = randn(c, 5),
          rv = Float32Array.from(randn(c, 6), (v) => 0.5 + Math.abs(v));
        const gamma = randn(c, 8, 1, 0.5),
          beta = randn(c, 9);
        const bn = makeLayer(layout, c, { eps: 1e-3 });
        bn.loadStateDict({ weight: gamma, bias: beta, running_mean: rm, running_var: rv, num_batches_tracked: 3 });
        bn.eval();
        using xt = tensor(x, shape);
        using y = bn.forward(xt);
        const ref = refForwardEval(x, layout, shape, 1e-3, rm, rv, gamma, beta);
        expect(maxAbsDiff(y.toArray(), ref)).toBeLessThanOrEqual(TOL_Y * Math.max(1, maxAbs(ref)));
        using dyt = tensor(dy, shape);
        using dx = bn.backward(dyt);
        const rb = refBackward(x, dy, layout, shape, 1e-3, gamma, false, rm, rv);
        expect(maxAbsDiff(dx.toArray(), rb.dx)).toBeLessThanOrEqual(TOL_DX_REL * maxAbs(rb.dx));
        const absDy = Array.from(dy, Math.abs).reduce((a, v) => a + v, 0);
        expect(maxAbsDiff(bn.weight!.grad.toArray(), rb.dgamma)).toBeLessThanOrEqual(TOL_SUM_REL * absDy * 8);
        // eval forward leaves the running statistics alone
        expect(bn.stateDict().running_mean).toEqual(rm);
        expect(bn.stateDict().num_batches_tracked).toBe(3);
        bn.dispose();
      });
    }
  });
}
