// The training loop: fit (epochs of shuffled mini-batches, validation, callbacks, a progress display
// registered by the node entry), evaluate and predict, with any of the loss modules and a list of
// metrics. Async so a browser page stays responsive between batches.
// see: https://keras.io/api/models/model_training_apis/ (fit/evaluate/predict and callbacks)
import { Tensor, tensor } from '../tensor';
import { untaped } from '../autograd/engine';
import { inferenceForward } from './infer';
import { Module } from '../nn/module';
import type { CrossEntropyLoss, NLLLoss } from '../nn/loss';
import { Optimizer } from '../optim/optimizers';
import { Generator } from '../random';
import { checkOptions, describe } from '../validate';
import { callHooks, checkCallbacks, type Callback } from './callbacks';
import { resolveMetrics, Tally, type Meter, type Metric } from './metrics';
import { checkVerbose, epochLine, registeredDisplay } from './progress';
import {
  backwardFrom,
  checkData,
  checkLoss,
  checkSampleShape,
  checkTargets,
  gather,
  hasOwnBackward,
  lossOf,
  lossWeight,
  outputShape,
  splitData,
  takesLabels,
  targetOf,
  taskOf,
  type Dataset,
  type FitLoss,
  type LossName,
} from './targets';

export { setProgressDisplay, type ProgressDisplay, type ProgressBar, type ProgressInfo } from './progress';
export type { Dataset, FitLoss, LossName } from './targets';
export type { Metric, MetricName, MetricKey } from './metrics';

/** What fit() reports after each epoch: the loss and every metric, then the same for validation. */
export interface EpochLogs {
  /** The epoch, from 0. */
  epoch: number;
  /** The mean training loss over the epoch's samples. */
  loss: number;
  /** The fraction of training samples classified right during the epoch, when 'accuracy' is a metric (the default for class labels). */
  accuracy?: number;
  /** The validation loss, when there is validation data. */
  valLoss?: number;
  /** The validation accuracy, when there is validation data and 'accuracy' is a metric. */
  valAccuracy?: number;
  /** Every metric by its key (`mae`, `mse`, `binaryAccuracy`, `top5Accuracy`) and `val…` (`valMae`) for validation. */
  [metric: string]: number | undefined;
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
  /** The fraction of the batch classified right, when 'accuracy' is a metric. */
  accuracy?: number;
  /** Every metric of the batch by its key (`mae`, `top5Accuracy`, …). */
  [metric: string]: number | undefined;
}
/** What evaluate() returns: the mean loss and every metric by its key. */
export interface EvaluateResult {
  /** The mean loss over the samples. */
  loss: number;
  /** The fraction of samples classified right, when 'accuracy' is a metric (the default for class labels). */
  accuracy?: number;
  /** Every other metric by its key (`mae`, `mse`, `binaryAccuracy`, `top5Accuracy`). */
  [metric: string]: number | undefined;
}

