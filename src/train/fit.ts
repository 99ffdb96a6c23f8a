// The training loop: fit (epochs of shuffled mini-batches, validation, callbacks, a progress display
// registered by the node entry), evaluate and predict. Async so a browser page stays responsive between batches.
// see: https://keras.io/api/models/model_training_apis/ (fit/evaluate/predict and callbacks)
import { noGrad, Tensor, tensor } from '../tensor';
import { Module } from '../nn/module';
import { CrossEntropyLoss } from '../nn/loss';
import { Optimizer } from '../optim/optimizers';
import { Generator } from '../random';
import { checkOptions, describe } from '../validate';
import { untaped } from '../autograd/engine';
import { callHooks, checkCallbacks, type Callback } from './callbacks';
import { checkVerbose, epochLine, registeredDisplay } from './progress';

export { setProgressDisplay, type ProgressDisplay, type ProgressBar, type ProgressInfo } from './progress';

/** Samples stored flat: x holds n samples of `shape`, y one integer label per sample. */
export interface Dataset {
  /** n samples of `shape`, stored flat. */
  x: Float32Array;
  /** n class labels. */
  y: Int32Array;
  /** The shape of one sample (e.g. [784] or [1, 28, 28]). */
  shape: readonly number[];
}

/** What fit() reports after each epoch. */
export interface EpochLogs {
  /** The epoch, from 0. */
  epoch: number;
  /** The mean training loss over the epoch's samples. */
  loss: number;
  /** The fraction of training samples classified right during the epoch. */
  accuracy: number;
  /** The validation loss, when there is validation data. */
  valLoss?: number;
  /** The validation accuracy, when there is validation data. */
  valAccuracy?: number;
}
/** What fit() reports after each step. */
export interface BatchLogs {
  /** The epoch, from 0. */
  epoch: number;
  /** The batch within the epoch, from 0. */
  batch: number;
  /** Steps taken so far in this fit() call. */
  step: number;
  /** The batch's mean loss. */
  loss: number;
  /** The fraction of the batch classified right. */
  accuracy: number;
}

/** Options of fit(). */
export interface FitOptions {
  /** Passes over the training data. */
  epochs: number;
  /** Samples per step. */
  batchSize: number;
  /** The optimizer over the model's parameters. */
  optimizer: Optimizer;
  /** The loss (default a new CrossEntropyLoss). */
  loss?: CrossEntropyLoss;
  /** Reshuffle the training samples every epoch (default true). */
  shuffle?: boolean;
  /** The seed of the shuffles (default 0). */
  seed?: number;
  /** Held-out samples evaluated after every epoch. */
  validation?: Dataset;
  /** Holds out the last fraction of `data` (taken before any shuffle, as Keras) for validation. */
  validationSplit?: number;
  /** Drop a last batch smaller than batchSize (BatchNorm cannot train on one sample). Default true. */
  dropLast?: boolean;
  /** 'auto': the registered display (in Node, a bar and lines on stdout); false: none (as verbose 0). */
  progress?: 'auto' | false;
  /** 0: silent; 1 (default): a live bar (on a terminal) and a line per epoch; 2: the lines only. */
  verbose?: 0 | 1 | 2;
  /** One object of hooks, or an array of callback objects (EarlyStopping, ModelCheckpoint, your own). */
  callbacks?:
    | {
        /** Return true to stop training. */
        onBatchEnd?: (logs: BatchLogs) => boolean | void | Promise<boolean | void>;
        /** Return true to stop training (early stopping). */
        onEpochEnd?: (logs: EpochLogs) => boolean | void | Promise<boolean | void>;
        onTrainBegin?: Callback['onTrainBegin'];
        onTrainEnd?: Callback['onTrainEnd'];
      }
    | readonly Callback[];
}

const FIT_KEYS = [
  'epochs',
  'batchSize',
  'optimizer',
  'loss',
  'shuffle',
  'seed',
  'validation',
  'validationSplit',
  'dropLast',
  'progress',
  'verbose',
  'callbacks',
];

/** Options of evaluate(). */
export interface EvaluateOptions {
  /** Samples per forward (default 256): bounds the memory of one evaluation. */
  batchSize?: number;
  /** The loss (default a new CrossEntropyLoss). */
  loss?: CrossEntropyLoss;
}
/** Options of predict(). */
export interface PredictOptions {
  /** Samples per forward (default 256): bounds the memory of one prediction. */
  batchSize?: number;
}

