// Batch Renormalization (Ioffe 2017, Algorithm 1) against a float64 reference of the paper's
// equations over several steps of a warm-up, every backend; that reference's backward against
// finite differences; rMax = 1, dMax = 0 (and the default warm-up's first steps) is BatchNorm bit for
// bit; the tape and backward(dy) agree; bad options throw and bad input moves no state.
import { describe, expect, it } from 'vitest';
import { BatchRenorm1d, BatchRenorm2d, BatchRenorm3d, F, init, noGrad, tensor, type BatchRenormOptions, type Tensor } from '../src/index';
import { expectBatchNormBits } from './bn_bits';
import { BACKENDS, bits, makeLayer } from './helpers';
import { maxAbs, maxAbsDiff, randn, type Layout } from './reference';
import { renormFiniteDiff, renormRef } from './renorm_reference';

// f32 kernels against f64 equations on O(1) data: outputs and dx within 1e-5 of the largest |value|,
// dγ/dβ (sums over the batch) within 1e-5 of Σ|dy|, running statistics within 1e-6 relative.
const TOL = { out: 1e-5, grad: 1e-5, run: 1e-6 };
// central differences of an f64 function with h = 1e-6: error O(h²) plus rounding O(1e-16/h)
const TOL_FD = 1e-7;

function renorm(layout: Layout, c: number, options: BatchRenormOptions<never>) {
  switch (layout) {
    case 'NC':
      return new BatchRenorm1d(c, options);
    case 'NCL':
    case 'NLC':
      return new BatchRenorm1d(c, { ...options, layout });
    case 'NCHW':
    case 'NHWC':
      return new BatchRenorm2d(c, { ...options, layout });
    default:
      return new BatchRenorm3d(c, { ...options, layout: layout as 'NCDHW' | 'NDHWC' });
  }
}

const channels = (layout: Layout, shape: number[]) => (layout === 'NC' || layout.startsWith('NC') ? shape[1] : shape[shape.length - 1]);

describe('the float64 reference of Batch Renorm', () => {
  it('its backward (r, d constant) equals central differences of its forward', () => {
    const shape = [5, 3, 4],
      layout: Layout = 'NCL';
    const x = Float64Array.from(randn(60, 3, 0.5, 2)),
      dy = randn(60, 4);
    const gamma = Float64Array.from(randn(3, 5, 1, 0.3)),
      beta = Float64Array.from(randn(3, 6));
    const o = { eps: 1e-5, rMax: 1.5, dMax: 0.2, momentum: 0.1 };
    const run = { mean: Float64Array.from([0.3, -0.2, 2]), var: Float64Array.from([0.5, 4, 1.2]), count: 0 };
    const a = renormRef(x, dy, layout, shape, o, gamma, beta, run);
    expect(Array.from(a.r)).toContain(1.5); // a clip binds, so r is not σ_B/σ everywhere
    const fd = renormFiniteDiff(x, dy, layout, shape, o, gamma, beta, { r: a.r, d: a.d });
    expect(maxAbsDiff(a.dx, fd.dx), 'dx').toBeLessThanOrEqual(TOL_FD * maxAbs(a.dx));
    expect(maxAbsDiff(a.dgamma, fd.dgamma), 'dγ').toBeLessThanOrEqual(TOL_FD * maxAbs(a.dgamma));
    expect(maxAbsDiff(a.dbeta, fd.dbeta), 'dβ').toBeLessThanOrEqual(TOL_FD * maxAbs(a.dbeta));
  });
});

// warm-up: plain BN at step 0, then rMax 1 → 1.6 over steps 1..4 and dMax 0 → 0.4 over steps 1..3
const WARMUP = { hold: 1, rMaxAt: 4, dMaxAt: 3 };
const CASES: [Layout, number[], number | null, 'relu' | undefined][] = [
  ['NCHW', [6, 3, 2, 3], 0.1, undefined],
  ['NHWC', [5, 2, 3, 4], 0.3, 'relu'],
  ['NC', [9, 5], null, undefined],
  ['NCL', [4, 2, 5], 0.1, 'relu'],
  ['NCDHW', [3, 2, 2, 2, 3], 0.2, undefined],
];

