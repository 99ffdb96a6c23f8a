// The training loop: fit (epochs of shuffled mini-batches, validation, callbacks, a progress bar in
// a Node terminal), evaluate and predict. Async so a browser page stays responsive between batches.
// see: https://keras.io/api/models/model_training_apis/ (fit/evaluate/predict and callbacks)
import { Tensor, tensor } from '../tensor';
import { Module } from '../nn/module';
import { CrossEntropyLoss } from '../nn/loss';
import { Optimizer } from '../optim/optimizers';
import { Generator } from '../random';
import { checkOptions, describe } from '../validate';

/** Samples stored flat: x holds n samples of `shape`, y one integer label per sample. */
export interface Dataset { x: Float32Array; y: Int32Array; shape: readonly number[] }

export interface EpochLogs { epoch: number; loss: number; accuracy: number; valLoss?: number; valAccuracy?: number }
export interface BatchLogs { epoch: number; batch: number; step: number; loss: number; accuracy: number }

export interface FitOptions {
  epochs: number;
  batchSize: number;
  optimizer: Optimizer;
  loss?: CrossEntropyLoss;
  shuffle?: boolean;
  seed?: number;
  validation?: Dataset;
  /** Drop a last batch smaller than batchSize (BatchNorm cannot train on one sample). Default true. */
  dropLast?: boolean;
  /** 'auto': a progress bar when stdout is a Node TTY; false: none. */
  progress?: 'auto' | false;
  callbacks?: {
    /** Return true to stop training. */
    onBatchEnd?: (logs: BatchLogs) => boolean | void | Promise<boolean | void>;
    /** Return true to stop training (early stopping). */
    onEpochEnd?: (logs: EpochLogs) => boolean | void | Promise<boolean | void>;
  };
}

const FIT_KEYS = ['epochs', 'batchSize', 'optimizer', 'loss', 'shuffle', 'seed', 'validation', 'dropLast', 'progress', 'callbacks'];

function checkData(where: string, name: string, d: Dataset): number {
  if (d === null || typeof d !== 'object') throw new TypeError(`${where}: ${name}: expected { x, y, shape }, got ${describe(d)}`);
  if (!(d.x instanceof Float32Array)) throw new TypeError(`${where}: ${name}.x: expected a Float32Array, got ${describe(d.x)}`);
  if (!(d.y instanceof Int32Array)) throw new TypeError(`${where}: ${name}.y: expected an Int32Array of labels, got ${describe(d.y)}`);
  if (!Array.isArray(d.shape) || d.shape.some((v) => !Number.isInteger(v) || v < 1)) throw new TypeError(`${where}: ${name}.shape: expected positive integers, got ${describe(d.shape)}`);
  const per = d.shape.reduce((a, b) => a * b, 1);
  if (d.x.length !== d.y.length * per) throw new RangeError(`${where}: ${name}: x has ${d.x.length} values, but ${d.y.length} labels × shape [${d.shape.join(', ')}] need ${d.y.length * per}`);
  return d.y.length;
}

function argmaxHits(logits: Float32Array, labels: Int32Array, c: number): number {
  let hits = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (logits[i * c + j] > logits[i * c + best]) best = j;
    if (best === labels[i]) hits++;
  }
  return hits;
}

/** Copies samples `idx` of `d` into a tensor [idx.length, ...shape] and their labels. */
function gather(d: Dataset, idx: ArrayLike<number>): { x: Tensor; y: Int32Array } {
  const per = d.shape.reduce((a, b) => a * b, 1);
  const xs = new Float32Array(idx.length * per), ys = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    xs.set(d.x.subarray(idx[i] * per, idx[i] * per + per), i * per);
    ys[i] = d.y[idx[i]];
  }
  return { x: tensor(xs, [idx.length, ...d.shape]), y: ys };
}

async function progressBar(total: number, enabled: boolean) {
  const proc = (globalThis as { process?: { stdout?: { isTTY?: boolean }; versions?: { node?: string } } }).process;
  if (!enabled || !proc?.versions?.node || !proc.stdout?.isTTY) return null;
  const spec = 'cli-progress';
  const { default: cliProgress } = await import(/* @vite-ignore */ spec);
  const bar = new cliProgress.SingleBar({
    format: ' {bar} {value}/{total} steps | loss {loss} | acc {acc} | {speed} steps/s | ETA {eta_formatted}',
    hideCursor: true, clearOnComplete: false,
  }, cliProgress.Presets.shades_classic);
  bar.start(total, 0, { loss: '-', acc: '-', speed: '-' });
  return bar as { update(v: number, p: object): void; stop(): void };
}