function checkModel(where: string, model: unknown): Module {
  if (!(model instanceof Module)) throw new TypeError(`${where}: model: expected a Module, got ${describe(model)}`);
  return model;
}

function checkBatchSize(where: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new RangeError(`${where}: batchSize: expected a positive integer, got ${describe(v)}`);
  return v;
}

function checkLoss(where: string, v: unknown): CrossEntropyLoss {
  if (v === undefined) return new CrossEntropyLoss();
  if (!(v instanceof CrossEntropyLoss)) throw new TypeError(`${where}: loss: expected a CrossEntropyLoss, got ${describe(v)}`);
  return v;
}

function checkOptionalBool(where: string, name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new TypeError(`${where}: ${name}: expected a boolean, got ${describe(v)}`);
  return v;
}

/** A shape of samples: an array of positive integers whose product stays a safe integer. */
function checkSampleShape(where: string, name: string, shape: unknown): number[] {
  if (
    !Array.isArray(shape) ||
    shape.some((v) => typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) ||
    !Number.isSafeInteger(shape.reduce((a: number, b: number) => a * b, 1))
  ) {
    throw new TypeError(
      `${where}: ${name}: expected an array of positive integers, got ${Array.isArray(shape) ? `[${shape.map(describe).join(', ')}]` : describe(shape)}`,
    );
  }
  return shape;
}

function checkData(where: string, name: string, d: Dataset): number {
  if (d === null || typeof d !== 'object') throw new TypeError(`${where}: ${name}: expected { x, y, shape }, got ${describe(d)}`);
  if (!(d.x instanceof Float32Array)) throw new TypeError(`${where}: ${name}.x: expected a Float32Array, got ${describe(d.x)}`);
  if (!(d.y instanceof Int32Array)) throw new TypeError(`${where}: ${name}.y: expected an Int32Array of labels, got ${describe(d.y)}`);
  checkSampleShape(where, `${name}.shape`, d.shape);
  const per = d.shape.reduce((a, b) => a * b, 1);
  if (d.x.length !== d.y.length * per)
    throw new RangeError(
      `${where}: ${name}: x has ${d.x.length} values, but ${d.y.length} labels × shape [${d.shape.join(', ')}] need ${d.y.length * per}`,
    );
  return d.y.length;
}

/** Throws unless every label of `d` is a class in [0, classes). */
function checkLabels(where: string, name: string, d: Dataset, classes: number): void {
  for (let i = 0; i < d.y.length; i++) {
    if (d.y[i] < 0 || d.y[i] >= classes)
      throw new RangeError(`${where}: ${name}.y[${i}]: expected a class in [0, ${classes}) (the model's outputs), got ${d.y[i]}`);
  }
}

/**
 * The model's output count, from a forward in eval mode (which moves no state), so that labels are
 * checked before a training step moves BatchNorm statistics, counters or gradients. Two samples
 * where there are two: a BatchNorm without running statistics normalizes by the batch's in eval mode.
 */
function classesOf(where: string, model: Module, d: Dataset): number {
  const wasTraining = model.training;
  model.eval();
  const { x } = gather(d, d.y.length > 1 ? [0, 1] : [0]);
  try {
    const out = noGrad(() => model.forward(x));
    try {
      if (out.shape.length !== 2)
        throw new RangeError(
          `${where}: model: expected logits [N, classes] for CrossEntropyLoss, got an output of shape [${out.shape.join(', ')}]`,
        );
      return out.shape[1];
    } finally {
      out.dispose();
    }
  } finally {
    x.dispose();
    model.train(wasTraining);
  }
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
  const xs = new Float32Array(idx.length * per),
    ys = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    xs.set(d.x.subarray(idx[i] * per, idx[i] * per + per), i * per);
    ys[i] = d.y[idx[i]];
  }
  return { x: tensor(xs, [idx.length, ...d.shape]), y: ys };
}