for (const b of BACKENDS) {
  describe(`${b}: Batch Renorm`, () => {
    for (const [layout, shape, momentum, activation] of CASES) {
      it(`${layout} [${shape}], momentum ${momentum}${activation ? ', relu' : ''}: the paper's equations over 6 steps of a warm-up`, async () => {
        await init({ backend: b });
        const c = channels(layout, shape);
        const m = renorm(layout, c, { rMax: 1.6, dMax: 0.4, warmup: WARMUP, momentum, activation });
        const gamma = randn(c, 7, 1, 0.3),
          beta = randn(c, 8);
        m.loadStateDict({ ...m.stateDict(), weight: gamma, bias: beta });
        const run = { mean: new Float64Array(c), var: new Float64Array(c).fill(1), count: 0 };
        const size = shape.reduce((p, v) => p * v, 1);
        let clipped = 0;
        for (let step = 0; step < 6; step++) {
          const at = `step ${step}`;
          const lim = m.limitsAt();
          const want = {
            rMax: step <= 1 ? 1 : Math.min(1 + (0.6 * (step - 1)) / 3, 1.6),
            dMax: step <= 1 ? 0 : Math.min((0.4 * (step - 1)) / 2, 0.4),
          };
          expect(lim.rMax, `${at} rMax`).toBeCloseTo(want.rMax, 12);
          expect(lim.dMax, `${at} dMax`).toBeCloseTo(want.dMax, 12);
          // batches whose mean and spread wander, so r and d move and hit their clips
          const x = randn(size, 10 + step, 0.7 * step - 1, 0.5 + 0.6 * step),
            dy = randn(size, 20 + step);
          m.zeroGrad();
          using xt = tensor(x, shape);
          using y = noGrad(() => m.forward(xt));
          using dyt = tensor(dy, shape);
          using dx = m.backward(dyt);
          const ref = renormRef(x, dy, layout, shape, { eps: 1e-5, ...lim, momentum, relu: activation === 'relu' }, gamma, beta, run);
          clipped += ref.r.filter((r) => r === lim.rMax || r === 1 / lim.rMax).length;
          clipped += ref.d.filter((d) => Math.abs(d) === lim.dMax && d !== 0).length;
          expect(maxAbsDiff(y.toArray(), ref.y), `${at} y`).toBeLessThanOrEqual(TOL.out * maxAbs(ref.y));
          expect(maxAbsDiff(dx.toArray(), ref.dx), `${at} dx`).toBeLessThanOrEqual(TOL.grad * maxAbs(ref.dx));
          const absDy = dy.reduce((p, v) => p + Math.abs(v), 0);
          expect(maxAbsDiff(m.weight!.grad.toArray(), ref.dgamma), `${at} dγ`).toBeLessThanOrEqual(TOL.grad * absDy);
          expect(maxAbsDiff(m.bias!.grad.toArray(), ref.dbeta), `${at} dβ`).toBeLessThanOrEqual(TOL.grad * absDy);
          expect(maxAbsDiff(m.runningMean!.toArray(), run.mean), `${at} running_mean`).toBeLessThanOrEqual(
            TOL.run * (1 + maxAbs(run.mean)),
          );
          expect(maxAbsDiff(m.runningVar!.toArray(), run.var), `${at} running_var`).toBeLessThanOrEqual(TOL.run * maxAbs(run.var));
          expect(m.stateDict().num_batches_tracked, `${at} step count`).toBe(run.count);
          // the reference's r and d stay those of f64 running statistics: round them as the layer holds them
          run.mean.set(m.runningMean!.toArray());
          run.var.set(m.runningVar!.toArray());
        }
        expect(clipped, 'clips that bound').toBeGreaterThan(0);
        // eval: BN's eval with the running statistics
        m.eval();
        const x = randn(size, 99, 1, 2);
        using xt = tensor(x, shape);
        using y = noGrad(() => m.forward(xt));
        const bn = makeLayer(layout, c, { activation });
        bn.loadStateDict({ ...m.stateDict() });
        bn.eval();
        using yb = noGrad(() => bn.forward(xt));
        expect(bits(y.toArray()), 'eval is BN eval').toEqual(bits(yb.toArray()));
        bn.dispose();
        m.dispose();
      });
    }

    for (const [layout, shape] of [
      ['NCHW', [6, 3, 4, 5]],
      ['NHWC', [5, 3, 2, 4]],
      ['NC', [7, 4]],
    ] as [Layout, number[]][]) {
      for (const activation of [undefined, 'relu'] as const) {
        for (const [label, opts] of [
          ['rMax 1, dMax 0', { rMax: 1, dMax: 0, warmup: null }],
          ['the default warm-up', {}],
        ] as const) {
          it(`${layout} ${activation ?? ''} ${label}: BatchNorm bit for bit (train, train, eval; layer and tape)`, async () => {
            await init({ backend: b });
            expectBatchNormBits(layout, shape, activation, (c) => renorm(layout, c, { ...opts, activation, momentum: null }));
          });
        }
      }
    }

    it('on the tape and by backward(dy): the same bits once r and d bind', async () => {
      await init({ backend: b });
      const shape = [6, 3, 5];
      const make = () => {
        const m = new BatchRenorm1d(3, { rMax: 1.2, dMax: 0.3, warmup: null });
        m.loadStateDict({ ...m.stateDict(), weight: randn(3, 1, 1, 0.4), bias: randn(3, 2), running_mean: [0.5, -1, 3] });
        return m;
      };
      const x = randn(90, 5, 0, 3),
        dy = randn(90, 6);
      const a = make(),
        t = make();
      using xa = tensor(x, shape);
      using ya = noGrad(() => a.forward(xa));
      using dyt = tensor(dy, shape);
      using dxa = a.backward(dyt);
      const xt = tensor(x, shape, { requiresGrad: true });
      const yt: Tensor = t.forward(xt);
      const yv = yt.toArray();
      F.sum(F.mul(yt, tensor(dy, shape))).backward();
      expect(bits(yv)).toEqual(bits(ya.toArray()));
      expect(bits(xt.grad!.toArray())).toEqual(bits(dxa.toArray()));
      expect(bits(t.weight!.grad.toArray())).toEqual(bits(a.weight!.grad.toArray()));
      expect(bits(t.bias!.grad.toArray())).toEqual(bits(a.bias!.grad.toArray()));
      xt.dispose();
      a.dispose();
      t.dispose();
    });

    it('F.batchRenorm: the layer bit for bit (3 training steps with r and d binding, then eval), on the tape', async () => {
      await init({ backend: b });
      const shape = [5, 3, 2, 4],
        size = 120;
      const m = new BatchRenorm2d(3, { rMax: 1.25, dMax: 0.25, warmup: null, momentum: 0.2 });
      const gamma = randn(3, 11, 1, 0.4),
        beta = randn(3, 12);
      m.loadStateDict({ ...m.stateDict(), weight: gamma, bias: beta });
      const rm = tensor(new Float32Array(3)).keep(),
        rv = tensor(new Float32Array(3).fill(1)).keep();
      for (const [step, mode] of (['train', 'train', 'train', 'eval'] as const).entries()) {
        const at = `step ${step}`;
        const x = randn(size, 70 + step, step - 1, 1 + step),
          dy = randn(size, 80 + step);
        m.train(mode === 'train');
        m.zeroGrad();
        const xl = tensor(x, shape, { requiresGrad: true });
        const yl: Tensor = m.forward(xl);
        const ylv = yl.toArray();
        F.sum(F.mul(yl, tensor(dy, shape))).backward();
        const xf = tensor(x, shape, { requiresGrad: true }),
          w = tensor(gamma, [3], { requiresGrad: true }),
          bb = tensor(beta, [3], { requiresGrad: true });
        const yf = F.batchRenorm(xf, rm, rv, { weight: w, bias: bb, training: mode === 'train', momentum: 0.2, rMax: 1.25, dMax: 0.25 });
        const yfv = yf.toArray();
        F.sum(F.mul(yf, tensor(dy, shape))).backward();
        expect(bits(yfv), `${at} y`).toEqual(bits(ylv));
        expect(bits(xf.grad!.toArray()), `${at} dx`).toEqual(bits(xl.grad!.toArray()));
        expect(bits(w.grad!.toArray()), `${at} dγ`).toEqual(bits(m.weight!.grad.toArray()));
        expect(bits(bb.grad!.toArray()), `${at} dβ`).toEqual(bits(m.bias!.grad.toArray()));
        expect(bits(rm.toArray()), `${at} running_mean`).toEqual(bits(m.runningMean!.toArray()));
        expect(bits(rv.toArray()), `${at} running_var`).toEqual(bits(m.runningVar!.toArray()));
        for (const t of [xl, xf, w, bb]) t.dispose();
      }
      rm.dispose();
      rv.dispose();
      m.dispose();
    });

    it('affine false: r and d alone, against the reference', async () => {
      await init({ backend: b });
      const shape = [8, 4];
      const m = new BatchRenorm1d(4, { affine: false, rMax: 1.3, dMax: 0.5, warmup: null, momentum: 0.5 });
      const run = { mean: new Float64Array(4), var: new Float64Array(4).fill(1), count: 0 };
      for (let step = 0; step < 3; step++) {
        const x = randn(32, 50 + step, step - 1, 0.3 + step),
          dy = randn(32, 60 + step);
        using xt = tensor(x, shape);
        using y = noGrad(() => m.forward(xt));
        using dyt = tensor(dy, shape);
        using dx = m.backward(dyt);
        const one = new Float64Array(4).fill(1),
          zero = new Float64Array(4);
        const ref = renormRef(x, dy, 'NC', shape, { eps: 1e-5, rMax: 1.3, dMax: 0.5, momentum: 0.5 }, one, zero, run);
        expect(maxAbsDiff(y.toArray(), ref.y), `step ${step} y`).toBeLessThanOrEqual(TOL.out * maxAbs(ref.y));
        expect(maxAbsDiff(dx.toArray(), ref.dx), `step ${step} dx`).toBeLessThanOrEqual(TOL.grad * maxAbs(ref.dx));
        run.mean.set(m.runningMean!.toArray());
        run.var.set(m.runningVar!.toArray());
      }
      m.dispose();
    });
  });
}
