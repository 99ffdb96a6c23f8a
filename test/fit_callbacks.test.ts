// fit()'s validationSplit, its Keras-like callbacks (EarlyStopping, ModelCheckpoint) and its
// per-epoch lines, each against a reference computed apart from it.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { streamProgress } from '../src/train/progress_node';
import {
  init,
  Generator,
  Linear,
  Module,
  ReLU,
  SGD,
  Sequential,
  BatchNorm1d,
  EarlyStopping,
  ModelCheckpoint,
  fit,
  loadSafetensors,
  setProgressDisplay,
  type ProgressInfo,
  type Callback,
  type Dataset,
  type EpochLogs,
} from '../src/index';
import { fitModel } from './helpers';

const model = fitModel;

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

/**
 * A callback that overwrites the epoch's `loss` with a made-up curve (later callbacks see it, as
 * they share the logs) and records the model's state at each epoch's end.
 */
function fakeCurve(m: Module, curve: number[]): Callback & { states: Record<string, Float32Array | number>[] } {
  const states: Record<string, Float32Array | number>[] = [];
  return {
    states,
    onEpochEnd(logs: EpochLogs) {
      logs.loss = curve[logs.epoch];
      states.push(state(m));
    },
  };
}

describe('fit: callbacks', () => {
  beforeAll(async () => {
    await init({ backend: 'wasm' });
  });

  it('EarlyStopping follows Keras: stops after `patience` epochs without an improvement larger than minDelta', () => {
    const m = model();
    /** The epoch count run on `curve` before the callback stops (curve.length when it never does). */
    const run = (es: EarlyStopping, curve: number[], key: 'loss' | 'accuracy' = 'loss'): number => {
      es.onTrainBegin(m, { epochs: curve.length, validation: false });
      for (let epoch = 0; epoch < curve.length; epoch++) {
        const logs = { epoch, loss: 0, accuracy: 0, [key]: curve[epoch] };
        if (es.onEpochEnd(logs)) return epoch + 1;
      }
      return curve.length;
    };
    // best at epoch 1 (0.9); epochs 2 and 3 are worse: with patience 2 it stops at epoch 3
    expect(run(new EarlyStopping({ monitor: 'loss', patience: 2 }), [1, 0.9, 0.95, 0.91, 0.5, 0.4])).toBe(4);
    // patience 0 (as 1 in Keras) stops at the first epoch without improvement
    expect(run(new EarlyStopping({ monitor: 'loss' }), [1, 0.9, 0.95, 0.5])).toBe(3);
    expect(run(new EarlyStopping({ monitor: 'loss', patience: 1 }), [1, 0.9, 0.95, 0.5])).toBe(3);
    // a fall of 0.04 is no improvement with minDelta 0.05: epochs 1 and 2 do not count, epoch 3 (0.94) does
    const es = new EarlyStopping({ monitor: 'loss', patience: 3, minDelta: 0.05 });
    expect(run(es, [1, 0.96, 0.97, 0.94, 0.93, 0.92, 0.91, 0.2])).toBe(7);
    expect([es.bestEpoch, es.best, es.stoppedEpoch]).toEqual([3, 0.94, 6]);
    // accuracy grows ('auto' is 'max' for it); mode 'min' on it reverses the sense
    expect(run(new EarlyStopping({ monitor: 'accuracy', patience: 1 }), [0.5, 0.6, 0.55, 0.7], 'accuracy')).toBe(3);
    expect(run(new EarlyStopping({ monitor: 'accuracy', mode: 'min', patience: 1 }), [0.5, 0.6, 0.55, 0.7], 'accuracy')).toBe(2);
    // a curve that keeps improving never stops
    expect(run(new EarlyStopping({ monitor: 'loss' }), [5, 4, 3, 2, 1])).toBe(5);
    m.dispose();
  });

  it('EarlyStopping stops fit at the expected epoch and restores the best epoch state exactly', async () => {
    const m = model();
    const curve = [1, 0.8, 0.85, 0.9, 0.7, 0.6];
    const fake = fakeCurve(m, curve);
    const es = new EarlyStopping({ monitor: 'loss', patience: 2, restoreBestWeights: true });
    const logs = await fit(m, data(16), {
      epochs: 6,
      batchSize: 4,
      optimizer: new SGD(m.parameters(), { lr: 0.1 }),
      progress: false,
      callbacks: [fake, es],
    });
    expect(logs.map((l) => l.epoch)).toEqual([0, 1, 2, 3]);
    expect(es.bestEpoch).toBe(1);
    expect(fake.states[3]).not.toEqual(fake.states[1]); // training moved the weights after the best epoch
    expect(state(m)).toEqual(fake.states[1]);
    m.dispose();
  });

  it('without restoreBestWeights the last state stays', async () => {
    const m = model();
    const fake = fakeCurve(m, [1, 0.8, 0.85, 0.9]);
    const es = new EarlyStopping({ monitor: 'loss', patience: 2 });
    await fit(m, data(16), {
      epochs: 6,
      batchSize: 4,
      optimizer: new SGD(m.parameters(), { lr: 0.1 }),
      progress: false,
      callbacks: [fake, es],
    });
    expect(state(m)).toEqual(fake.states[3]);
    m.dispose();
  });

  it('ModelCheckpoint saves only on improvement; the bytes load back into an identical model', async () => {
    const m = model();
    const curve = [1, 0.8, 0.85, 0.7, 0.75];
    const fake = fakeCurve(m, curve);
    const saved: [Uint8Array, number][] = [];
    const ck = new ModelCheckpoint({
      monitor: 'loss',
      onSave: async (bytes, epoch) => {
        await Promise.resolve();
        saved.push([bytes, epoch]);
      },
    });
    await fit(m, data(16), {
      epochs: 5,
      batchSize: 4,
      optimizer: new SGD(m.parameters(), { lr: 0.1 }),
      progress: false,
      callbacks: [fake, ck],
    });
    expect(saved.map(([, e]) => e)).toEqual([0, 1, 3]);
    for (const [bytes, epoch] of saved) {
      const copy = model();
      loadSafetensors(copy, bytes);
      expect(state(copy)).toEqual(fake.states[epoch]);
      copy.dispose();
    }
    // saveBestOnly: false saves after every epoch
    const every: number[] = [];
    const m2 = model();
    const ck2 = new ModelCheckpoint({ monitor: 'loss', saveBestOnly: false, onSave: (_, e) => void every.push(e) });
    await fit(m2, data(16), {
      epochs: 3,
      batchSize: 4,
      optimizer: new SGD(m2.parameters(), { lr: 0.1 }),
      progress: false,
      callbacks: [fakeCurve(m2, [1, 2, 3]), ck2],
    });
    expect(every).toEqual([0, 1, 2]);
    m.dispose();
    m2.dispose();
  });

  it('calls onTrainBegin, onBatchEnd, onEpochEnd and onTrainEnd of every callback, in order', async () => {
    const m = model();
    const seen: string[] = [];
    const cb = (name: string): Callback => ({
      onTrainBegin: (model, info) => void seen.push(`${name}:begin:${model === m}:${info.epochs}:${info.validation}`),
      onBatchEnd: (l) => void seen.push(`${name}:batch${l.step}`),
      onEpochEnd: (l) => void seen.push(`${name}:epoch${l.epoch}`),
      onTrainEnd: (logs) => void seen.push(`${name}:end:${logs.length}`),
    });
    await fit(m, data(8), {
      epochs: 2,
      batchSize: 4,
      optimizer: new SGD(m.parameters(), { lr: 0.1 }),
      progress: false,
      callbacks: [cb('a'), cb('b')],
    });
    expect(seen).toEqual([
      'a:begin:true:2:false',
      'b:begin:true:2:false',
      'a:batch1',
      'b:batch1',
      'a:batch2',
      'b:batch2',
      'a:epoch0',
      'b:epoch0',
      'a:batch3',
      'b:batch3',
      'a:batch4',
      'b:batch4',
      'a:epoch1',
      'b:epoch1',
      'a:end:2',
      'b:end:2',
    ]);
    m.dispose();
  });

  it('rejects bad callbacks and options, and a monitor the logs will not hold, before training', async () => {
    expect(() => new EarlyStopping({ monitor: 'val_loss' as never })).toThrow(
      /^EarlyStopping: monitor: expected 'loss', a metric's key \('accuracy', .*\) or either with the val prefix \('valLoss', .*\), got 'val_loss'$/,
    );
    expect(() => new EarlyStopping({ patience: -1 })).toThrow(/^EarlyStopping: patience: expected a non-negative integer, got number -1$/);
    expect(() => new EarlyStopping({ minDelta: -0.1 })).toThrow(/^EarlyStopping: minDelta: expected a finite number ≥ 0, got number -0.1$/);
    expect(() => new EarlyStopping({ mode: 'up' as never })).toThrow(
      /^EarlyStopping: mode: expected one of 'min', 'max', 'auto', got 'up'$/,
    );
    expect(() => new EarlyStopping({ restoreBestWeights: 1 as never })).toThrow(
      /^EarlyStopping: restoreBestWeights: expected a boolean, got number 1$/,
    );
    expect(() => new EarlyStopping({ patiense: 1 } as never)).toThrow(/^EarlyStopping: unknown option 'patiense'/);
    expect(() => new ModelCheckpoint({} as never)).toThrow(
      /^ModelCheckpoint: onSave: expected a function \(bytes, epoch\) => void, got undefined$/,
    );
    const m = model(),
      d = data(8),
      opt = new SGD(m.parameters(), { lr: 0.1 });
    const before = state(m);
    const bad: [unknown, RegExp][] = [
      [[5], /^fit: callbacks\[0\]: expected a callback object/],
      [[{}, { onEpochEnd: 'x' }], /^fit: callbacks\[1\]\.onEpochEnd: expected a function, got 'x'$/],
      [[new EarlyStopping()], /^EarlyStopping: monitor: 'valLoss' needs validation data/],
      [
        [new ModelCheckpoint({ monitor: 'valAccuracy', onSave: () => {} })],
        /^ModelCheckpoint: monitor: 'valAccuracy' needs validation data/,
      ],
    ];
    for (const [callbacks, message] of bad) {
      await expect(fit(m, d, { epochs: 1, batchSize: 4, optimizer: opt, progress: false, callbacks: callbacks as never })).rejects.toThrow(
        message,
      );
    }
    expect(state(m)).toEqual(before);
    m.dispose();
  });
});