/** The first samples of `d` for training and the last `split` of them for validation (Keras's split). */
function splitData(where: string, d: Dataset, split: unknown): [Dataset, Dataset] {
  if (typeof split !== 'number' || !(split > 0 && split < 1))
    throw new RangeError(`${where}: validationSplit: expected a number in (0, 1), got ${describe(split)}`);
  const n = d.y.length;
  // see: keras/src/trainers/data_adapters/data_adapter_utils.py (train_validation_split: floor of n·(1 − split))
  const at = Math.floor(n * (1 - split));
  if (at === 0 || at === n)
    throw new RangeError(`${where}: validationSplit: ${split} of ${n} samples leaves ${at === 0 ? 'no training' : 'no validation'} sample`);
  const per = d.shape.reduce((a, b) => a * b, 1);
  return [
    { x: d.x.subarray(0, at * per), y: d.y.subarray(0, at), shape: d.shape },
    { x: d.x.subarray(at * per), y: d.y.subarray(at), shape: d.shape },
  ];
}

/** Trains `model` on `data`; returns the per-epoch logs. */
export async function fit(model: Module, data: Dataset, options: FitOptions): Promise<EpochLogs[]> {
  const where = 'fit';
  const manual = hasOwnBackward(model);
  checkModel(where, model);
  let n = checkData(where, 'data', data);
  checkOptions(where, options, FIT_KEYS);
  const { epochs, optimizer } = options;
  if (typeof epochs !== 'number' || !Number.isSafeInteger(epochs) || epochs < 0)
    throw new RangeError(`${where}: epochs: expected a non-negative integer, got ${describe(epochs)}`);
  const batchSize = checkBatchSize(where, options.batchSize);
  if (!(optimizer instanceof Optimizer))
    throw new TypeError(`${where}: optimizer: expected an Optimizer (SGD, Adam, AdamW), got ${describe(optimizer)}`);
  const lossFn = checkLoss(where, options.loss);
  const shuffle = checkOptionalBool(where, 'shuffle', options.shuffle, true);
  const dropLast = checkOptionalBool(where, 'dropLast', options.dropLast, true);
  const seed = options.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed))
    throw new TypeError(`${where}: seed: expected an integer, got ${describe(seed)}`);
  const verbose = checkVerbose(where, options.verbose, options.progress ?? 'auto');
  const callbacks = checkCallbacks(where, options.callbacks);
  let validation = options.validation;
  if (validation !== undefined) checkData(where, 'validation', validation);
  if (options.validationSplit !== undefined) {
    if (validation !== undefined) throw new TypeError(`${where}: validationSplit: cannot be given with validation`);
    [data, validation] = splitData(where, data, options.validationSplit);
    n = data.y.length;
  }
  // every label is checked against the model's outputs before the first step moves any state
  if (n > 0 || (validation !== undefined && validation.y.length > 0)) {
    const classes = classesOf(where, model, n > 0 ? data : validation!);
    checkLabels(where, 'data', data, classes);
    if (validation !== undefined) checkLabels(where, 'validation', validation, classes);
  }
  // a callback may refuse (a monitor the logs will not hold) before any state moves
  for (const cb of callbacks) await cb.onTrainBegin?.(model, { epochs, validation: validation !== undefined });
  const gen = new Generator(seed);
  const perEpoch = dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  const display = registeredDisplay();
  const bar = verbose > 0 && display !== null ? await display(perEpoch * epochs, { epochs, bar: verbose === 1 }) : null;
  const logs: EpochLogs[] = [];
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const started = Date.now();
  let step = 0;
  let stopped = false;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const epochStarted = Date.now();
      if (shuffle) {
        for (let i = n - 1; i > 0; i--) {
          const j = gen.below(i + 1);
          [order[i], order[j]] = [order[j], order[i]];
        }
      }
      let lossSum = 0,
        hits = 0,
        seen = 0;
      for (let b = 0; b < perEpoch; b++) {
        // per step, not per epoch: a callback may have switched the model to eval mode
        model.train();
        const { x, y } = gather(data, order.subarray(b * batchSize, Math.min(n, (b + 1) * batchSize)));
        let logits: Tensor | null = null,
          dlogits: Tensor | null = null;
        let loss: number, acc: number;
        try {
          optimizer.zeroGrad();
          // a model with its own backward (Sequential, the layers) runs it untaped; a Module subclass
          // that writes only forward gets its gradients from the tape
          logits = manual ? untaped(() => model.forward(x)) : model.forward(x);
          loss = lossFn.forward(logits, y);
          dlogits = lossFn.backward();
          if (manual) untaped(() => model.backwardParams(dlogits!));
          else backwardFrom(where, logits, dlogits);
          optimizer.step();
          acc = argmaxHits(logits.view(), y, logits.shape[1]);
        } finally {
          logits?.dispose();
          dlogits?.dispose();
          x.dispose();
        }
        lossSum += loss * y.length;
        hits += acc;
        seen += y.length;
        step++;
        const stop = await callHooks(callbacks, 'onBatchEnd', { epoch, batch: b, step, loss, accuracy: acc / y.length });
        bar?.update(step, {
          loss: (lossSum / seen).toFixed(4),
          acc: (hits / seen).toFixed(3),
          speed: (step / Math.max(1e-3, (Date.now() - started) / 1000)).toFixed(0),
        });
        if (stop) {
          stopped = true;
          break;
        }
      }
      const entry: EpochLogs = { epoch, loss: lossSum / Math.max(seen, 1), accuracy: hits / Math.max(seen, 1) };
      if (validation !== undefined) {
        const v = evaluate(model, validation, { batchSize, loss: lossFn });
        entry.valLoss = v.loss;
        entry.valAccuracy = v.accuracy;
      }
      logs.push(entry);
      bar?.log?.(epochLine(entry, epochs, (Date.now() - epochStarted) / 1000));
      if (stopped || (await callHooks(callbacks, 'onEpochEnd', entry))) break;
    }
  } finally {
    bar?.stop();
  }
  for (const cb of callbacks) await cb.onTrainEnd?.(logs);
  return logs;
}

