// fit() and evaluate() with every loss and with metrics: a regression against the float64
// least-squares fit, a binary task with BCEWithLogitsLoss, every metric against a float64 reference
// on outputs known in advance, the logs and lines that carry them, and bad targets or metrics.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  Adam,
  BCELoss,
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  EarlyStopping,
  Generator,
  HuberLoss,
  L1Loss,
  Linear,
  MSELoss,
  Module,
  ModelCheckpoint,
  NLLLoss,
  Parameter,
  SGD,
  Sequential,
  SmoothL1Loss,
  Tensor,
  evaluate,
  fit,
  predict,
  setProgressDisplay,
  type Dataset,
  type EpochLogs,
  type FitLoss,
  type Metric,
} from '../src/index';
import { runtime } from '../src/runtime/index';
import { BACKENDS, values } from './helpers';

/** Returns a copy of its input, so that the metrics' reference sees exactly the outputs fit sees; its one parameter never moves. */
class Identity extends Module {
  readonly unused = new Parameter([1], 0);
  forward(x: Tensor): Tensor {
    return tensor(x.toArray(), x.shape);
  }
  backwardParams(): void {}
}

/** Every state value of `m`, copied. */
const state = (m: Module) => ({ ...m.stateDict() });

/** Rows of x (n × c) as arrays, in float64. */
const rows = (x: ArrayLike<number>, c: number) => Array.from({ length: x.length / c }, (_, i) => Array.from(x).slice(i * c, i * c + c));
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
/** The index of the first largest value (the argmax convention of Keras and NumPy). */
const firstMax = (r: number[]) => r.indexOf(Math.max(...r));

// float64 references of each metric, written apart from src/train/metrics.ts
const ref = {
  accuracy: (x: number[][], y: ArrayLike<number>, ignore?: number) =>
    mean(x.flatMap((r, i) => (y[i] === ignore ? [] : [firstMax(r) === y[i] ? 1 : 0]))),
  // in top k when the label's value reaches the k-th largest value (ties at the boundary count as in)
  topK: (x: number[][], y: ArrayLike<number>, k: number) =>
    mean(x.map((r, i) => (r[y[i]] >= [...r].sort((a, b) => b - a)[Math.min(k, r.length) - 1] ? 1 : 0))),
  categorical: (x: number[][], t: number[][]) => mean(x.map((r, i) => (firstMax(r) === firstMax(t[i]) ? 1 : 0))),
  binary: (x: ArrayLike<number>, t: ArrayLike<number>, threshold: number) =>
    mean(Array.from(x, (v, i) => ((v > threshold ? 1 : 0) === Math.round(t[i]) ? 1 : 0))),
  mae: (x: ArrayLike<number>, t: ArrayLike<number>) => mean(Array.from(x, (v, i) => Math.abs(v - t[i]))),
  mse: (x: ArrayLike<number>, t: ArrayLike<number>) => mean(Array.from(x, (v, i) => (v - t[i]) ** 2)),
  bceLogits: (x: ArrayLike<number>, t: ArrayLike<number>) =>
    mean(Array.from(x, (v, i) => Math.max(v, 0) - v * t[i] + Math.log1p(Math.exp(-Math.abs(v))))),
  bce: (p: ArrayLike<number>, t: ArrayLike<number>) => mean(Array.from(p, (v, i) => -(t[i] * Math.log(v) + (1 - t[i]) * Math.log(1 - v)))),
  crossEntropy: (x: number[][], y: ArrayLike<number>) => mean(x.map((r, i) => Math.log(r.reduce((a, v) => a + Math.exp(v), 0)) - r[y[i]])),
  // PyTorch's weighted mean: Σ w[y]·(−x[y]) / Σ w[y] over the rows not ignored
  nll: (x: number[][], y: ArrayLike<number>, ignore: number, w: number[]) => {
    const kept = x.flatMap((r, i) => (y[i] === ignore ? [] : [[w[y[i]], -r[y[i]]]]));
    return kept.reduce((a, [wi, l]) => a + wi * l, 0) / kept.reduce((a, [wi]) => a + wi, 0);
  },
};

const N = 20,
  C = 4;
