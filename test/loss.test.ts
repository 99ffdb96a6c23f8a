// CrossEntropyLoss and MSELoss against float64 restatements of PyTorch's formulas, and against
// PyTorch itself (test/fixtures/gen_torch_train.py → torch_optim.json).
import torchOptim from './fixtures/torch_optim.json';
import { describe, expect, it } from 'vitest';
import { init, tensor, CrossEntropyLoss, MSELoss } from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbsDiff, randn } from './reference';

const fx = torchOptim as unknown as {
  ce: { z: number[]; y: number[]; smoothing: number; loss: number; grad: number[] };
  mse: { p: number[]; t: number[]; loss: number; grad: number[] };
};

// Losses: f64 inside, one f32 rounding of the gradient (≤ 1e-7 for |g| ≤ 1): 1e-6 absolute; against
// torch (f32 inside): 1e-6 relative.
const TOL_LOSS = 1e-6;

function refCrossEntropy(z: Float32Array, labels: number[], n: number, c: number, s: number) {
  let loss = 0;
  const grad = new Float64Array(n * c);
  for (let i = 0; i < n; i++) {
    const row = Array.from(z.slice(i * c, i * c + c));
    const mx = Math.max(...row);
    const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
    for (let j = 0; j < c; j++) {
      const t = (j === labels[i] ? 1 - s : 0) + s / c;
      loss -= (t * (row[j] - lse)) / n;
      grad[i * c + j] = (Math.exp(row[j] - lse) - t) / n;
    }
  }
  return { loss, grad };
}

for (const b of BACKENDS) {
  describe(`${b}: losses`, () => {
    it('CrossEntropyLoss with and without label smoothing, large logits', async () => {
      await init({ backend: b });
      for (const s of [0, 0.1]) {
        const n = 7,
          c = 10;
        const z = randn(n * c, 3, 0, 4);
        z[5] = 500;
        z[17] = -400; // log-sum-exp keeps these finite
        const labels = [0, 3, 9, 5, 5, 1, 7];
        const lossFn = new CrossEntropyLoss({ labelSmoothing: s });
        using zt = tensor(z, [n, c]);
        const loss = lossFn.forward(zt, labels);
        const ref = refCrossEntropy(z, labels, n, c, s);
        expect(Math.abs(loss - ref.loss)).toBeLessThanOrEqual(TOL_LOSS * Math.max(1, Math.abs(ref.loss)));
        using g = lossFn.backward();
        expect(maxAbsDiff(g.toArray(), ref.grad)).toBeLessThanOrEqual(TOL_LOSS);
        expect(() => lossFn.backward()).toThrow(/^CrossEntropyLoss\.backward: call forward\(\) first/);
      }
    });

    it('CrossEntropyLoss rejects bad labels and shapes', async () => {
      await init({ backend: b });
      using z = tensor(randn(6, 1), [2, 3]);
      const lossFn = new CrossEntropyLoss();
      expect(() => lossFn.forward(z, [0])).toThrow(
        /^CrossEntropyLoss\.forward: labels: expected 2 labels \(one per row of logits\), got 1$/,
      );
      expect(() => lossFn.forward(z, [0, 3])).toThrow(
        /^CrossEntropyLoss\.forward: labels\[1\]: expected an integer class in \[0, 3\), got number 3$/,
      );
      expect(() => lossFn.forward(z, [0, 1.5])).toThrow(/labels\[1\]: expected an integer class/);
      using z1 = tensor([1, 2, 3]);
      expect(() => lossFn.forward(z1, [0])).toThrow(/^CrossEntropyLoss\.forward: logits: expected rank 2 \[N, C\], got \[3\]$/);
      expect(() => new CrossEntropyLoss({ labelSmoothing: 2 })).toThrow(/labelSmoothing: expected a number in \[0, 1\], got number 2/);
    });

    it('MSELoss', async () => {
      await init({ backend: b });
      const p = randn(9, 1),
        t = randn(9, 2);
      using pt = tensor(p, [3, 3]);
      using tt = tensor(t, [3, 3]);
      const lossFn = new MSELoss();
      const loss = lossFn.forward(pt, tt);
      const ref = p.reduce((a, v, i) => a + (v - t[i]) ** 2, 0) / 9;
      expect(Math.abs(loss - ref)).toBeLessThanOrEqual(TOL_LOSS);
      using g = lossFn.backward();
      expect(
        maxAbsDiff(
          g.toArray(),
          Array.from(p, (v, i) => (2 * (v - t[i])) / 9),
        ),
      ).toBeLessThanOrEqual(TOL_LOSS);
    });

    it('CrossEntropyLoss with label smoothing and MSELoss match PyTorch', async () => {
      await init({ backend: b });
      const ce = new CrossEntropyLoss({ labelSmoothing: fx.ce.smoothing });
      using z = tensor(fx.ce.z, [9, 6]);
      expect(Math.abs(ce.forward(z, fx.ce.y) - fx.ce.loss)).toBeLessThanOrEqual(TOL_LOSS * Math.max(1, fx.ce.loss));
      using gz = ce.backward();
      expect(maxAbsDiff(gz.toArray(), fx.ce.grad)).toBeLessThanOrEqual(TOL_LOSS);
      const mse = new MSELoss();
      using p = tensor(fx.mse.p, [4, 5]);
      using t = tensor(fx.mse.t, [4, 5]);
      expect(Math.abs(mse.forward(p, t) - fx.mse.loss)).toBeLessThanOrEqual(TOL_LOSS * Math.max(1, fx.mse.loss));
      using gp = mse.backward();
      expect(maxAbsDiff(gp.toArray(), fx.mse.grad)).toBeLessThanOrEqual(TOL_LOSS);
    });
  });
}