/** The line Keras would print for `l`, but for the time, which the pattern leaves open. */
function linePattern(l: EpochLogs, epochs: number): RegExp {
  const f = (v: number) => v.toFixed(4).replace('.', '\\.');
  let re = `^Epoch ${l.epoch + 1}/${epochs} - \\d+\\.\\ds - loss: ${f(l.loss)} - accuracy: ${f(l.accuracy!)}`;
  if (l.valLoss !== undefined) re += ` - valLoss: ${f(l.valLoss)} - valAccuracy: ${f(l.valAccuracy!)}`;
  return new RegExp(`${re}$`);
}

describe('fit: verbose and the per-epoch lines', () => {
  beforeAll(async () => {
    await init({ backend: 'wasm' });
  });
  afterEach(() => setProgressDisplay(null));

  /** Registers a fake display; returns what fit asked of it and the lines it was given. */
  function capture(): { calls: [number, ProgressInfo][]; lines: string[]; updates: number[]; stops: number[] } {
    const got = { calls: [] as [number, ProgressInfo][], lines: [] as string[], updates: [] as number[], stops: [] as number[] };
    setProgressDisplay((total, info) => {
      got.calls.push([total, info]);
      return {
        update: (step) => void got.updates.push(step),
        log: (line) => void got.lines.push(line),
        stop: () => void got.stops.push(1),
      };
    });
    return got;
  }

  it('prints one Keras-like line per epoch with the epoch logs, a bar asked for only at verbose 1', async () => {
    for (const verbose of [undefined, 1, 2] as const) {
      const got = capture();
      const m = model();
      const logs = await fit(m, data(20), {
        epochs: 3,
        batchSize: 4,
        optimizer: new SGD(m.parameters(), { lr: 0.1 }),
        validationSplit: 0.2,
        verbose,
      });
      expect(got.calls).toEqual([[12, { epochs: 3, bar: verbose !== 2 }]]); // 16 training samples: 4 steps × 3 epochs
      expect(got.updates).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
      expect(got.lines.length).toBe(3);
      got.lines.forEach((line, i) => expect(line).toMatch(linePattern(logs[i], 3)));
      expect(got.lines[0]).toContain(' - valLoss: ');
      expect(got.stops).toEqual([1]);
      m.dispose();
    }
  });

  it('shows nothing at verbose 0 or with progress: false; rejects a bad verbose before training', async () => {
    const got = capture();
    const m = model(),
      opt = new SGD(m.parameters(), { lr: 0.1 });
    await fit(m, data(8), { epochs: 1, batchSize: 4, optimizer: opt, verbose: 0 });
    await fit(m, data(8), { epochs: 1, batchSize: 4, optimizer: opt, progress: false });
    await fit(m, data(8), { epochs: 1, batchSize: 4, optimizer: opt, progress: false, verbose: 0 });
    expect(got.calls).toEqual([]);
    const before = state(m);
    const bad: [object, RegExp][] = [
      [{ verbose: 3 }, /^fit: verbose: expected 0, 1 or 2, got number 3$/],
      [{ verbose: '1' }, /^fit: verbose: expected 0, 1 or 2, got '1'$/],
      [{ verbose: 2, progress: false }, /^fit: verbose: 2 contradicts progress: false/],
    ];
    for (const [extra, message] of bad) {
      await expect(fit(m, data(8), { epochs: 1, batchSize: 4, optimizer: opt, ...extra })).rejects.toThrow(message);
    }
    expect(state(m)).toEqual(before);
    expect(got.calls).toEqual([]);
    m.dispose();
  });

  it('on a stream that is not a TTY, writes the lines alone as plain text', async () => {
    let out = '';
    setProgressDisplay(streamProgress({ isTTY: false, write: (t: string) => (out += t) }));
    const m = model();
    const logs = await fit(m, data(16), { epochs: 2, batchSize: 4, optimizer: new SGD(m.parameters(), { lr: 0.1 }) });
    const lines = out.split('\n');
    expect(lines.length).toBe(3);
    expect(lines[2]).toBe('');
    lines.slice(0, 2).forEach((line, i) => expect(line).toMatch(linePattern(logs[i], 2)));
    expect(out).not.toMatch(/\x1b/);
    m.dispose();
  });

  // cli-progress draws on a Node stream (it reads process.stdout's size); the browser has neither
  it.skipIf(typeof process === 'undefined')(
    'on a TTY, draws a live bar within each epoch and leaves the lines when it clears',
    async () => {
      let out = '';
      const tty = { isTTY: true, columns: 120, write: (t: string) => ((out += t), true) };
      setProgressDisplay(streamProgress(tty));
      const m = model();
      const logs = await fit(m, data(16), { epochs: 2, batchSize: 4, optimizer: new SGD(m.parameters(), { lr: 0.1 }) });
      expect(out).toMatch(/\x1b\[/); // cursor moves and line clears: a live bar
      expect(out).toContain('/8 steps | loss ');
      // what the terminal shows: each row from its last return to column 1, without escape codes
      const plain = out.split('\n').map((l) =>
        l
          .split('\x1b[1G')
          .pop()!
          .replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, ''),
      );
      const lines = plain.filter((l) => l.startsWith('Epoch '));
      expect(lines.length).toBe(2);
      lines.forEach((line, i) => expect(line).toMatch(linePattern(logs[i], 2)));
      expect(out.endsWith(`${lines[1]}\n`)).toBe(true); // the bar cleared itself before the last line
      // verbose 2 on a TTY: the lines alone
      out = '';
      const logs2 = await fit(m, data(16), { epochs: 1, batchSize: 4, optimizer: new SGD(m.parameters(), { lr: 0.1 }), verbose: 2 });
      expect(out).toMatch(new RegExp(linePattern(logs2[0], 1).source.replace('$', '\\n$')));
      m.dispose();
    },
  );
});