/** Outputs on a coarse grid {−1, 0, 1, 2}: ties within a row are common, at the top-k boundary too. */
const X = Float32Array.from(values(N * C, 11), (v) => Math.floor(v + 1) - 1);
const LABELS = Int32Array.from({ length: N }, (_, i) => (i * 3) % C);
/** Float targets in [−2, 2) and 0/1 targets for the BCE losses. */
const T = values(N * C, 12);
const BITS = Float32Array.from(values(N * C, 13), (v) => (v > 0 ? 1 : 0));
/** Probabilities in (0.05, 0.95) for BCELoss. */
const P = Float32Array.from(values(N * C, 14), (v) => 0.5 + 0.225 * v);

interface MetricCase {
  name: string;
  /** A new loss; tensors it needs go in `own`, freed after the test. */
  loss: (own: Tensor[]) => FitLoss;
  x: Float32Array;
  y: Int32Array | Float32Array;
  metrics?: Metric[];
  /** Expected loss and metrics on samples [from, to), by key. */
  want(from: number, to: number): Record<string, number>;
}

const CLASS_WEIGHT = [1, 2, 0.5, 3];
const slice = <A extends Float32Array | Int32Array>(a: A, from: number, to: number, w: number) => a.slice(from * w, to * w) as A;

const CASES: MetricCase[] = [
  {
    name: 'CrossEntropyLoss: accuracy (the default) and top-k',
    loss: () => new CrossEntropyLoss(),
    x: X,
    y: LABELS,
    metrics: ['accuracy', { topK: 2 }, { topK: 3 }],
    want: (a, b) => {
      const x = rows(slice(X, a, b, C), C),
        y = LABELS.slice(a, b);
      return {
        loss: ref.crossEntropy(x, y),
        accuracy: ref.accuracy(x, y),
        top2Accuracy: ref.topK(x, y, 2),
        top3Accuracy: ref.topK(x, y, 3),
      };
    },
  },
  {
    name: 'NLLLoss with class weights and ignoreIndex: ignored rows count for neither loss nor accuracy',
    loss: (own) => new NLLLoss({ ignoreIndex: -1, weight: own[own.push(tensor(CLASS_WEIGHT, [C])) - 1] }),
    x: X,
    y: Int32Array.from(LABELS, (v, i) => (i % 3 === 1 ? -1 : v)),
    want(a, b) {
      const x = rows(slice(X, a, b, C), C),
        y = (this.y as Int32Array).slice(a, b);
      return { loss: ref.nll(x, y, -1, CLASS_WEIGHT), accuracy: ref.accuracy(x, y, -1) };
    },
  },
  {
    name: "MSELoss: mae, mse and 'accuracy' as argmax against argmax",
    loss: () => new MSELoss(),
    x: X,
    y: T,
    metrics: ['mae', 'mse', 'accuracy'],
    want: (a, b) => {
      const x = slice(X, a, b, C),
        t = slice(T, a, b, C);
      return { loss: ref.mse(x, t), mae: ref.mae(x, t), mse: ref.mse(x, t), accuracy: ref.categorical(rows(x, C), rows(t, C)) };
    },
  },
  {
    name: "BCEWithLogitsLoss: 'accuracy' and binaryAccuracy threshold logits at 0",
    loss: () => new BCEWithLogitsLoss(),
    x: X,
    y: BITS,
    metrics: ['accuracy', 'binaryAccuracy', 'mae'],
    want: (a, b) => {
      const x = slice(X, a, b, C),
        t = slice(BITS, a, b, C);
      return { loss: ref.bceLogits(x, t), accuracy: ref.binary(x, t, 0), binaryAccuracy: ref.binary(x, t, 0), mae: ref.mae(x, t) };
    },
  },
  {
    name: 'BCELoss: binaryAccuracy thresholds probabilities at 0.5',
    loss: () => new BCELoss(),
    x: P,
    y: BITS,
    metrics: ['binaryAccuracy', 'mse'],
    want: (a, b) => {
      const p = slice(P, a, b, C),
        t = slice(BITS, a, b, C);
      return { loss: ref.bce(p, t), binaryAccuracy: ref.binary(p, t, 0.5), mse: ref.mse(p, t) };
    },
  },
];

