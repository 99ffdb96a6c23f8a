// Optimizers and losses against PyTorch (test/fixtures/gen_torch_train.py → torch_optim.json), and
// Linear's backward against finite differences of a float64 reference.
import torchOptim from './fixtures/torch_optim.json';
import { describe, expect, it } from 'vitest';
import { init, tensor, Adam, AdamW, CrossEntropyLoss, Linear, MSELoss, Parameter, SGD, type Optimizer } from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbs, maxAbsDiff, randn } from './reference';

const fx = (torchOptim as unknown) as {
  w0: number[]; grads: number[][]; runs: Record<string, number[]>;
  ce: { z: number[]; y: number[]; smoothing: number; loss: number; grad: number[] };
  mse: { p: number[]; t: number[]; loss: number; grad: number[] };
};

// f32 updates on both sides, 6 steps: 1e-5 of the largest weight. Losses: f64 inside ours, f32 in
// torch: 1e-6 relative; gradients one f32 rounding: 1e-6 absolute (they are ≤ 1/N).
const TOL_W = 1e-5, TOL_LOSS = 1e-6;
// central differences of the f64 reference, h = 1e-6
const TOL_FD = 1e-7;

const OPTS: [string, (p: Parameter[]) => Optimizer][] = [
  ['Adam', (p) => new Adam(p, { lr: 1e-2 })],
  ['Adam_wd', (p) => new Adam(p, { lr: 1e-2, weightDecay: 0.1, betas: [0.8, 0.99], eps: 1e-6 })],
  ['AdamW', (p) => new AdamW(p, { lr: 1e-2 })],
  ['SGD_nesterov', (p) => new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-3 })],
];

for (const b of BACKENDS) {
  describe(`${b}: optimizers and losses match PyTorch`, () => {
    for (const [name, make] of OPTS) {
      it(name, async () => {
        await init({ backend: b });
        const p = new Parameter([7, 5], 0);
        p.view().set(fx.w0);
        const opt = make([p]);
        for (const g of fx.grads) {
          opt.zeroGrad();
          p.grad.view().set(g);
          opt.step();
        }
        expect(maxAbsDiff(p.toArray(), fx.runs[name])).toBeLessThanOrEqual(TOL_W * Math.max(1, maxAbs(fx.runs[name])));
        p.dispose(); opt.dispose();
      });
    }

    it('CrossEntropyLoss with label smoothing and MSELoss', async () => {
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

    it('Linear backward against finite differences of a float64 reference', async () => {
      await init({ backend: b });
      const [n, i, o] = [5, 7, 4];
      const lin = new Linear(i, o);
      const W = Array.from(lin.weight.toArray()), B = Array.from(lin.bias!.toArray());
      const x = Array.from(randn(n * i, 3)), dy = Array.from(randn(n * o, 4));
      // L = Σ dy ⊙ (x·Wᵀ + b) in f64
      const loss = (xx: number[], ww: number[], bb: number[]) => {
        let s = 0;
        for (let r = 0; r < n; r++) for (let c = 0; c < o; c++) {
          let v = bb[c];
          for (let k = 0; k < i; k++) v += xx[r * i + k] * ww[c * i + k];
          s += dy[r * o + c] * v;
        }
        return s;
      };
      const fd = (vec: number[], j: number) => {
        const h = 1e-6, keep = vec[j];
        vec[j] = keep + h; const up = loss(x, W, B);
        vec[j] = keep - h; const down = loss(x, W, B);
        vec[j] = keep;
        return (up - down) / (2 * h);
      };
      using xt = tensor(x, [n, i]);
      lin.forward(xt).dispose();
      using dyt = tensor(dy, [n, o]);
      using dx = lin.backward(dyt);
      // the analytic gradients are f32 sums of ≤ 7 products: 1e-5 of their scale; FD error ≤ TOL_FD
      const tol = 1e-5 * Math.max(1, maxAbs(dy) * maxAbs(x)) + TOL_FD;
      dx.toArray().forEach((v, j) => expect(Math.abs(v - fd(x, j))).toBeLessThanOrEqual(tol));
      lin.weight.grad.toArray().forEach((v, j) => expect(Math.abs(v - fd(W, j))).toBeLessThanOrEqual(tol));
      lin.bias!.grad.toArray().forEach((v, j) => expect(Math.abs(v - fd(B, j))).toBeLessThanOrEqual(tol));
      lin.dispose();
    });
  });
}