/** Trains `model` on `data`; returns the per-epoch logs. */
export async function fit(model: Module, data: Dataset, options: FitOptions): Promise<EpochLogs[]> {
  const where = 'fit';
  if (!(model instanceof Module)) throw new TypeError(`${where}: model: expected a Module, got ${describe(model)}`);
  const n = checkData(where, 'data', data);
  checkOptions(where, options, FIT_KEYS);
  const { epochs, batchSize, optimizer } = options;
  if (!Number.isInteger(epochs) || epochs < 0) throw new RangeError(`${where}: epochs: expected a non-negative integer, got ${describe(epochs)}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${where}: batchSize: expected a positive integer, got ${describe(batchSize)}`);
  if (!(optimizer instanceof Optimizer)) throw new TypeError(`${where}: optimizer: expected an Optimizer (SGD, Adam, AdamW), got ${describe(optimizer)}`);
  if (options.validation !== undefined) checkData(where, 'validation', options.validation);
  const lossFn = options.loss ?? new CrossEntropyLoss();
  const gen = new Generator(options.seed ?? 0);
  const dropLast = options.dropLast ?? true;
  const perEpoch = dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  const bar = await progressBar(perEpoch * epochs, options.progress !== false);
  const logs: EpochLogs[] = [];
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const started = Date.now();
  let step = 0;
  let stopped = false;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      if (options.shuffle ?? true) {
        for (let i = n - 1; i > 0; i--) {
          const j = gen.below(i + 1);
          [order[i], order[j]] = [order[j], order[i]];
        }
      }
      model.train();
      let lossSum = 0, hits = 0, seen = 0;
      for (let b = 0; b < perEpoch; b++) {
        const { x, y } = gather(data, order.subarray(b * batchSize, Math.min(n, (b + 1) * batchSize)));
        optimizer.zeroGrad();
        const logits = model.forward(x);
        const loss = lossFn.forward(logits, y);
        const dlogits = lossFn.backward();
        model.backwardParams(dlogits);
        optimizer.step();
        const acc = argmaxHits(logits.view(), y, logits.shape[1]);
        logits.dispose(); dlogits.dispose(); x.dispose();
        lossSum += loss * y.length; hits += acc; seen += y.length; step++;
        const stop = await options.callbacks?.onBatchEnd?.({ epoch, batch: b, step, loss, accuracy: acc / y.length });
        bar?.update(step, { loss: (lossSum / seen).toFixed(4), acc: (hits / seen).toFixed(3), speed: (step / Math.max(1e-3, (Date.now() - started) / 1000)).toFixed(0) });
        if (stop === true) {
          stopped = true;
          break;
        }
      }
      const entry: EpochLogs = { epoch, loss: lossSum / Math.max(seen, 1), accuracy: hits / Math.max(seen, 1) };
      if (options.validation) {
        const v = evaluate(model, options.validation, { batchSize, loss: lossFn });
        entry.valLoss = v.loss; entry.valAccuracy = v.accuracy;
      }
      logs.push(entry);
      if (stopped || (await options.callbacks?.onEpochEnd?.(entry)) === true) break;
    }
  } finally {
    bar?.stop();
  }
  return logs;
}

/** Mean loss and accuracy of `model` (in eval mode) on `data`. */
export function evaluate(model: Module, data: Dataset, options: { batchSize?: number; loss?: CrossEntropyLoss } = {}): { loss: number; accuracy: number } {
  const n = checkData('evaluate', 'data', data);
  const lossFn = options.loss ?? new CrossEntropyLoss();
  const bs = options.batchSize ?? 256;
  const wasTraining = model.training;
  model.eval();
  let lossSum = 0, hits = 0;
  try {
    for (let s = 0; s < n; s += bs) {
      const idx = Int32Array.from({ length: Math.min(bs, n - s) }, (_, i) => s + i);
      const { x, y } = gather(data, idx);
      const logits = model.forward(x);
      lossSum += lossFn.forward(logits, y) * y.length;
      lossFn.dispose();
      hits += argmaxHits(logits.view(), y, logits.shape[1]);
      logits.dispose(); x.dispose();
    }
  } finally {
    model.train(wasTraining);
  }
  return { loss: lossSum / Math.max(n, 1), accuracy: hits / Math.max(n, 1) };
}

/** The model's outputs (eval mode) for every sample: a Float32Array of n × outputs. */
export function predict(model: Module, x: Float32Array, shape: readonly number[], options: { batchSize?: number } = {}): Float32Array {
  const per = shape.reduce((a, b) => a * b, 1);
  if (!(x instanceof Float32Array) || x.length % per !== 0) throw new RangeError(`predict: x: expected a Float32Array of whole samples of shape [${shape.join(', ')}], got ${describe(x)}`);
  const n = x.length / per, bs = options.batchSize ?? 256;
  const wasTraining = model.training;
  model.eval();
  const parts: Float32Array[] = [];
  try {
    for (let s = 0; s < n; s += bs) {
      const m = Math.min(bs, n - s);
      using xt = tensor(x.subarray(s * per, (s + m) * per), [m, ...shape]);
      const y = model.forward(xt);
      parts.push(y.toArray());
      y.dispose();
    }
  } finally {
    model.train(wasTraining);
  }
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
