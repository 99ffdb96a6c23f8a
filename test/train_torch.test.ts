// A short training run replayed against PyTorch (test/fixtures/gen_torch_train.py): the same initial
// weights and batches, every step's loss and the final weights and eval outputs must match.
import torchTrainMlp from './fixtures/torch_train_mlp.json';
import { describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  CrossEntropyLoss,
  Flatten,
  Linear,
  MaxPool2d,
  ReLU,
  SGD,
  Sequential,
  Sigmoid,
  type Module,
} from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbs, maxAbsDiff } from './reference';

interface Case {
  init: Record<string, number[]>;
  labelSmoothing: number;
  steps: { x: number[]; y: number[]; loss: number }[];
  final: Record<string, number[] | number>;
  eval: { x: number[]; y: number[] };
}
const fixture = torchTrainMlp as unknown as { cases: Case[] };

// f32 on both sides with different summation orders; 12 SGD steps with momentum carry the
// differences forward (×~10): 2e-5 relative on losses, 1e-4 of the largest value on weights.
const TOL_LOSS = 2e-5;
const TOL_WEIGHTS = 1e-4;

for (const b of BACKENDS) {
  describe(`${b}: training matches PyTorch step by step`, () => {
    const replay = (fx: Case, model: Module, opt: SGD, xShape: number[], evalShape: number[]) => {
      model.loadStateDict({ ...model.stateDict(), ...fx.init });
      const lossFn = new CrossEntropyLoss({ labelSmoothing: fx.labelSmoothing });
      for (const [i, s] of fx.steps.entries()) {
        opt.zeroGrad();
        using x = tensor(s.x, xShape);
        using logits = model.forward(x);
        const loss = lossFn.forward(logits, s.y);
        expect(Math.abs(loss - s.loss), `step ${i} loss`).toBeLessThanOrEqual(TOL_LOSS * Math.max(1, s.loss));
        using g = lossFn.backward();
        model.backward(g).dispose();
        opt.step();
      }
      const sd = model.stateDict();
      for (const [k, v] of Object.entries(fx.final)) {
        if (typeof v === 'number') expect(sd[k], k).toBe(v);
        else expect(maxAbsDiff(sd[k] as Float32Array, v), k).toBeLessThanOrEqual(TOL_WEIGHTS * Math.max(1, maxAbs(v)));
      }
      model.eval();
      using xe = tensor(fx.eval.x, evalShape);
      using ye = model.forward(xe);
      expect(maxAbsDiff(ye.toArray(), fx.eval.y)).toBeLessThanOrEqual(TOL_WEIGHTS * Math.max(1, maxAbs(fx.eval.y)));
      model.dispose();
      opt.dispose();
    };

    it('MLP Linear-BN-Sigmoid-Linear-BN-ReLU-Linear, SGD momentum + weight decay, label smoothing', async () => {
      await init({ backend: b });
      const model = new Sequential(
        new Linear(20, 16),
        new BatchNorm1d(16),
        new Sigmoid(),
        new Linear(16, 12),
        new BatchNorm1d(12),
        new ReLU(),
        new Linear(12, 5),
      );
      replay(fixture.cases[0], model, new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 }), [8, 20], [6, 20]);
    });

    it('CNN Conv-BN+ReLU (fused)-MaxPool ×2, Linear, SGD momentum', async () => {
      await init({ backend: b });
      const model = new Sequential(
        new Conv2d(1, 4, 3, { padding: 1 }),
        new BatchNorm2d(4, { activation: 'relu' }),
        new MaxPool2d(2),
        new Conv2d(4, 6, 3, { padding: 1 }),
        new BatchNorm2d(6, { activation: 'relu' }),
        new MaxPool2d(2),
        new Flatten(),
        new Linear(54, 5),
      );
      replay(fixture.cases[1], model, new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }), [6, 1, 12, 12], [3, 1, 12, 12]);
    });
  });
}
