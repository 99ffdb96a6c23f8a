// A Parameter's gradient is allocated at its first need (a backward, an optimizer step, a read):
// a model that only infers holds its weights once. Checked against live bytes on the js backend (a
// bound on WASM), against central differences and against the same training with every gradient
// allocated up front (the eager path: bit for bit), for frozen parameters and for dispose.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  memoryBytes,
  noGrad,
  tensor,
  F,
  Module,
  Sequential,
  Conv2d,
  BatchNorm2d,
  ReLU,
  Flatten,
  Linear,
  Parameter,
  SGD,
  Adam,
  Generator,
  fit,
  clipGradNorm,
  type Tensor,
} from '../src/index';
import { runtime } from '../src/runtime/index';
import { BACKENDS, bits, caught, values } from './helpers';

const SHAPE = [4, 1, 4, 4];
const LABELS = [0, 3, 1, 2];
// Central differences of the f32 loss (~1.4) at H = 3e-3: its rounding, ~1e-7 / 6e-3, is under 3e-5
// and the curvature term H²·L'''/6 smaller; 1e-2 steps one ReLU across its kink in this model
const H = 3e-3;
const FD_TOL = 1e-4;

/** Conv → BN → ReLU → Flatten → Linear, seeded: every kind of layer backward that adds to a .grad. */
function cnn(seed = 4): Sequential {
  const gen = new Generator(seed);
  return new Sequential(
    new Conv2d(1, 3, 3, { padding: 1, generator: gen }),
    new BatchNorm2d(3),
    new ReLU(),
    new Flatten(),
    new Linear(3 * 16, 4, { generator: gen }),
  );
}

/** The same layers on the tape (a Module subclass that writes only forward). */
class Net extends Module {
  body = cnn();
  forward(x: Tensor): Tensor {
    return this.body.forward(x);
  }
}

/**
 * Bytes an inference model holds: its state tensors (parameters' values and buffers) and each
 * BatchNorm's saved statistics, six floats per channel (src/nn/batchnorm.ts); no gradient.
 */
function inferenceBytes(m: Module): number {
  const state = m.stateEntries().reduce((s, e) => s + ('tensor' in e ? e.tensor.size * 4 : 0), 0);
  const saved = m.children().reduce((s, [, c]) => s + (c instanceof BatchNorm2d ? 6 * 4 * c.numFeatures : 0), 0);
  return state + saved;
}

const noGradients = (m: Module) => m.parameters().every((p) => p._grad === null);

/** Every state tensor's bits and every gradient's (null where none was allocated). */
function snapshot(m: Module): unknown {
  return {
    state: Object.entries(m.stateDict()).map(([k, v]) => [k, typeof v === 'number' ? v : bits(v)]),
    grads: m.parameters().map((p) => (p._grad === null ? null : bits(p._grad.toArray()))),
  };
}

