// fit()'s validationSplit, its Keras-like callbacks (EarlyStopping, ModelCheckpoint) and its
// per-epoch lines, each against a reference computed apart from it.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, Generator, Linear, Module, ReLU, SGD, Sequential, BatchNorm1d, fit, type Dataset } from '../src/index';

function model(): Sequential {
  const gen = new Generator(3);
  return new Sequential(new Linear(6, 8, { generator: gen }), new BatchNorm1d(8), new ReLU(), new Linear(8, 4, { generator: gen }));
}

/** n samples of 6 features, labels cycling through 0..3. */
function data(n: number): Dataset {
  return {
    x: Float32Array.from({ length: n * 6 }, (_, i) => Math.sin(i * 0.7)),
    y: Int32Array.from({ length: n }, (_, i) => (i * 7) % 4),
    shape: [6],
  };
}

/** Every state value of `m`, copied. */
function state(m: Module): Record<string, Float32Array | number> {
  return { ...m.stateDict() };
}

describe('fit: validationSplit', () => {
  beforeAll(async () => {
    await init({ backend: 'wasm' });
  });

  it('holds out the last samples: the same logs and weights as an explicit split', async () => {
    const d = data(20);
    // 20 · (1 − 0.3) = 14 samples to train on, the last 6 to validate on
    const train: Dataset = { x: d.x.slice(0, 14 * 6), y: d.y.slice(0, 14), shape: [6] };
    const val: Dataset = { x: d.x.slice(14 * 6), y: d.y.slice(14), shape: [6] };
    const a = model(),
      b = model();
    const logsA = await fit(a, d, {
      epochs: 3,
      batchSize: 4,
      optimizer: new SGD(a.parameters(), { lr: 0.1 }),
      progress: false,
      validationSplit: 0.3,
    });
    const logsB = await fit(b, train, {
      epochs: 3,
      batchSize: 4,
      optimizer: new SGD(b.parameters(), { lr: 0.1 }),
      progress: false,
      validation: val,
    });
    expect(logsA).toEqual(logsB);
    expect(logsA[2].valLoss).toBeTypeOf('number');
    expect(state(a)).toEqual(state(b));
    a.dispose();
    b.dispose();
  });

  it('rejects a bad split, or one given with validation, before training', async () => {
    const m = model(),
      d = data(8),
      opt = new SGD(m.parameters(), { lr: 0.1 });
    const before = state(m);
    const bad: [object, RegExp][] = [
      [{ validationSplit: 0 }, /^fit: validationSplit: expected a number in \(0, 1\), got number 0$/],
      [{ validationSplit: 1 }, /^fit: validationSplit: expected a number in \(0, 1\), got number 1$/],
      [{ validationSplit: NaN }, /^fit: validationSplit: expected a number in \(0, 1\), got number NaN$/],
      [{ validationSplit: '0.2' }, /^fit: validationSplit: expected a number in \(0, 1\), got '0.2'$/],
      [{ validationSplit: 0.9 }, /^fit: validationSplit: 0.9 of 8 samples leaves no training sample$/],
      // 1 − 1e-17 rounds to 1 in float64
      [{ validationSplit: 1e-17 }, /^fit: validationSplit: 1e-17 of 8 samples leaves no validation sample$/],
      [{ validationSplit: 0.2, validation: data(4) }, /^fit: validationSplit: cannot be given with validation$/],
    ];
    for (const [extra, message] of bad) {
      await expect(fit(m, d, { epochs: 1, batchSize: 4, optimizer: opt, progress: false, ...extra })).rejects.toThrow(message);
    }
    expect(state(m)).toEqual(before);
    m.dispose();
  });
});
