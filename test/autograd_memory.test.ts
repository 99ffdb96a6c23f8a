// Memory that takes care of itself: a training loop written the PyTorch way (a new input tensor per
// step, no dispose anywhere) and an inference loop under noGrad keep memoryBytes() flat.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, memoryBytes, tensor, F, Generator, Linear, noGrad, SGD } from '../src/index';
import { BACKENDS } from './helpers';

const STEPS = 2000;

for (const backend of BACKENDS) {
  describe(`autograd memory (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it(`a loop that disposes nothing stays flat over ${STEPS} steps`, () => {
      const gen = new Generator(3);
      const l1 = new Linear(20, 16, { generator: gen }),
        l2 = new Linear(16, 4, { generator: gen });
      const params = [...l1.parameters(), ...l2.parameters()];
      const opt = new SGD(params, { lr: 0.1 });
      const data = Float32Array.from({ length: 8 * 20 }, (_, i) => Math.sin(i));
      const labels = Int32Array.from({ length: 8 }, (_, i) => i % 4);
      let after100 = 0,
        first = NaN,
        last = NaN;
      for (let step = 0; step < STEPS; step++) {
        opt.zeroGrad();
        const x = tensor(data, [8, 20]);
        const h = F.relu(F.linear(x, l1.weight, l1.bias));
        const loss = F.crossEntropy(F.linear(h, l2.weight, l2.bias), labels);
        loss.backward();
        opt.step();
        if (step === 0) first = loss.item();
        last = loss.item();
        if (step % 100 === 0) {
          // an evaluation in the middle of training: everything it makes but its result is freed
          const acc = noGrad(() => F.mean(F.relu(F.linear(tensor(data, [8, 20]), l1.weight, l1.bias))).item());
          expect(Number.isFinite(acc)).toBe(true);
        }
        if (step === 100) after100 = memoryBytes();
      }
      expect(memoryBytes()).toBe(after100);
      expect(last).toBeLessThan(first * 0.5); // it learned: the loss of a separable toy set fell
    });

    it('frees the graph at backward(): an interior tensor is gone unless kept, the loss lives on', () => {
      const w = tensor([1, 2, 3], [3], { requiresGrad: true });
      const h = F.mul(w, 2);
      const kept = F.mul(w, 3).keep();
      const loss = F.sum(F.add(h, kept));
      loss.backward();
      expect(h.disposed).toBe(true);
      expect(kept.disposed).toBe(false);
      expect(loss.item()).toBe(30);
      kept.dispose();
    });

    it('noGrad frees what it made but what it returns (a tensor, an array, an object)', () => {
      const x = tensor([1, -2, 3], [3]);
      let inner: ReturnType<typeof F.relu> | null = null;
      const r = noGrad(() => {
        inner = F.relu(x);
        return { y: F.mul(inner, 2), list: [F.add(inner, 1)] };
      });
      expect(inner!.disposed).toBe(true);
      expect(Array.from(r.y.toArray())).toEqual([2, 0, 6]);
      expect(Array.from(r.list[0].toArray())).toEqual([2, 1, 4]);
      expect(x.disposed).toBe(false);
      expect(() => noGrad(5 as never)).toThrow(/^noGrad: fn: expected a function, got number$/);
    });
  });
}
