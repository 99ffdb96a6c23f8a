// Whole training runs: determinism (same seed ⇒ bit-identical weights), memory that stays flat
// over 10 000 steps, and fit()/evaluate()/predict() on a learnable problem.
import { describe, expect, it } from 'vitest';
import {
  init,
  memoryBytes,
  tensor,
  BatchNorm1d,
  CrossEntropyLoss,
  Generator,
  Linear,
  ReLU,
  SGD,
  Adam,
  Sequential,
  Dropout,
  fit,
  evaluate,
  predict,
} from '../src/index';
import { BACKENDS } from './helpers';
import { randn } from './reference';

function model(seed: number): Sequential {
  const gen = new Generator(seed);
  return new Sequential(
    new Linear(12, 16, { generator: gen }),
    new BatchNorm1d(16),
    new ReLU(),
    new Dropout(0.1, { generator: gen }),
    new Linear(16, 4, { generator: gen }),
  );
}

/** Four Gaussian blobs in 12 dimensions: a problem a small network must solve. */
function blobs(n: number, seed: number): { x: Float32Array; y: Int32Array; shape: number[] } {
  const noise = randn(n * 12, seed, 0, 0.7);
  const y = Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % 4);
  const x = Float32Array.from(noise, (v, j) => v + ((j % 12) % 4 === y[Math.floor(j / 12)] ? 2 : 0));
  return { x, y, shape: [12] };
}

function train(steps: number, seed: number): Float32Array[] {
  const m = model(seed);
  const opt = new Adam(m.parameters(), { lr: 1e-2 });
  const lossFn = new CrossEntropyLoss();
  const data = blobs(64, seed);
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    using x = tensor(data.x.subarray((s % 4) * 16 * 12, ((s % 4) + 1) * 16 * 12), [16, 12]);
    using logits = m.forward(x);
    lossFn.forward(logits, data.y.subarray((s % 4) * 16, (s % 4) * 16 + 16));
    using g = lossFn.backward();
    m.backward(g).dispose();
    opt.step();
  }
  const out = m.parameters().map((p) => p.toArray());
  m.dispose();
  opt.dispose();
  return out;
}

for (const b of BACKENDS) {
  describe(`${b}: training runs`, () => {
    it('same seed ⇒ bit-identical weights after 100 steps; another seed differs', async () => {
      await init({ backend: b });
      const a = train(100, 5),
        c = train(100, 5),
        d = train(100, 6);
      a.forEach((w, i) => expect(Buffer.from(c[i].buffer)).toEqual(Buffer.from(w.buffer)));
      expect(Buffer.from(d[0].buffer)).not.toEqual(Buffer.from(a[0].buffer));
    });

    it('memory stays flat over 10 000 training steps', async () => {
      await init({ backend: b });
      const m = model(1);
      const opt = new SGD(m.parameters(), { lr: 0.05, momentum: 0.9 });
      const lossFn = new CrossEntropyLoss();
      const data = blobs(16, 1);
      using x = tensor(data.x, [16, 12]);
      let after = 0;
      for (let s = 0; s < 10_000; s++) {
        opt.zeroGrad();
        const logits = m.forward(x);
        lossFn.forward(logits, data.y);
        const g = lossFn.backward();
        m.backward(g).dispose();
        opt.step();
        logits.dispose();
        g.dispose();
        // the first step recorded on the tape; from the first backward(dy) on, the layers run their own path
        if (s === 1) after = memoryBytes();
      }
      expect(memoryBytes()).toBe(after);
      m.dispose();
      opt.dispose();
    });

    it('fit learns the problem; evaluate and predict agree', async () => {
      await init({ backend: b });
      const m = model(2);
      const opt = new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
      const train = blobs(512, 3),
        test = blobs(256, 4);
      const logs = await fit(m, train, { epochs: 6, batchSize: 32, optimizer: opt, validation: test, seed: 1, progress: false });
      expect(logs).toHaveLength(6);
      expect(logs[5].loss).toBeLessThan(logs[0].loss);
      const ev = evaluate(m, test);
      // four separable blobs: a trained network is far above chance (25 %)
      expect(ev.accuracy).toBeGreaterThan(0.9);
      expect(ev.accuracy).toBe(logs[5].valAccuracy);
      const out = predict(m, test.x, [12]);
      let hits = 0;
      for (let i = 0; i < 256; i++) {
        const row = out.subarray(i * 4, i * 4 + 4);
        if (row.indexOf(Math.max(...row)) === test.y[i]) hits++;
      }
      expect(hits / 256).toBe(ev.accuracy);
      // early stopping through onEpochEnd
      const short = await fit(m, train, {
        epochs: 5,
        batchSize: 32,
        optimizer: opt,
        progress: false,
        callbacks: { onEpochEnd: ({ epoch }) => epoch === 1 },
      });
      expect(short).toHaveLength(2);
      await expect(fit(m, { ...train, y: new Int32Array(3) }, { epochs: 1, batchSize: 8, optimizer: opt })).rejects.toThrow(
        /^fit: data: x has 6144 values, but 3 labels × shape \[12\] need 36$/,
      );
      m.dispose();
      opt.dispose();
    });
  });
}
