// fit(), evaluate() and predict() on bad input: every option checked (no hang, no wrong loss), every
// label checked before a training step moves state, and nothing allocated left behind by a throw.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  BatchNorm1d,
  Generator,
  Linear,
  Module,
  ReLU,
  SGD,
  Sequential,
  Tensor,
  fit,
  evaluate,
  predict,
  type Dataset,
} from '../src/index';
import { runtime } from '../src/runtime/index';
import { BACKENDS, fitModel } from './helpers';

const model = fitModel;

/** n samples of 6 features, labels cycling through 0..3 (a label may then be spoiled by a test). */
function data(n: number): Dataset {
  return {
    x: Float32Array.from({ length: n * 6 }, (_, i) => Math.sin(i * 0.7)),
    y: Int32Array.from({ length: n }, (_, i) => i % 4),
    shape: [6],
  };
}

/** Wraps the active runtime's alloc and free; `live` holds the pointers allocated and not yet freed. */
function countAllocations(): { live: Set<number>; restore(): void } {
  const k = runtime().k;
  const alloc = k.alloc,
    free = k.free;
  const live = new Set<number>();
  k.alloc = (bytes) => {
    const p = alloc(bytes);
    live.add(p);
    return p;
  };
  k.free = (p) => {
    live.delete(p);
    free(p);
  };
  return {
    live,
    restore: () => {
      k.alloc = alloc;
      k.free = free;
    },
  };
}

/** Every state value and gradient of `m`, copied. */
function snapshot(m: Module): Record<string, Float32Array | number> {
  const out: Record<string, Float32Array | number> = { ...m.stateDict() };
  for (const [name, p] of m.namedParameters()) out[`${name}.grad`] = p.grad.toArray();
  return out;
}

/** A model whose forward always throws (after its input was made by the caller). */
class Throws extends Module {
  forward(x: Tensor): Tensor {
    void x.shape;
    throw new Error('forward failed');
  }
  backward(): Tensor {
    throw new Error('unused');
  }
}

/** Records the training flag and batch size of every forward, then runs `inner`. */
class Spy extends Module {
  readonly calls: { training: boolean; n: number }[] = [];
  constructor(readonly inner: Module) {
    super();
  }
  forward(x: Tensor): Tensor {
    this.calls.push({ training: this.training, n: x.shape[0] });
    return this.inner.forward(x);
  }
  backward(dy: Tensor): Tensor {
    return this.inner.backward(dy);
  }
  children(): [string, Module][] {
    return [['inner', this.inner]];
  }
}

