// Optimizers against PyTorch (test/fixtures/gen_torch_train.py → torch_optim.json).
import torchOptim from './fixtures/torch_optim.json';
import { describe, expect, it } from 'vitest';
import { init, Adam, AdamW, Parameter, SGD, type Optimizer } from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbs, maxAbsDiff } from './reference';

const fx = torchOptim as unknown as {
  w0: number[];
  grads: number[][];
  runs: Record<string, number[]>;
};

// f32 updates on both sides, 6 steps: 1e-5 of the largest weight.
const TOL_W = 1e-5;

const OPTS: [string, (p: Parameter[]) => Optimizer][] = [
  ['Adam', (p) => new Adam(p, { lr: 1e-2 })],
  ['Adam_wd', (p) => new Adam(p, { lr: 1e-2, weightDecay: 0.1, betas: [0.8, 0.99], eps: 1e-6 })],
  ['AdamW', (p) => new AdamW(p, { lr: 1e-2 })],
  ['SGD_nesterov', (p) => new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-3 })],
];

for (const b of BACKENDS) {
  describe(`${b}: optimizers match PyTorch`, () => {
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
        p.dispose();
        opt.dispose();
      });
    }
  });
}