// NOTE: the losses are computed in f32 by the kernels (LOSS_TOL, relative); the metrics sum in
// float64 over f32 outputs equal to the references' inputs, so they agree to rounding (METRIC_TOL).
const LOSS_TOL = 1e-5,
  METRIC_TOL = 1e-12;

/** Each value of `want` is in `got` under `key(name)`, within its tolerance (relative to max(1, |want|)). */
function expectClose(got: Record<string, number | undefined>, want: Record<string, number>, key = (k: string) => k): void {
  for (const [k, v] of Object.entries(want)) {
    const g = got[key(k)];
    expect(g, key(k)).toBeTypeOf('number');
    expect(Math.abs(g! - v), `${key(k)}: ${g} vs ${v}`).toBeLessThanOrEqual(
      (k === 'loss' ? LOSS_TOL : METRIC_TOL) * Math.max(1, Math.abs(v)),
    );
  }
}
const val = (k: string) => `val${k[0].toUpperCase()}${k.slice(1)}`;

for (const backend of BACKENDS) {
  describe(`fit and evaluate with any loss and metrics (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it.each(CASES)('$name: evaluate, fit epoch logs, validation logs and batch logs equal the float64 reference', async (c) => {
      const data: Dataset = { x: c.x, y: c.y, shape: [C] };
      const m = new Identity(),
        own: Tensor[] = [];
      const ev = evaluate(m, data, { loss: c.loss(own), metrics: c.metrics, batchSize: 7 });
      const whole = c.want(0, N),
        keys = Object.keys(whole);
      expect(Object.keys(ev)).toEqual(keys);
      expectClose(ev, whole);
      const batches: Record<string, number | undefined>[] = [];
      const logs = await fit(m, data, {
        epochs: 1,
        batchSize: 5,
        shuffle: false,
        optimizer: new SGD(m.parameters(), { lr: 0.1 }),
        loss: c.loss(own),
        metrics: c.metrics,
        validation: data,
        progress: false,
        callbacks: { onBatchEnd: (l) => void batches.push({ ...l }) },
      });
      // epoch, loss, the metrics, then valLoss and the metrics' val keys, in that order
      expect(Object.keys(logs[0])).toEqual(['epoch', ...keys, ...keys.map(val)]);
      expectClose(logs[0], whole);
      expectClose(logs[0], whole, val);
      expect(batches).toHaveLength(N / 5);
      batches.forEach((b, i) => {
        expect(Object.keys(b)).toEqual(['epoch', 'batch', 'step', ...keys]);
        expectClose(b, c.want(i * 5, i * 5 + 5));
      });
      m.dispose();
      for (const t of own) t.dispose();
    });

    it('MSELoss on y = w·x + b + noise reaches the float64 least-squares fit', async () => {
      const n = 200,
        d = 3;
      const x = values(n * d, 21);
      const noise = values(n, 22);
      const y = Float32Array.from({ length: n }, (_, i) => 1.5 * x[i * d] - 2 * x[i * d + 1] + 0.5 * x[i * d + 2] + 0.7 + 0.05 * noise[i]);
      const ls = leastSquares(x, y, n, d);
      const m = new Sequential(new Linear(d, 1, { generator: new Generator(4) }));
      // full batch: gradient descent on a convex quadratic converges to the least-squares minimum
      // itself (mini-batches would hover around it by the lr times the gradient noise)
      const logs = await fit(
        m,
        { x, y, shape: [d] },
        {
          epochs: 300,
          batchSize: n,
          optimizer: new SGD(m.parameters(), { lr: 0.1 }),
          loss: new MSELoss(),
          metrics: ['mae'],
          progress: false,
        },
      );
      const [w, b] = m.parameters().map((p) => Array.from(p.toArray()));
      // NOTE: 1e-4: f32 gradients of 200 samples leave the fixed point a few ulps of Σx² away from the f64 one
      const FIT_TOL = 1e-4;
      [...w, ...b].forEach((v, i) => expect(Math.abs(v - ls.coef[i]), `coefficient ${i}`).toBeLessThan(FIT_TOL));
      const last = logs[logs.length - 1];
      expect(Object.keys(last)).toEqual(['epoch', 'loss', 'mae']);
      // the last epoch's loss is the residual mean square of the least-squares fit
      expect(Math.abs(last.loss - ls.mse)).toBeLessThan(1e-6);
      const out = predict(m, x, [d]);
      const ev = evaluate(m, { x, y, shape: [d] }, { loss: 'mse', metrics: ['mae', 'mse'] });
      expect(Math.abs(ev.mae! - ref.mae(out, y))).toBeLessThan(1e-12);
      expect(Math.abs(ev.mse! - ref.mse(out, y))).toBeLessThan(1e-12);
      expect(Math.abs(ev.loss - ev.mse!)).toBeLessThan(1e-7);
      m.dispose();
    });
  });
}

/** Ordinary least squares in float64 for y ≈ X·w + b: the normal equations solved by Gaussian elimination. */
function leastSquares(x: Float32Array, y: Float32Array, n: number, d: number): { coef: number[]; mse: number } {
  const k = d + 1,
    A = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  for (let i = 0; i < n; i++) {
    const r = [...Array.from(x.subarray(i * d, i * d + d)), 1];
    for (let a = 0; a < k; a++) {
      for (let b = 0; b < k; b++) A[a][b] += r[a] * r[b];
      A[a][k] += r[a] * y[i];
    }
  }
  for (let p = 0; p < k; p++) {
    const piv = A.slice(p).reduce((best, row, j) => (Math.abs(row[p]) > Math.abs(A[best][p]) ? p + j : best), p);
    [A[p], A[piv]] = [A[piv], A[p]];
    for (let r = 0; r < k; r++) {
      if (r === p) continue;
      const f = A[r][p] / A[p][p];
      for (let c = p; c <= k; c++) A[r][c] -= f * A[p][c];
    }
  }
  const coef = A.map((row, i) => row[k] / row[i]);
  const resid = Array.from(y, (v, i) => coef.slice(0, d).reduce((s, w, j) => s + w * x[i * d + j], coef[d]) - v);
  return { coef, mse: mean(resid.map((r) => r * r)) };
}

/** Points in the plane labelled 1 on one side of the line x0 + 0.5·x1 = 0.2, as [n, 1] float targets. */
function halfPlane(n: number): Dataset {
  const x = values(n * 2, 31);
  return { x, y: Float32Array.from({ length: n }, (_, i) => (x[2 * i] + 0.5 * x[2 * i + 1] > 0.2 ? 1 : 0)), shape: [2] };
}

/** n samples of 3 features and 2 float targets each. */
function regression(n: number): Dataset {
  const x = values(n * 3, 41);
  return { x, y: Float32Array.from({ length: n * 2 }, (_, j) => x[(j >> 1) * 3 + (j & 1)] - 0.5 * x[(j >> 1) * 3 + 2]), shape: [3] };
}
const linear = (i: number, o: number) => new Sequential(new Linear(i, o, { generator: new Generator(7) }));

for (const backend of ['wasm', 'js'] as const) {
  describe(`fit with BCEWithLogitsLoss on a binary task (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('learns the half-plane; the validation loss and accuracy equal the float64 reference on predict()', async () => {
      const d = halfPlane(200);
      const m = linear(2, 1);
      const logs = await fit(m, d, {
        epochs: 40,
        batchSize: 16,
        optimizer: new Adam(m.parameters(), { lr: 0.1 }),
        loss: new BCEWithLogitsLoss(),
        validationSplit: 0.25,
        progress: false,
      });
      const last = logs[logs.length - 1];
      expect(Object.keys(last)).toEqual(['epoch', 'loss', 'valLoss']); // no metric by default for float targets
      const val: Dataset = { x: d.x.subarray(150 * 2), y: d.y.subarray(150), shape: [2] };
      const out = predict(m, val.x, [2]);
      expect(Math.abs(last.valLoss! - ref.bceLogits(out, val.y))).toBeLessThan(LOSS_TOL);
      const ev = evaluate(m, val, { loss: 'binaryCrossEntropyWithLogits', metrics: ['accuracy', 'binaryAccuracy'] });
      expect(ev.accuracy).toBe(ref.binary(out, val.y, 0));
      expect(ev.binaryAccuracy).toBe(ev.accuracy);
      // a linear boundary a logistic regression can draw: nearly every held-out point on its side
      expect(ev.accuracy).toBeGreaterThanOrEqual(0.96);
      m.dispose();
    });
  });
}

