// DataLoader, Tensor.set and clipGradNorm: batches against the data they came from, memory reused
// across passes, the clipped gradients against a float64 computation of PyTorch's rule.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, memoryBytes, tensor, clipGradNorm, DataLoader, Generator, Parameter, type Tensor } from '../src/index';
import { BACKENDS } from './helpers';

for (const backend of BACKENDS) {
  describe(`DataLoader (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    const n = 10;
    const x = Float32Array.from({ length: n * 3 }, (_, i) => i);
    const y = Int32Array.from({ length: n }, (_, i) => 100 + i);

    it('batches in order, the last one short unless dropped', () => {
      const loader = new DataLoader({ x, y, shape: [3] }, { batchSize: 4 });
      const got = [...loader].map(([xb, yb]) => [xb.shape, Array.from(xb.toArray()), Array.from(yb as Int32Array)]);
      expect(loader.length).toBe(3);
      expect(got.map((g) => g[0])).toEqual([
        [4, 3],
        [4, 3],
        [2, 3],
      ]);
      expect(got[2][1]).toEqual([24, 25, 26, 27, 28, 29]);
      expect(got[2][2]).toEqual([108, 109]);
      expect([...new DataLoader({ x, y, shape: [3] }, { batchSize: 4, dropLast: true })].length).toBe(2);
    });

    it('shuffles every pass with its generator: each sample once, with its own label, the same order for the same seed', () => {
      const order = (seed: number) => {
        const loader = new DataLoader({ x, y, shape: [3] }, { batchSize: 3, shuffle: true, generator: new Generator(seed) });
        const passes: number[][] = [];
        for (let p = 0; p < 2; p++) {
          const seen: number[] = [];
          for (const [xb, yb] of loader) {
            const v = xb.toArray();
            (yb as Int32Array).forEach((label, i) => {
              expect(v[i * 3]).toBe((label - 100) * 3); // the sample travels with its label
              seen.push(label - 100);
            });
          }
          passes.push(seen);
        }
        return passes;
      };
      const a = order(7);
      expect([...a[0]].sort((p, q) => p - q)).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(a[0]).not.toEqual(a[1]);
      expect(order(7)).toEqual(a);
    });

    it('float targets come as a tensor; the loader reuses its tensors (memory flat over many passes)', () => {
      const t = Float32Array.from({ length: n * 2 }, (_, i) => -i);
      const loader = new DataLoader({ x, y: t, shape: [3], targetShape: [2] }, { batchSize: 5 });
      const [[, yb]] = loader;
      expect((yb as Tensor).shape).toEqual([5, 2]);
      for (const _ of loader) void _;
      const before = memoryBytes();
      for (let p = 0; p < 200; p++) for (const _ of loader) void _;
      expect(memoryBytes()).toBe(before);
      loader.dispose();
    });

    it('rejects bad data and options by name', () => {
      expect(() => new DataLoader({ x, y: y.subarray(1), shape: [3] })).toThrow(
        /^DataLoader: data: x has 30 values \(10 samples of \[3\]\) but y has 9 values$/,
      );
      expect(() => new DataLoader({ x, y, shape: [3] }, { batchSize: 0 })).toThrow(
        /^DataLoader: batchSize: expected a positive integer, got number 0$/,
      );
      expect(() => new DataLoader({ x, y, shape: [3] }, { shuffle: 'yes' as never })).toThrow(
        /^DataLoader: shuffle: expected a boolean, got 'yes'$/,
      );
      expect(() => new DataLoader({ x, y, shape: [3] }, { batch: 2 } as never)).toThrow(/^DataLoader: unknown option 'batch'/);
    });
  });

  describe(`Tensor.set and clipGradNorm (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('set refills a tensor in place', () => {
      const t = tensor([1, 2, 3]);
      expect(Array.from(t.set([4, 5, 6]).toArray())).toEqual([4, 5, 6]);
      expect(() => t.set([1])).toThrow(/^Tensor\.set: data has 1 values but the tensor \[3\] has 3$/);
    });

    it('clipGradNorm scales by maxNorm / (norm + 1e-6) above maxNorm, for norms 2, 1 and ∞', () => {
      const g1 = [3, -4],
        g2 = [12];
      for (const [normType, norm] of [
        [2, 13],
        [1, 19],
        [Infinity, 12],
      ] as const) {
        const a = new Parameter([2], 0),
          b = new Parameter([1], 0);
        a.grad.view().set(g1);
        b.grad.view().set(g2);
        expect(clipGradNorm([a, b], 5, normType)).toBe(norm);
        const coef = 5 / (norm + 1e-6);
        expect(Array.from(a.grad.toArray())).toEqual(g1.map((v) => Math.fround(Math.fround(v) * Math.fround(coef))));
        expect(Array.from(b.grad.toArray())).toEqual(g2.map((v) => Math.fround(v * Math.fround(coef))));
        // below the limit nothing changes
        expect(clipGradNorm([a, b], 1e9, normType)).toBeLessThan(norm);
        expect(a.grad.toArray()[0]).toBe(Math.fround(3 * Math.fround(coef)));
      }
      expect(() => clipGradNorm([], -1)).toThrow(/^clipGradNorm: maxNorm: expected a number ≥ 0, got number -1$/);
    });
  });
}