/** Mean loss and accuracy of `model` (in eval mode) on `data`. */
export function evaluate(model: Module, data: Dataset, options: EvaluateOptions = {}): { loss: number; accuracy: number } {
  const where = 'evaluate';
  checkModel(where, model);
  const n = checkData(where, 'data', data);
  checkOptions(where, options, ['batchSize', 'loss']);
  const bs = options.batchSize === undefined ? 256 : checkBatchSize(where, options.batchSize);
  const lossFn = checkLoss(where, options.loss);
  const wasTraining = model.training;
  model.eval();
  let lossSum = 0,
    hits = 0;
  try {
    for (let s = 0; s < n; s += bs) {
      const idx = Int32Array.from({ length: Math.min(bs, n - s) }, (_, i) => s + i);
      const { x, y } = gather(data, idx);
      let logits: Tensor | null = null;
      try {
        logits = noGrad(() => model.forward(x));
        // the first batch tells the class count: check every label before any loss is summed
        if (s === 0 && logits.shape.length === 2) checkLabels(where, 'data', data, logits.shape[1]);
        lossSum += lossFn.forward(logits, y) * y.length;
        lossFn.dispose();
        hits += argmaxHits(logits.view(), y, logits.shape[1]);
      } finally {
        logits?.dispose();
        x.dispose();
      }
    }
  } finally {
    model.train(wasTraining);
  }
  return { loss: lossSum / Math.max(n, 1), accuracy: hits / Math.max(n, 1) };
}

/** The model's outputs (eval mode) for every sample: a Float32Array of n × outputs. */
export function predict(model: Module, x: Float32Array, shape: readonly number[], options: PredictOptions = {}): Float32Array {
  const where = 'predict';
  checkModel(where, model);
  checkSampleShape(where, 'shape', shape);
  const per = shape.reduce((a, b) => a * b, 1);
  if (!(x instanceof Float32Array) || x.length % per !== 0)
    throw new RangeError(`${where}: x: expected a Float32Array of whole samples of shape [${shape.join(', ')}], got ${describe(x)}`);
  checkOptions(where, options, ['batchSize']);
  const n = x.length / per,
    bs = options.batchSize === undefined ? 256 : checkBatchSize(where, options.batchSize);
  const wasTraining = model.training;
  model.eval();
  const parts: Float32Array[] = [];
  try {
    for (let s = 0; s < n; s += bs) {
      const m = Math.min(bs, n - s);
      using xt = tensor(x.subarray(s * per, (s + m) * per), [m, ...shape]);
      using y = noGrad(() => model.forward(xt));
      parts.push(y.toArray());
    }
  } finally {
    model.train(wasTraining);
  }
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** True when the model has its own backward (the package's layers, Sequential); false for a Module subclass that writes only forward. */
function hasOwnBackward(m: Module): boolean {
  return m.backward !== Module.prototype.backward;
}

/** The tape's backward from the model's output, given dL/d(output). */
function backwardFrom(where: string, out: Tensor, grad: Tensor): void {
  if (out.gradFn === null)
    throw new Error(`${where}: model: its forward recorded nothing on the tape (no parameter requires a gradient), so there is nothing to train`);
  out.backward(grad);
}
