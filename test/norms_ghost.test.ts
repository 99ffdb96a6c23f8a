// Ghost Batch Normalization (Hoffer et al. 2017, Algorithm 1) against a float64 reference of the
// paper's equations (BN's per ghost batch, the running statistics from each ghost batch in order),
// every backend; one ghost batch is BatchNorm bit for bit; the tape and backward(dy) agree.
import { describe, expect, it } from 'vitest';
import { F, GhostBatchNorm1d, GhostBatchNorm2d, init, noGrad, tensor, type Tensor } from '../src/index';
import { expectBatchNormBits } from './bn_bits';
import { BACKENDS } from './helpers';
import { maxAbs, maxAbsDiff, randn, refBackward, refForwardTrain, type Layout } from './reference';

// f32 kernels against f64 equations on O(1) data: outputs and dx within 1e-5 of the largest |value|,
// dγ/dβ (sums over the batch) within 1e-5 of Σ|dy|, running statistics within 1e-6 relative.
const TOL = { out: 1e-5, grad: 1e-5, run: 1e-6 };

/** The paper's Algorithm 1 in float64: y, dx, dγ, dβ and the running statistics after the step. */
function ghostRef(
  x: Float32Array,
  dy: Float32Array,
  layout: Layout,
  shape: number[],
  vbs: number,
  eps: number,
  gamma: Float32Array,
  beta: Float32Array,
  run: { mean: Float64Array; var: Float64Array; count: number },
  momentum: number | null,
) {
  const n = shape[0],
    per = x.length / n,
    c = gamma.length;
  const y = new Float64Array(x.length),
    dx = new Float64Array(x.length),
    dgamma = new Float64Array(c),
    dbeta = new Float64Array(c);
  for (let s = 0; s < n; s += vbs) {
    const nb = Math.min(vbs, n - s),
      sub = [nb, ...shape.slice(1)];
    const xs = x.subarray(s * per, (s + nb) * per),
      dys = dy.subarray(s * per, (s + nb) * per);
    const f = refForwardTrain(xs, layout, sub, eps, gamma, beta);
    const b = refBackward(xs, dys, layout, sub, eps, gamma, true);
    y.set(f.y, s * per);
    dx.set(b.dx, s * per);
    const m = (nb * per) / c;
    run.count += 1;
    const k = momentum === null ? 1 / run.count : momentum;
    for (let ch = 0; ch < c; ch++) {
      dgamma[ch] += b.dgamma[ch];
      dbeta[ch] += b.dbeta[ch];
      run.mean[ch] = (1 - k) * run.mean[ch] + k * f.mean[ch];
      run.var[ch] = (1 - k) * run.var[ch] + (k * f.var[ch] * m) / (m - 1);
    }
  }
  return { y, dx, dgamma, dbeta };
}

function ghost(layout: Layout, c: number, options: { virtualBatchSize: number; momentum?: number | null; activation?: 'relu' }) {
  return layout === 'NC' || layout === 'NCL' || layout === 'NLC'
    ? new GhostBatchNorm1d(c, { ...options, ...(layout === 'NC' ? {} : { layout }) })
    : new GhostBatchNorm2d(c, { ...options, layout: layout as 'NCHW' | 'NHWC' });
}

const CASES: [Layout, number[], number, number | null][] = [
  ['NCHW', [10, 3, 2, 3], 4, 0.1], // ghost batches 4, 4, 2
  ['NHWC', [9, 2, 3, 4], 3, 0.3],
  ['NC', [11, 5], 4, null], // cumulative average over the ghost batches
  ['NCL', [8, 2, 5], 8, 0.1], // one ghost batch
];

for (const b of BACKENDS) {
  describe(`${b}: Ghost BatchNorm`, () => {
    for (const [layout, shape, vbs, momentum] of CASES) {
      it(`${layout} [${shape}], virtualBatchSize ${vbs}, momentum ${momentum}: the paper's equations over 3 steps`, async () => {
        await init({ backend: b });
        const c = layout === 'NC' || layout.startsWith('NC') ? shape[1] : shape[shape.length - 1];
        const m = ghost(layout, c, { virtualBatchSize: vbs, momentum });
        const gamma = randn(c, 7, 1, 0.3),
          beta = randn(c, 8);
        m.loadStateDict({ ...m.stateDict(), weight: gamma, bias: beta });
        const run = { mean: new Float64Array(c), var: new Float64Array(c).fill(1), count: 0 };
        const size = shape.reduce((p, v) => p * v, 1);
        for (let step = 0; step < 3; step++) {
          const at = `step ${step}`;
          const x = randn(size, 10 + step, step, 1 + step),
            dy = randn(size, 20 + step);
          m.zeroGrad();
          using xt = tensor(x, shape);
          using y = noGrad(() => m.forward(xt));
          using dyt = tensor(dy, shape);
          using dx = m.backward(dyt);
          const ref = ghostRef(x, dy, layout, shape, vbs, 1e-5, gamma, beta, run, momentum);
          expect(maxAbsDiff(y.toArray(), ref.y), `${at} y`).toBeLessThanOrEqual(TOL.out * maxAbs(ref.y));
          expect(maxAbsDiff(dx.toArray(), ref.dx), `${at} dx`).toBeLessThanOrEqual(TOL.grad * maxAbs(ref.dx));
          const absDy = dy.reduce((p, v) => p + Math.abs(v), 0);
          expect(maxAbsDiff(m.weight!.grad.toArray(), ref.dgamma), `${at} dγ`).toBeLessThanOrEqual(TOL.grad * absDy);
          expect(maxAbsDiff(m.bias!.grad.toArray(), ref.dbeta), `${at} dβ`).toBeLessThanOrEqual(TOL.grad * absDy);
          expect(maxAbsDiff(m.runningMean!.toArray(), run.mean), `${at} running_mean`).toBeLessThanOrEqual(
            TOL.run * (1 + maxAbs(run.mean)),
          );
          expect(maxAbsDiff(m.runningVar!.toArray(), run.var), `${at} running_var`).toBeLessThanOrEqual(TOL.run * maxAbs(run.var));
          expect(m.numBatchesTracked).toBe(run.count);
        }
        m.dispose();
      });
    }

    for (const [layout, shape] of [
      ['NCHW', [6, 3, 4, 5]],
      ['NHWC', [5, 3, 2, 4]],
      ['NC', [7, 4]],
    ] as [Layout, number[]][]) {
      for (const activation of [undefined, 'relu'] as const) {
        it(`${layout} ${activation ?? ''}: one ghost batch is BatchNorm bit for bit (train, train, eval; layer and tape)`, async () => {
          await init({ backend: b });
          expectBatchNormBits(
            layout,
            shape,
            activation,
            (c) => ghost(layout, c, { virtualBatchSize: shape[0] + 3, momentum: null, activation }),
            true,
          );
        });
      }
    }
  });
}

describe('Ghost BatchNorm: a ghost batch of one value per channel', () => {
  it('throws before any state moves, naming the ghost batch', async () => {
    await init({ backend: 'js' });
    const m = new GhostBatchNorm1d(3, { virtualBatchSize: 4 });
    const before = m.stateDict();
    using x = tensor(randn(15, 1), [5, 3]);
    expect(() => m.forward(x)).toThrow(
      /^GhostBatchNorm1d\.forward: expected more than 1 value per channel in each ghost batch when training, got a ghost batch \[1, 3\] of input \[5, 3\] \(virtualBatchSize 4\)$/,
    );
    expect(m.stateDict()).toEqual(before);
    m.eval();
    m.forward(x).dispose(); // eval is BN's: running statistics, any batch
    m.dispose();
  });
});
