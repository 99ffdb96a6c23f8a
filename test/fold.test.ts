// foldBatchNorm: the folded inference model computes what the original computes in eval mode.
import { describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  SGD,
  CrossEntropyLoss,
  foldBatchNorm,
  Generator,
} from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbs, maxAbsDiff, randn } from './reference';

// Folding changes the rounding: (x·W)·a vs x·(W·a), f32 over k = 30 terms: 1e-5 of the output scale.
const TOL_FOLD = 1e-5;

for (const b of BACKENDS) {
  describe(`${b}: foldBatchNorm`, () => {
    it('Linear-BN-ReLU-Linear-BN folds to Linear-ReLU-Linear with equal outputs', async () => {
      await init({ backend: b });
      const gen = new Generator(3);
      const model = new Sequential(
        new Linear(30, 20, { generator: gen }),
        new BatchNorm1d(20),
        new ReLU(),
        new Linear(20, 7, { generator: gen }),
        new BatchNorm1d(7, { affine: false }),
      );
      // a few training steps so running statistics and γ, β are not trivial
      const opt = new SGD(model.parameters(), { lr: 0.1 });
      const lossFn = new CrossEntropyLoss();
      for (let s = 0; s < 5; s++) {
        opt.zeroGrad();
        using x = tensor(randn(16 * 30, s, 1, 2), [16, 30]);
        using y = model.forward(x);
        lossFn.forward(
          y,
          Array.from({ length: 16 }, (_, i) => (i * 3 + s) % 7),
        );
        using g = lossFn.backward();
        model.backward(g).dispose();
        opt.step();
      }
      model.eval();
      const folded = foldBatchNorm(model);
      expect(folded.layers.map((l) => l.constructor.name)).toEqual(['Linear', 'ReLU', 'Linear']);
      using x = tensor(randn(9 * 30, 99, 0.5, 2), [9, 30]);
      const want = model.forward(x).toArray();
      const got = folded.forward(x).toArray();
      expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(TOL_FOLD * Math.max(1, maxAbs(want)));
    });

    for (const layout of ['NCHW', 'NHWC'] as const) {
      it(`${layout}: Conv-BN+ReLU (fused) ×2 folds to Conv-ReLU ×2 with equal outputs`, async () => {
        await init({ backend: b });
        const gen = new Generator(4);
        const model = new Sequential(
          new Conv2d(2, 5, 3, { padding: 1, layout, generator: gen }),
          new BatchNorm2d(5, { activation: 'relu', layout }),
          new MaxPool2d(2, { layout }),
          new Conv2d(5, 6, 3, { stride: 2, layout, generator: gen }),
          new BatchNorm2d(6, { activation: 'relu', layout }),
          new Flatten(),
          new Linear(6, 3, { generator: gen }),
        );
        const shape = layout === 'NCHW' ? [4, 2, 6, 6] : [4, 6, 6, 2];
        const opt = new SGD(model.parameters(), { lr: 0.05 });
        const lossFn = new CrossEntropyLoss();
        for (let s = 0; s < 4; s++) {
          opt.zeroGrad();
          using x = tensor(randn(4 * 72, 10 + s, 0.5, 1), shape);
          using y = model.forward(x);
          lossFn.forward(y, [0, 1, 2, s % 3]);
          using g = lossFn.backward();
          model.backward(g).dispose();
          opt.step();
        }
        model.eval();
        const folded = foldBatchNorm(model);
        expect(folded.layers.map((l) => l.constructor.name)).toEqual([
          'Conv2d',
          'ReLU',
          'MaxPool2d',
          'Conv2d',
          'ReLU',
          'Flatten',
          'Linear',
        ]);
        using x = tensor(randn(4 * 72, 77, 0.5, 1), shape);
        const want = model.forward(x).toArray();
        const got = folded.forward(x).toArray();
        expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(TOL_FOLD * Math.max(1, maxAbs(want)));
      });
    }

    it('refuses a BatchNorm without running statistics and a channel mismatch', async () => {
      await init({ backend: b });
      expect(() => foldBatchNorm(new Sequential(new Linear(3, 4), new BatchNorm1d(4, { trackRunningStats: false })))).toThrow(
        /^foldBatchNorm: layer 1: a BatchNorm without running statistics cannot be folded$/,
      );
      expect(() => foldBatchNorm(new Sequential(new Linear(3, 4), new BatchNorm1d(5)))).toThrow(
        /^foldBatchNorm: layer 1: BatchNorm has 5 features, layer 0 has 4 outputs$/,
      );
      expect(() => foldBatchNorm({} as never)).toThrow(/^foldBatchNorm: model: expected a Sequential or a Graph, got Object$/);
    });
  });
}