for (const b of BACKENDS) {
  describe(`fit, evaluate, predict on bad input (${b})`, () => {
    beforeAll(async () => {
      await init({ backend: b });
    });
    let counter: ReturnType<typeof countAllocations> | null = null;
    afterEach(() => {
      counter?.restore();
      counter = null;
    });

    it('batchSize must be a positive integer: a string, a fraction or NaN is an error, not a wrong loss', async () => {
      const m = model(),
        d = data(8),
        opt = new SGD(m.parameters(), { lr: 0.1 });
      for (const bs of ['4', 0.5, NaN, 2 ** 53, null]) {
        expect(() => evaluate(m, d, { batchSize: bs as number })).toThrow(/^evaluate: batchSize: expected a positive integer, got /);
        expect(() => predict(m, d.x, d.shape, { batchSize: bs as number })).toThrow(
          /^predict: batchSize: expected a positive integer, got /,
        );
        await expect(fit(m, d, { epochs: 1, batchSize: bs as number, optimizer: opt })).rejects.toThrow(
          /^fit: batchSize: expected a positive integer, got /,
        );
      }
      m.dispose();
      opt.dispose();
    });

    it('batchSize 0 or -1 is an error, not an endless loop', () => {
      const m = model(),
        d = data(8);
      for (const bs of [0, -1]) {
        expect(() => evaluate(m, d, { batchSize: bs })).toThrow(RangeError);
        expect(() => evaluate(m, d, { batchSize: bs })).toThrow(`evaluate: batchSize: expected a positive integer, got number ${bs}`);
        expect(() => predict(m, d.x, d.shape, { batchSize: bs })).toThrow(
          `predict: batchSize: expected a positive integer, got number ${bs}`,
        );
      }
      m.dispose();
    });

    it('unknown options of evaluate and predict are rejected, and their errors name the function', () => {
      const m = model(),
        d = data(8);
      expect(() => evaluate(m, d, { batchsize: 4 } as object)).toThrow(/^evaluate: unknown option 'batchsize'/);
      expect(() => predict(m, d.x, d.shape, { batch: 4 } as object)).toThrow(/^predict: unknown option 'batch'/);
      expect(() => evaluate(m, d, { loss: 'ce' } as object)).toThrow(
        /^evaluate: loss: expected a CrossEntropyLoss, NLLLoss, MSELoss, .* or one of 'crossEntropy', .*; got 'ce'$/,
      );
      expect(() => evaluate(null as unknown as Module, d)).toThrow(/^evaluate: model: expected a Module, got null/);
      expect(() => predict(null as unknown as Module, d.x, d.shape)).toThrow(/^predict: model: expected a Module, got null/);
      expect(() => (predict as (m: Module, x: Float32Array) => Float32Array)(m, d.x)).toThrow(
        /^predict: shape: expected an array of positive integers, got undefined/,
      );
      expect(() => predict(m, d.x, [-6])).toThrow(/^predict: shape: expected an array of positive integers, got \[number -6\]/);
      expect(() => predict(m, d.x, [0])).toThrow(/^predict: shape: /);
      m.dispose();
    });

    it('fit rejects mistyped shuffle, dropLast, progress, callbacks and seed before training', async () => {
      const m = model(),
        d = data(8),
        opt = new SGD(m.parameters(), { lr: 0.1 });
      const before = snapshot(m);
      const bad: [object, RegExp][] = [
        [{ shuffle: 'no' }, /^fit: shuffle: expected a boolean, got 'no'/],
        [{ dropLast: 0 }, /^fit: dropLast: expected a boolean, got number 0/],
        [{ progress: 'yes' }, /^fit: progress: expected 'auto' or false, got 'yes'/],
        [{ progress: true }, /^fit: progress: expected 'auto' or false, got boolean true/],
        [{ callbacks: 5 }, /^fit: callbacks: expected an object/],
        [{ callbacks: { onEpochEnd: 5 } }, /^fit: callbacks\.onEpochEnd: expected a function, got number 5/],
        [{ callbacks: { onEpochEnds: () => true } }, /^fit: callbacks: unknown callback 'onEpochEnds'/],
        [{ seed: 1.5 }, /^fit: seed: expected an integer, got number 1\.5/],
        [{ loss: {} }, /^fit: loss: expected a CrossEntropyLoss/],
        [{ epochs: '2' }, /^fit: epochs: expected a non-negative integer, got '2'/],
      ];
      for (const [extra, message] of bad) {
        await expect(fit(m, d, { epochs: 1, batchSize: 4, optimizer: opt, progress: false, ...extra })).rejects.toThrow(message);
      }
      expect(snapshot(m)).toEqual(before);
      m.dispose();
      opt.dispose();
    });

    it('fit with a label ≥ the class count moves no state and leaves no allocation behind', async () => {
      const m = model(),
        opt = new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
      const d = data(8);
      await fit(m, d, { epochs: 1, batchSize: 4, optimizer: opt, progress: false }); // warm up: workspaces, momentum buffers
      const before = snapshot(m);
      const bad = data(8);
      bad.y[5] = 4;
      counter = countAllocations();
      await expect(fit(m, bad, { epochs: 1, batchSize: 4, optimizer: opt, progress: false })).rejects.toThrow(
        /^fit: data\.y\[5\]: expected a class in \[0, 4\) \(the model's outputs\), got 4/,
      );
      expect(snapshot(m)).toEqual(before);
      // a bad validation label is found before training too, not after the first epoch
      const badValidation = data(4);
      badValidation.y[2] = -1;
      await expect(fit(m, d, { epochs: 1, batchSize: 4, optimizer: opt, progress: false, validation: badValidation })).rejects.toThrow(
        /^fit: validation\.y\[2\]: expected a class in \[0, 4\)/,
      );
      expect(snapshot(m)).toEqual(before);
      // what the layers keep from their last forward is theirs: freed when they are
      m.dispose();
      opt.dispose();
      expect([...counter.live]).toEqual([]);
    });

    it('evaluate with a bad label throws, names the sample and leaves no allocation behind', () => {
      const m = model(),
        d = data(12);
      evaluate(m, d, { batchSize: 4 }); // warm up
      d.y[9] = 7;
      counter = countAllocations();
      expect(() => evaluate(m, d, { batchSize: 4 })).toThrow(/^evaluate: data\.y\[9\]: expected a class in \[0, 4\)/);
      expect(m.training).toBe(true);
      m.dispose(); // what the layers keep from their last forward is theirs: freed here
      expect([...counter.live]).toEqual([]);
    });

    it('a forward that throws inside evaluate or predict leaves no allocation behind', () => {
      const m = new Throws(),
        d = data(8);
      counter = countAllocations();
      expect(() => evaluate(m, d, { batchSize: 4 })).toThrow('forward failed');
      expect(() => predict(m, d.x, d.shape, { batchSize: 4 })).toThrow('forward failed');
      expect([...counter.live]).toEqual([]);
    });

    it('model.eval() in a callback does not leave the rest of the epoch in eval mode', async () => {
      const spy = new Spy(model()),
        opt = new SGD(spy.parameters(), { lr: 0.1 });
      await fit(spy, data(16), {
        epochs: 2,
        batchSize: 4,
        optimizer: opt,
        progress: false,
        callbacks: {
          onBatchEnd: () => {
            spy.eval();
          },
        },
      });
      const steps = spy.calls.filter((c) => c.n === 4);
      expect(steps).toHaveLength(8);
      expect(steps.map((c) => c.training)).toEqual(Array(8).fill(true));
      spy.dispose();
      opt.dispose();
    });
  });
}

describe('fit, evaluate and predict still agree on good input', () => {
  it('fit trains a BatchNorm without running statistics (which needs two samples in eval mode too)', async () => {
    await init({ backend: 'wasm' });
    const gen = new Generator(5);
    const m = new Sequential(
      new Linear(6, 8, { generator: gen }),
      new BatchNorm1d(8, { trackRunningStats: false }),
      new ReLU(),
      new Linear(8, 4, { generator: gen }),
    );
    const opt = new SGD(m.parameters(), { lr: 0.1 });
    const logs = await fit(m, data(16), { epochs: 3, batchSize: 4, optimizer: opt, progress: false, validation: data(8) });
    expect(logs).toHaveLength(3);
    expect(logs.every((l) => Number.isFinite(l.loss) && Number.isFinite(l.valLoss!))).toBe(true);
    m.dispose();
    opt.dispose();
  });

  it('predict equals a forward in eval mode; evaluate in batches equals one batch', async () => {
    await init({ backend: 'js' });
    const m = model(),
      d = data(10);
    m.eval();
    using x = tensor(d.x, [10, 6]);
    using y = m.forward(x);
    m.train();
    expect(predict(m, d.x, d.shape, { batchSize: 3 })).toEqual(y.toArray());
    const one = evaluate(m, d, { batchSize: 10 }),
      three = evaluate(m, d, { batchSize: 3 });
    expect(three.accuracy).toBe(one.accuracy);
    expect(three.loss).toBeCloseTo(one.loss, 5);
    m.dispose();
  });
});