describe('fit with float targets: names, validationSplit, logs, lines and monitors', () => {
  beforeAll(async () => {
    await init({ backend: 'wasm' });
  });
  afterEach(() => setProgressDisplay(null));

  it('a loss by name trains exactly as the module it names', async () => {
    const pairs: [string, () => FitLoss][] = [
      ['mse', () => new MSELoss()],
      ['mae', () => new L1Loss()],
      ['smoothL1Loss', () => new SmoothL1Loss()],
      ['huberLoss', () => new HuberLoss()],
    ];
    for (const [name, make] of pairs) {
      const a = linear(3, 2),
        b = linear(3, 2);
      const run = (m: Module, loss: FitLoss | 'mse') =>
        fit(m, regression(24), { epochs: 2, batchSize: 8, optimizer: new SGD(m.parameters(), { lr: 0.05 }), loss, progress: false });
      expect(await run(a, name as 'mse')).toEqual(await run(b, make()));
      expect(state(a)).toEqual(state(b));
      a.dispose();
      b.dispose();
    }
  });

  it('validationSplit holds out the last samples with their targets: the same logs and weights as an explicit split', async () => {
    const d = regression(20);
    const train: Dataset = { x: d.x.slice(0, 14 * 3), y: d.y.slice(0, 14 * 2), shape: [3] };
    const val: Dataset = { x: d.x.slice(14 * 3), y: d.y.slice(14 * 2), shape: [3] };
    const a = linear(3, 2),
      b = linear(3, 2);
    const o = (m: Module) => ({
      epochs: 3,
      batchSize: 4,
      optimizer: new SGD(m.parameters(), { lr: 0.1 }),
      loss: 'mse' as const,
      metrics: ['mae'] as Metric[],
      progress: false as const,
    });
    const logsA = await fit(a, d, { ...o(a), validationSplit: 0.3 });
    const logsB = await fit(b, train, { ...o(b), validation: val });
    expect(logsA).toEqual(logsB);
    expect(Object.keys(logsA[0])).toEqual(['epoch', 'loss', 'mae', 'valLoss', 'valMae']);
    expect(state(a)).toEqual(state(b));
    a.dispose();
    b.dispose();
  });

  it('the epoch line prints every metric and its validation value; the bar gets them as text', async () => {
    const lines: string[] = [];
    const updates: { loss: string; acc: string; metrics: string }[] = [];
    setProgressDisplay(() => ({ update: (_, v) => void updates.push(v), log: (l) => void lines.push(l), stop() {} }));
    const m = linear(3, 2);
    const logs = await fit(m, regression(20), {
      epochs: 2,
      batchSize: 4,
      optimizer: new SGD(m.parameters(), { lr: 0.1 }),
      loss: 'mse',
      metrics: ['mae', 'mse'],
      validationSplit: 0.2,
    });
    const f = (v: number | undefined) => v!.toFixed(4).replace('.', '\\.');
    logs.forEach((l, i) =>
      expect(lines[i]).toMatch(
        new RegExp(
          `^Epoch ${i + 1}/2 - \\d+\\.\\ds - loss: ${f(l.loss)} - mae: ${f(l.mae)} - mse: ${f(l.mse)} - valLoss: ${f(l.valLoss)} - valMae: ${f(l.valMae)} - valMse: ${f(l.valMse)}$`,
        ),
      ),
    );
    // the last update of each epoch shows the epoch's running means, which are its logs
    expect(updates).toHaveLength(8);
    for (const [i, l] of logs.entries()) {
      const u = updates[4 * i + 3];
      expect(u.acc).toBe('-');
      expect(u.loss).toBe(l.loss.toFixed(4));
      expect(u.metrics).toBe(` | mae ${l.mae!.toFixed(4)} | mse ${l.mse!.toFixed(4)}`);
    }
    m.dispose();
  });

  it('EarlyStopping and ModelCheckpoint monitor any metric and its validation value', async () => {
    // 'auto' is max for the accuracies and min for the errors
    expect(new EarlyStopping({ monitor: 'valMae' }).mode).toBe('min');
    expect(new EarlyStopping({ monitor: 'mse' }).mode).toBe('min');
    expect(new EarlyStopping({ monitor: 'binaryAccuracy' }).mode).toBe('max');
    expect(new ModelCheckpoint({ monitor: 'valTop5Accuracy', onSave() {} }).mode).toBe('max');
    for (const bad of ['valmae', 'mae2', 'top0Accuracy', 'valTop5accuracy', 'val_loss', 'Loss', 5])
      expect(() => new EarlyStopping({ monitor: bad as never })).toThrow(/^EarlyStopping: monitor: expected 'loss', a metric's key/);
    const m = linear(3, 2);
    const es = new EarlyStopping({ monitor: 'valMae', patience: 1, restoreBestWeights: true });
    const seen: number[] = [];
    const logs = await fit(m, regression(20), {
      epochs: 30,
      batchSize: 4,
      // a rate high enough to make the validation error rise again, so that the callback stops fit
      optimizer: new SGD(m.parameters(), { lr: 0.45 }),
      loss: 'mse',
      metrics: ['mae'],
      validationSplit: 0.2,
      progress: false,
      callbacks: [es, { onEpochEnd: (l) => void seen.push(l.valMae!) }],
    });
    const best = seen.indexOf(Math.min(...seen));
    expect(es.bestEpoch).toBe(best);
    expect(es.best).toBe(seen[best]);
    // patience 1: the first epoch without improvement after the best stops fit
    expect(logs.length).toBe(best + 2);
    expect(logs.length).toBeLessThan(30);
    // a monitor the logs will not hold is refused before the first step
    const before = state(m);
    const opt = new SGD(m.parameters(), { lr: 0.1 });
    const o = { epochs: 1, batchSize: 4, optimizer: opt, progress: false as const, validationSplit: 0.2 };
    await expect(fit(m, regression(20), { ...o, loss: 'mse', callbacks: [new EarlyStopping({ monitor: 'valMae' })] })).rejects.toThrow(
      /^EarlyStopping: monitor: 'valMae' needs 'mae' among fit's metrics, which are none$/,
    );
    await expect(
      fit(m, regression(20), {
        ...o,
        loss: 'mse',
        metrics: ['mse'],
        callbacks: [new ModelCheckpoint({ monitor: 'accuracy', onSave() {} })],
      }),
    ).rejects.toThrow(/^ModelCheckpoint: monitor: 'accuracy' needs 'accuracy' among fit's metrics, which are 'mse'$/);
    expect(state(m)).toEqual(before);
    m.dispose();
  });
});

describe('fit and evaluate refuse mismatched targets and metrics before any state moves', () => {
  beforeAll(async () => {
    await init({ backend: 'wasm' });
  });

  it('names the target kind, length or metric that does not fit the loss or the outputs', async () => {
    const m = linear(3, 2);
    const opt = new SGD(m.parameters(), { lr: 0.1 });
    const before = state(m);
    const labels: Dataset = { x: values(8 * 3, 1), y: Int32Array.from({ length: 8 }, (_, i) => i % 2), shape: [3] };
    const floats = regression(8);
    const bad: [Dataset, object, ErrorConstructor, RegExp][] = [
      [
        labels,
        { loss: 'mse' },
        TypeError,
        /^fit: data\.y: expected a Float32Array of targets shaped as the outputs \(for MSELoss\), got Int32Array\(8\)$/,
      ],
      [floats, {}, TypeError, /^fit: data\.y: expected an Int32Array of class labels \(for CrossEntropyLoss\), got Float32Array\(16\)$/],
      [floats, { loss: new NLLLoss() }, TypeError, /^fit: data\.y: expected an Int32Array of class labels \(for NLLLoss\)/],
      [
        { ...floats, y: floats.y.subarray(0, 8) },
        { loss: 'mse' },
        RangeError,
        /^fit: data\.y: expected 8 × 2 = 16 targets \(outputs of shape \[2\] per sample\), got 8$/,
      ],
      [
        { ...floats, y: floats.y.subarray(0, 13) },
        { loss: 'mse' },
        RangeError,
        /^fit: data\.y: expected the same number of targets for each of x's 8 samples, got 13 values$/,
      ],
      [
        floats,
        { loss: 'mse', validation: { ...floats, y: floats.y.subarray(0, 8) } },
        RangeError,
        /^fit: validation\.y: expected 8 × 2 = 16 targets/,
      ],
      [floats, { loss: 'mse', validation: labels }, TypeError, /^fit: validation\.y: expected a Float32Array of targets/],
      [floats, { loss: 'l2' }, TypeError, /^fit: loss: expected a CrossEntropyLoss, NLLLoss, .*; got 'l2'$/],
      [floats, { loss: 'mse', metrics: 'mae' }, TypeError, /^fit: metrics: expected an array of metrics/],
      [
        floats,
        { loss: 'mse', metrics: ['rmse'] },
        TypeError,
        /^fit: metrics\[0\]: expected one of 'accuracy', 'binaryAccuracy', 'mae', 'mse' or \{ topK: k \}, got 'rmse'$/,
      ],
      [floats, { loss: 'mse', metrics: ['mae', 'mae'] }, TypeError, /^fit: metrics\[1\]: 'mae' is listed twice$/],
      [
        floats,
        { loss: 'mse', metrics: [{ topK: 2 }] },
        TypeError,
        /^fit: metrics\[0\]: topK needs Int32Array class labels, but MSELoss trains on float targets$/,
      ],
      [labels, { metrics: [{ topK: 0 }] }, TypeError, /^fit: metrics\[0\]: expected \{ topK: a positive integer \}, got \{"topK":0\}$/],
      [labels, { metrics: [{ topK: 1, k: 2 }] }, TypeError, /^fit: metrics\[0\]: expected \{ topK: a positive integer \}/],
      [
        labels,
        { metrics: ['mae'] },
        TypeError,
        /^fit: metrics\[0\]: 'mae' needs float targets, but CrossEntropyLoss trains on class labels/,
      ],
      [labels, { metrics: ['binaryAccuracy'] }, TypeError, /^fit: metrics\[0\]: 'binaryAccuracy' needs float targets/],
    ];
    for (const [data, extra, cls, message] of bad) {
      let e: unknown;
      try {
        await fit(m, data, { epochs: 1, batchSize: 4, optimizer: opt, progress: false, ...extra });
      } catch (err) {
        e = err;
      }
      expect(e, String(message)).toBeInstanceOf(cls);
      expect((e as Error).message).toMatch(message);
    }
    // 'accuracy' on one output per sample is a binary accuracy only under a BCE loss
    const one = linear(3, 1),
      oneData: Dataset = { x: floats.x, y: floats.y.subarray(0, 8), shape: [3] };
    expect(() => evaluate(one, oneData, { loss: 'mse', metrics: ['accuracy'] })).toThrow(
      /^evaluate: metrics\[0\]: 'accuracy' on one output per sample needs a BCE loss \(or 'binaryAccuracy'\); MSELoss is a regression loss$/,
    );
    expect(() => evaluate(one, oneData, { loss: new CrossEntropyLoss() })).toThrow(
      /^evaluate: data\.y: expected an Int32Array of class labels/,
    );
    expect(state(m)).toEqual(before);
    expect(m.training).toBe(true);
    m.dispose();
    one.dispose();
  });

  it('a refused target or metric leaves no allocation behind', async () => {
    const m = linear(3, 2),
      opt = new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
    const d = regression(8);
    await fit(m, d, { epochs: 1, batchSize: 4, optimizer: opt, loss: 'mse', progress: false }); // warm up: momentum buffers
    const k = runtime().k;
    const { alloc, free } = k;
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
    try {
      const o = { epochs: 1, batchSize: 4, optimizer: opt, loss: 'mse' as const, progress: false as const };
      await expect(fit(m, { ...d, y: d.y.subarray(0, 8) }, o)).rejects.toThrow(/^fit: data\.y: expected 8 × 2 = 16 targets/);
      await expect(fit(m, d, { ...o, metrics: [{ topK: 1 }] })).rejects.toThrow(/^fit: metrics\[0\]: topK needs Int32Array class labels/);
      expect(() => evaluate(m, d, { loss: 'mse', metrics: ['mae', 'mae'] })).toThrow(/^evaluate: metrics\[1\]: 'mae' is listed twice$/);
      // what the layers keep from their last forward is theirs: freed with them
      m.dispose();
      opt.dispose();
      expect([...live]).toEqual([]);
    } finally {
      k.alloc = alloc;
      k.free = free;
    }
  });
});