for (const backend of BACKENDS) {
  describe(`Parameter gradients on first need (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('a model built, loaded and run in eval under noGrad allocates no gradient', () => {
      const base = memoryBytes();
      const src = cnn(9);
      const sd = src.stateDict();
      src.dispose();
      const m = cnn();
      m.loadStateDict(sd);
      m.eval();
      const x = tensor(values(16 * 4, 1), SHAPE);
      noGrad(() => m.forward(x)).dispose();
      m.forward(x).dispose(); // eval, an input without a gradient: inference outside noGrad too
      void m.summary(SHAPE);
      expect(noGradients(m)).toBe(true);
      const held = memoryBytes() - base - x.size * 4;
      // the js backend counts live bytes: exactly the weights and buffers (WASM's linear memory only
      // grows: its bound is checked on resnet18 in test/onnx_memory.test.ts)
      if (backend === 'js') expect(held).toBe(inferenceBytes(m));
      x.dispose();
      m.dispose();
      if (backend === 'js') expect(memoryBytes()).toBe(base);
    });

    it('zeroGrad, clipGradNorm and an optimizer built over an inference model allocate no gradient', () => {
      const m = cnn();
      const before = memoryBytes();
      m.zeroGrad();
      expect(clipGradNorm(m.parameters(), 1)).toBe(0);
      const opt = new SGD(m.parameters(), { lr: 0.1 });
      opt.zeroGrad();
      expect(noGradients(m)).toBe(true);
      if (backend === 'js') expect(memoryBytes()).toBe(before);
      opt.dispose();
      m.dispose();
    });

    it('after one backward each gradient equals central differences of the loss', () => {
      const m = cnn();
      const x = tensor(values(16 * 4, 2), SHAPE);
      expect(noGradients(m)).toBe(true);
      F.crossEntropy(m.forward(x), LABELS).backward();
      expect(m.parameters().every((p) => p._grad !== null)).toBe(true);
      // the loss with the batch statistics (training mode), as the backward differentiated it
      const lossAt = () => noGrad(() => F.crossEntropy(m.forward(x), LABELS).item());
      for (const p of m.parameters()) {
        const g = p.grad.toArray();
        for (const i of [0, p.size - 1]) {
          const v = p.view()[i];
          p.view()[i] = v + H;
          const up = lossAt();
          p.view()[i] = v - H;
          const down = lossAt();
          p.view()[i] = v;
          expect(Math.abs((up - down) / (2 * H) - g[i]), `${i} of ${p.size}`).toBeLessThanOrEqual(FD_TOL);
        }
      }
      x.dispose();
      m.dispose();
    });

    it('training with gradients allocated lazily ends bit for bit where the eager path does (fit, the tape, Adam)', async () => {
      const data = { x: values(16 * 12, 3), y: Int32Array.from({ length: 12 }, (_, i) => i % 4), shape: SHAPE.slice(1) };
      const run = async (eager: boolean, taped: boolean) => {
        const m = taped ? new Net() : cnn();
        if (eager) for (const p of m.parameters()) void p.grad; // what every Parameter held from its construction
        const opt = new Adam(m.parameters(), { lr: 0.01, weightDecay: 0.1 });
        await fit(m, data, { epochs: 2, batchSize: 4, optimizer: opt, loss: 'crossEntropy', verbose: 0, shuffle: false });
        const s = snapshot(m);
        opt.dispose();
        m.dispose();
        return s;
      };
      for (const taped of [false, true]) expect(await run(false, taped)).toEqual(await run(true, taped));
    });

    it('a parameter no backward reached is stepped with a zero gradient, as when it had one from the start', () => {
      const w0 = values(5, 4);
      for (const frozen of [false, true]) {
        const [lazy, eager] = [new Parameter([5], 0, 'Test: lazy'), new Parameter([5], 0, 'Test: eager')];
        void eager.grad;
        const before = memoryBytes();
        const steps = [lazy, eager].map((p) => {
          p.set(w0);
          p.requiresGrad = !frozen;
          const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.2 });
          opt.step();
          opt.step();
          return opt;
        });
        expect(bits(lazy.toArray())).toEqual(bits(eager.toArray()));
        // SGD on a zero gradient: b = wd·w at the first step, b = μb + wd·w after; w −= lr·b (float64 here)
        const want = Array.from(w0, (w) => {
          let b = 0.2 * w;
          w -= 0.1 * b;
          b = 0.9 * b + 0.2 * w;
          return w - 0.1 * b;
        });
        lazy.toArray().forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1e-6));
        // a trainable one has its zero gradient now; a frozen one never gets one (a shared zero block, freed)
        if (frozen) expect(lazy._grad).toBeNull();
        else expect([...lazy._grad!.toArray()]).toEqual([0, 0, 0, 0, 0]);
        // the two momentum buffers (20 bytes each), and the lazy trainable parameter's gradient
        if (backend === 'js') expect(memoryBytes() - before).toBe(40 + (frozen ? 0 : 20));
        for (const o of steps) o.dispose();
        lazy.dispose();
        eager.dispose();
      }
    });

    it("frozen parameters never get a gradient: on the tape, in the layers' own backward, in fit", async () => {
      const data = { x: values(16 * 8, 5), y: Int32Array.from({ length: 8 }, (_, i) => i % 4), shape: SHAPE.slice(1) };
      for (const taped of [false, true]) {
        const m = taped ? new Net() : cnn();
        const ps = m.parameters();
        const frozen = ps.filter((_, i) => i % 2 === 0); // conv weight, bn weight, linear weight
        for (const p of frozen) p.requiresGrad = false;
        const w0 = frozen.map((p) => bits(p.toArray()));
        const opt = new SGD(ps, { lr: 0.1 });
        await fit(m, data, { epochs: 1, batchSize: 4, optimizer: opt, loss: 'crossEntropy', verbose: 0 });
        expect(frozen.map((p) => p._grad)).toEqual(frozen.map(() => null));
        expect(frozen.map((p) => bits(p.toArray()))).toEqual(w0); // stepped with zero gradients: unmoved
        for (const p of ps) if (p.requiresGrad) expect(p._grad!.toArray().some((v) => v !== 0)).toBe(true);
        opt.dispose();
        m.dispose();
      }
    });

    it('dispose frees the gradients that were allocated and the values', () => {
      const base = memoryBytes();
      const m = cnn();
      const x = tensor(values(16 * 4, 6), SHAPE);
      const loss = F.crossEntropy(m.forward(x), LABELS);
      loss.backward();
      expect(m.parameters().every((p) => p._grad !== null)).toBe(true);
      loss.dispose();
      x.dispose();
      m.dispose();
      if (backend === 'js') expect(memoryBytes()).toBe(base);
    });

    it('a gradient that cannot be allocated in a backward names its parameter, and no gradient has been added to', () => {
      const m = cnn();
      const x = tensor(values(16 * 4, 7), SHAPE);
      const loss = F.crossEntropy(m.forward(x), LABELS);
      const k = runtime().k,
        alloc = k.alloc;
      // the Linear's bias (4 floats, the only parameter of 16 bytes): its gradient's allocation fails
      const bias = m.parameters().at(-1)!;
      k.alloc = (bytes) => {
        if (bytes === 16 && bias._grad === null) throw new RangeError('no memory left (simulated)');
        return alloc(bytes);
      };
      let e: Error;
      try {
        e = caught(() => loss.backward());
      } finally {
        k.alloc = alloc;
      }
      expect(e.message).toBe('Linear: bias (gradient): could not allocate 16 bytes for shape [4]: no memory left (simulated)');
      expect(bias._grad).toBeNull();
      // the gradients are all had before any is added to: those made before the failure hold zeros
      for (const p of m.parameters()) if (p._grad !== null) expect(p._grad.toArray().every((v) => v === 0)).toBe(true);
      x.dispose();
      m.dispose();
    });
  });
}