/** Options of fit(). */
export interface FitOptions {
  /** Passes over the training data. */
  epochs: number;
  /** Samples per step. */
  batchSize: number;
  /** The optimizer over the model's parameters. */
  optimizer: Optimizer;
  /** A loss module, or its name ('mse', 'binaryCrossEntropyWithLogits', …: a new one with defaults). Default a new CrossEntropyLoss. */
  loss?: FitLoss | LossName;
  /** What to report beside the loss, e.g. ['accuracy', { topK: 5 }] or ['mae', 'mse']. Default ['accuracy'] for class labels, [] else. */
  metrics?: readonly Metric[];
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
  'metrics',
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
  /** A loss module or its name, as fit's (default a new CrossEntropyLoss). */
  loss?: FitLoss | LossName;
  /** The metrics to report, as fit's (default ['accuracy'] for class labels, [] else). */
  metrics?: readonly Metric[];
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

function checkOptionalBool(where: string, name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new TypeError(`${where}: ${name}: expected a boolean, got ${describe(v)}`);
  return v;
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Mean loss and metric tally of `model` in eval mode over the n samples of checked `d`. */
function measure(model: Module, d: Dataset, n: number, out: readonly number[], bs: number, lossFn: FitLoss, meters: readonly Meter[]) {
  const wasTraining = model.training;
  model.eval();
  const tally = new Tally(meters),
    width = takesLabels(lossFn) ? 1 : size(out);
  let lossSum = 0,
    weights = 0;
  try {
    for (let s = 0; s < n; s += bs) {
      const m = Math.min(bs, n - s);
      const { x, y } = gather(
        d,
        Int32Array.from({ length: m }, (_, i) => s + i),
        width,
      );
      let o: Tensor | null = null,
        target: Int32Array | Tensor | null = null;
      try {
        o = inferenceForward(model, x);
        target = targetOf(y, out);
        const loss = lossOf(lossFn, o, target),
          w = lossWeight(lossFn, y, m);
        lossFn.dispose();
        if (w > 0) {
          lossSum += loss * w;
          weights += w;
        }
        tally.add(o.view(), y, size(out));
      } finally {
        o?.dispose();
        if (target instanceof Tensor) target.dispose();
        x.dispose();
      }
    }
  } finally {
    model.train(wasTraining);
  }
  return { loss: weights > 0 ? lossSum / weights : 0, tally };
}

/** Trains `model` on `data`; returns the per-epoch logs. */
export async function fit(model: Module, data: Dataset, options: FitOptions): Promise<EpochLogs[]> {
  const where = 'fit';
  const manual = hasOwnBackward(model);
  checkModel(where, model);
  checkOptions(where, options, FIT_KEYS);
  const lossFn = checkLoss(where, options.loss);
  let n = checkData(where, 'data', data, lossFn);
  const { epochs, optimizer } = options;
  if (typeof epochs !== 'number' || !Number.isSafeInteger(epochs) || epochs < 0)
    throw new RangeError(`${where}: epochs: expected a non-negative integer, got ${describe(epochs)}`);
  const batchSize = checkBatchSize(where, options.batchSize);
  if (!(optimizer instanceof Optimizer))
    throw new TypeError(`${where}: optimizer: expected an Optimizer (SGD, Adam, AdamW), got ${describe(optimizer)}`);
  const shuffle = checkOptionalBool(where, 'shuffle', options.shuffle, true);
  const dropLast = checkOptionalBool(where, 'dropLast', options.dropLast, true);
  const seed = options.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed))
    throw new TypeError(`${where}: seed: expected an integer, got ${describe(seed)}`);
  const verbose = checkVerbose(where, options.verbose, options.progress ?? 'auto');
  const callbacks = checkCallbacks(where, options.callbacks);
  let validation = options.validation;
  let nVal = validation === undefined ? 0 : checkData(where, 'validation', validation, lossFn);
  if (options.validationSplit !== undefined) {
    if (validation !== undefined) throw new TypeError(`${where}: validationSplit: cannot be given with validation`);
    const total = n;
    [data, validation] = splitData(where, data, n, options.validationSplit);
    n = checkData(where, 'data', data, lossFn);
    nVal = total - n;
  }
  // every label or target is checked against the model's outputs before the first step moves any state
  let out: number[] | null = null;
  if (n > 0 || nVal > 0) {
    out = n > 0 ? outputShape(model, data, n) : outputShape(model, validation!, nVal);
    checkTargets(where, 'data', data, n, out, lossFn);
    if (validation !== undefined) checkTargets(where, 'validation', validation, nVal, out, lossFn);
  }
  const meters = resolveMetrics(where, options.metrics, taskOf(lossFn, out));
  const info = { epochs, validation: validation !== undefined, metrics: meters.map((m) => m.key) };
  // a callback may refuse (a monitor the logs will not hold) before any state moves
  for (const cb of callbacks) await cb.onTrainBegin?.(model, info);
  const gen = new Generator(seed);
  const perEpoch = dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  const display = registeredDisplay();
  const bar = verbose > 0 && display !== null ? await display(perEpoch * epochs, { epochs, bar: verbose === 1 }) : null;
  const logs: EpochLogs[] = [];
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const outputs = out === null ? 0 : size(out),
    width = takesLabels(lossFn) ? 1 : outputs;
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
      const tally = new Tally(meters);
      let lossSum = 0,
        seen = 0; // the weight of the losses summed (rows, unless lossWeight says otherwise)
      for (let b = 0; b < perEpoch; b++) {
        // per step, not per epoch: a callback may have switched the model to eval mode
        model.train();
        const { x, y } = gather(data, order.subarray(b * batchSize, Math.min(n, (b + 1) * batchSize)), width);
        const rows = x.shape[0];
        let logits: Tensor | null = null,
          dlogits: Tensor | null = null,
          target: Int32Array | Tensor | null = null;
        let loss: number, metrics: Record<string, number>;
        try {
          optimizer.zeroGrad();
          // a model with its own backward (Sequential, the layers) runs it untaped; a Module subclass
          // that writes only forward gets its gradients from the tape
          logits = manual ? untaped(() => model.forward(x)) : model.forward(x);
          target = targetOf(y, out!);
          loss = lossOf(lossFn, logits, target);
          dlogits = lossFn.backward();
          if (manual) untaped(() => model.backwardParams(dlogits!));
          else backwardFrom(where, logits, dlogits);
          optimizer.step();
          metrics = tally.add(logits.view(), y, outputs);
        } finally {
          logits?.dispose();
          dlogits?.dispose();
          if (target instanceof Tensor) target.dispose();
          x.dispose();
        }
        const w = lossWeight(lossFn, y, rows);
        if (w > 0) {
          lossSum += loss * w;
          seen += w;
        }
        step++;
        const stop = await callHooks(callbacks, 'onBatchEnd', { epoch, batch: b, step, loss, ...metrics });
        if (bar !== null) {
          const so = tally.means();
          bar.update(step, {
            loss: (seen > 0 ? lossSum / seen : 0).toFixed(4),
            acc: so.accuracy?.toFixed(3) ?? '-',
            metrics: Object.entries(so)
              .map(([k, v]) => ` | ${k} ${v.toFixed(4)}`)
              .join(''),
            speed: (step / Math.max(1e-3, (Date.now() - started) / 1000)).toFixed(0),
          });
        }
        if (stop) {
          stopped = true;
          break;
        }
      }
      const entry: EpochLogs = { epoch, loss: seen > 0 ? lossSum / seen : 0, ...tally.means() };
      if (validation !== undefined) {
        const v = measure(model, validation, nVal, out ?? [], batchSize, lossFn, meters);
        entry.valLoss = v.loss;
        Object.assign(entry, v.tally.means(true));
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

/** Options of evaluate() whose result holds `accuracy`: a classification loss and the default metrics. */
export interface EvaluateAccuracyOptions extends EvaluateOptions {
  /** CrossEntropyLoss (default) or NLLLoss, as a module or by name. */
  loss?: CrossEntropyLoss | NLLLoss | 'crossEntropy' | 'nllLoss';
  /** The default: ['accuracy']. */
  metrics?: undefined;
}

/** Mean loss and accuracy of `model` (in eval mode) on `data` with class labels. */
export function evaluate(model: Module, data: Dataset, options?: EvaluateAccuracyOptions): EvaluateResult & { accuracy: number };
/** Mean loss and every metric of `model` (in eval mode) on `data`. */
export function evaluate(model: Module, data: Dataset, options?: EvaluateOptions): EvaluateResult;
export function evaluate(model: Module, data: Dataset, options: EvaluateOptions = {}): EvaluateResult {
  const where = 'evaluate';
  checkModel(where, model);
  checkOptions(where, options, ['batchSize', 'loss', 'metrics']);
  const bs = options.batchSize === undefined ? 256 : checkBatchSize(where, options.batchSize);
  const lossFn = checkLoss(where, options.loss);
  const n = checkData(where, 'data', data, lossFn);
  const out = n > 0 ? outputShape(model, data, n) : null;
  if (out !== null) checkTargets(where, 'data', data, n, out, lossFn);
  const meters = resolveMetrics(where, options.metrics, taskOf(lossFn, out));
  const { loss, tally } = measure(model, data, n, out ?? [], bs, lossFn, meters);
  return { loss, ...tally.means() };
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
      using y = inferenceForward(model, xt);
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
