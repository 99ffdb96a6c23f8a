// Sequential: equal to its layers applied by hand (float64 references), PyTorch's state names,
// backwardParams against backward, and memory over many steps.
import { describe, expect, it } from 'vitest';
import {
  init,
  memoryBytes,
  tensor,
  BatchNorm1d,
  BatchNorm2d,
  Conv2d,
  Flatten,
  Generator,
  Linear,
  ReLU,
  Sequential,
  type Module,
} from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbsDiff, randn, refBackward, refForwardTrain } from './reference';

for (const b of BACKENDS) {
  describe(`${b}: Sequential`, () => {
    it('Sequential(BatchNorm1d, ReLU) equals the layers applied by hand, names state like PyTorch, and keeps memory flat', async () => {
      await init({ backend: b });
      const x = randn(8 * 5, 1, 1, 2),
        dy = randn(8 * 5, 2);
      const model = new Sequential(new BatchNorm1d(5), new ReLU(), new Flatten());
      using xt = tensor(x, [8, 5]);
      using dyt = tensor(dy, [8, 5]);
      const y = model.forward(xt).toArray();
      const ref = refForwardTrain(x, 'NC', [8, 5], 1e-5);
      const relu = Float64Array.from(ref.y, (v) => Math.max(v, 0));
      expect(maxAbsDiff(y, relu)).toBeLessThan(2e-5);
      const dx = model.backward(dyt).toArray();
      const dRelu = Float64Array.from(dy, (g, i) => (ref.y[i] > 0 ? g : 0));
      const rb = refBackward(x, dRelu, 'NC', [8, 5], 1e-5, null, true);
      expect(maxAbsDiff(dx, rb.dx)).toBeLessThan(1e-4);
      expect(Object.keys(model.stateDict())).toEqual(['0.weight', '0.bias', '0.running_mean', '0.running_var', '0.num_batches_tracked']);
      expect(model.parameters().length).toBe(2);
      // a state dict moves between models; a wrong one changes nothing
      const other = new Sequential(new BatchNorm1d(5), new ReLU(), new Flatten());
      expect(() => other.loadStateDict({ ...model.stateDict(), '0.running_var': [1, 2] })).toThrow(
        /^Sequential\.loadStateDict: 0\.running_var: expected length 5, got 2$/,
      );
      expect(other.stateDict()['0.num_batches_tracked']).toBe(0);
      other.loadStateDict(model.stateDict());
      expect(other.stateDict()).toEqual(model.stateDict());
      // memory: many steps, outputs disposed by the caller, intermediates by the model
      let after = 0;
      for (let s = 0; s < 2000; s++) {
        model.zeroGrad();
        const out = model.forward(xt);
        const g = model.backward(dyt);
        out.dispose();
        g.dispose();
        // the first step recorded on the tape; from the first backward(dy) on, the layers run their own path
        if (s === 1) after = memoryBytes();
      }
      expect(memoryBytes()).toBe(after);
      model.dispose();
      other.dispose();
    });

    // models whose first layer skips dx (Linear, Conv2d in both layouts, pointwise or not) or
    // computes and frees it (BatchNorm)
    const MODELS: [string, number[], () => Module][] = [
      [
        'Linear first',
        [4, 6],
        () =>
          new Sequential(
            new Linear(6, 5, { generator: new Generator(1) }),
            new BatchNorm1d(5, { activation: 'relu' }),
            new Linear(5, 3, { generator: new Generator(2) }),
          ),
      ],
      [
        'Conv2d NCHW first',
        [2, 2, 4, 4],
        () =>
          new Sequential(
            new Conv2d(2, 3, 3, { padding: 1, generator: new Generator(3) }),
            new BatchNorm2d(3),
            new ReLU(),
            new Flatten(),
            new Linear(48, 2, { generator: new Generator(4) }),
          ),
      ],
      [
        'Conv2d NHWC first',
        [2, 4, 4, 2],
        () =>
          new Sequential(
            new Conv2d(2, 3, 3, { padding: 1, layout: 'NHWC', generator: new Generator(5) }),
            new Flatten(),
            new Linear(48, 2, { generator: new Generator(6) }),
          ),
      ],
      [
        'pointwise Conv2d NHWC first',
        [2, 4, 4, 2],
        () =>
          new Sequential(
            new Conv2d(2, 3, 1, { layout: 'NHWC', generator: new Generator(7) }),
            new Flatten(),
            new Linear(48, 2, { generator: new Generator(8) }),
          ),
      ],
      ['BatchNorm first', [4, 6], () => new Sequential(new BatchNorm1d(6), new Linear(6, 2, { generator: new Generator(9) }))],
    ];
    for (const [what, shape, make] of MODELS) {
      it(`backwardParams (${what}) adds the gradients backward adds, bit for bit, and frees what it allocates`, async () => {
        await init({ backend: b });
        const model = make();
        const size = shape.reduce((a, v) => a * v, 1);
        using xt = tensor(randn(size, 3, 0.5, 1), shape);
        const grads = () => model.parameters().map((p) => p.grad.toArray());
        const step = (params: boolean) => {
          model.zeroGrad();
          using y = model.forward(xt);
          using dy = tensor(randn(y.size, 4), y.shape);
          if (params) model.backwardParams(dy);
          else model.backward(dy).dispose();
        };
        step(false);
        const full = grads();
        step(true);
        const only = grads();
        expect(only.length).toBe(full.length);
        only.forEach((g, i) => expect(g).toEqual(full[i]));
        // the JS backend counts the bytes it holds: equal after many steps means nothing leaked
        const held = memoryBytes();
        for (let s = 0; s < 50; s++) step(true);
        expect(memoryBytes()).toBe(held);
        const fresh = make();
        expect(() => fresh.backwardParams(xt)).toThrow(/: call forward\(\) first$/);
        fresh.dispose();
        model.dispose();
      });
    }
  });
}
