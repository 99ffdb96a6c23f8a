// The metrics fit() and evaluate() report beside the loss: each sums a per-batch value and a count
// so that an epoch's figure is the mean over its samples (or elements), whatever the batch sizes.
// see: https://keras.io/api/metrics/ (accuracy, binary_accuracy, mae, mse, top_k_categorical_accuracy)
import { describe } from '../validate';

/**
 * A metric by name: `'accuracy'`, `'binaryAccuracy'`, `'mae'` (mean |output − target|), `'mse'` (mean
 * squared error). As Keras, 'accuracy' is argmax against the labels; under a BCE loss the binary
 * accuracy; on other float targets argmax against argmax (one-hot targets). The binary ones threshold
 * BCEWithLogitsLoss outputs (logits) at 0 and other outputs at 0.5; a target counts as 1 above 0.5.
 */
export type MetricName = 'accuracy' | 'binaryAccuracy' | 'mae' | 'mse';
/** A metric of fit() and evaluate(): a name, or `{ topK: k }` (the label among the k largest outputs; logged as `top${k}Accuracy`). */
export type Metric = MetricName | { topK: number };
/** The name a metric is logged under: its own name, or `top5Accuracy` for `{ topK: 5 }`. */
export type MetricKey = MetricName | `top${number}Accuracy`;

const NAMES: readonly MetricName[] = ['accuracy', 'binaryAccuracy', 'mae', 'mse'];

/** What the metrics are measured on: class labels or float targets, and the loss they go with. */
export interface Task {
  /** Int32Array class labels (CrossEntropyLoss, NLLLoss) rather than float targets of the output's shape. */
  labels: boolean;
  /** The loss's class name, for error messages and the binary rules. */
  loss: string;
  /** Outputs per sample (null when there is no sample to tell). */
  outputs: number | null;
  /** A label that counts for nothing (the loss's ignoreIndex). */
  ignoreIndex?: number;
}

/** One metric ready to measure: its log key and the sum and count it adds for a batch. */
export interface Meter {
  /** The key in the logs (`accuracy`, `mae`, `top5Accuracy`, …). */
  key: string;
  /** [sum, count] of the batch: `out` holds rows × outputs values, `y` its labels or targets. */
  batch(out: Float32Array, y: Int32Array | Float32Array, outputs: number): [number, number];
}

/** The key a metric's validation value is logged under: `valAccuracy`, `valMae`, `valTop5Accuracy`. */
export function valKey(key: string): string {
  return `val${key[0].toUpperCase()}${key.slice(1)}`;
}

/** Whether `key` names a metric's log (`accuracy`, `mae`, `top3Accuracy`, …). */
export function isMetricKey(key: string): boolean {
  return (NAMES as readonly string[]).includes(key) || /^top[1-9]\d*Accuracy$/.test(key);
}

function argmax(a: ArrayLike<number>, at: number, c: number): number {
  let best = 0;
  for (let j = 1; j < c; j++) if (a[at + j] > a[at + best]) best = j;
  return best;
}

/** Row-wise hits: argmax of the outputs equals the label (rows labelled `ignore` count for nothing). */
function labelAccuracy(ignore: number | undefined): Meter['batch'] {
  return (out, y, c) => {
    let hits = 0,
      count = 0;
    for (let i = 0; i < y.length; i++) {
      if (y[i] === ignore) continue;
      count++;
      if (argmax(out, i * c, c) === y[i]) hits++;
    }
    return [hits, count];
  };
}

/** Rows whose label's output is among the k largest; ties at the boundary count as in (tf.math.in_top_k). */
function topK(k: number, ignore: number | undefined): Meter['batch'] {
  return (out, y, c) => {
    let hits = 0,
      count = 0;
    for (let i = 0; i < y.length; i++) {
      if (y[i] === ignore) continue;
      count++;
      const v = out[i * c + y[i]];
      let above = 0;
      for (let j = 0; j < c; j++) if (out[i * c + j] > v) above++;
      if (above < k) hits++;
    }
    return [hits, count];
  };
}

/** Element-wise: output above `threshold` agrees with a target above 0.5. */
function binaryAccuracy(threshold: number): Meter['batch'] {
  return (out, y) => {
    let hits = 0;
    for (let i = 0; i < y.length; i++) if (out[i] > threshold === y[i] > 0.5) hits++;
    return [hits, y.length];
  };
}

/** Row-wise: argmax of the outputs equals argmax of the (one-hot or soft) targets. */
const categoricalAccuracy: Meter['batch'] = (out, y, c) => {
  let hits = 0;
  const rows = y.length / c;
  for (let i = 0; i < rows; i++) if (argmax(out, i * c, c) === argmax(y, i * c, c)) hits++;
  return [hits, rows];
};

const absError: Meter['batch'] = (out, y) => {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += Math.abs(out[i] - y[i]);
  return [s, y.length];
};

const squaredError: Meter['batch'] = (out, y) => {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += (out[i] - y[i]) ** 2;
  return [s, y.length];
};

const BINARY = ['BCELoss', 'BCEWithLogitsLoss'];

/**
 * The meters of `metrics` (default: accuracy for class labels, none for float targets). 'accuracy'
 * follows Keras: argmax against labels; with a BCE loss, the binary accuracy; with another loss on
 * float targets, argmax against argmax (one-hot targets). binaryAccuracy thresholds the outputs at
 * 0 (logits) under BCEWithLogitsLoss and at 0.5 (probabilities) otherwise.
 */
export function resolveMetrics(where: string, metrics: unknown, task: Task): Meter[] {
  if (metrics === undefined) metrics = task.labels ? ['accuracy'] : [];
  if (!Array.isArray(metrics))
    throw new TypeError(`${where}: metrics: expected an array of metrics ('accuracy', 'mae', { topK: 5 }, …), got ${describe(metrics)}`);
  const threshold = task.loss === 'BCEWithLogitsLoss' ? 0 : 0.5;
  const meters: Meter[] = [];
  metrics.forEach((m: unknown, i) => {
    const at = `${where}: metrics[${i}]`;
    const meter = ((): Meter => {
      if (m !== null && typeof m === 'object' && !Array.isArray(m)) {
        const k = (m as { topK?: unknown }).topK;
        if (Object.keys(m).length !== 1 || typeof k !== 'number' || !Number.isSafeInteger(k) || k < 1)
          throw new TypeError(`${at}: expected { topK: a positive integer }, got ${describeMetric(m)}`);
        if (!task.labels) throw new TypeError(`${at}: topK needs Int32Array class labels, but ${task.loss} trains on float targets`);
        return { key: `top${k}Accuracy`, batch: topK(k, task.ignoreIndex) };
      }
      if (!NAMES.includes(m as MetricName))
        throw new TypeError(`${at}: expected one of ${NAMES.map((n) => `'${n}'`).join(', ')} or { topK: k }, got ${describe(m)}`);
      const name = m as MetricName;
      if (task.labels) {
        if (name !== 'accuracy')
          throw new TypeError(
            `${at}: '${name}' needs float targets, but ${task.loss} trains on class labels (try 'accuracy' or { topK: k })`,
          );
        return { key: name, batch: labelAccuracy(task.ignoreIndex) };
      }
      if (name === 'mae') return { key: name, batch: absError };
      if (name === 'mse') return { key: name, batch: squaredError };
      if (name === 'binaryAccuracy' || BINARY.includes(task.loss)) return { key: name, batch: binaryAccuracy(threshold) };
      if (task.outputs === 1)
        throw new TypeError(
          `${at}: 'accuracy' on one output per sample needs a BCE loss (or 'binaryAccuracy'); ${task.loss} is a regression loss`,
        );
      return { key: name, batch: categoricalAccuracy };
    })();
    if (meters.some((o) => o.key === meter.key)) throw new TypeError(`${at}: '${meter.key}' is listed twice`);
    meters.push(meter);
  });
  return meters;
}

function describeMetric(m: object): string {
  try {
    return JSON.stringify(m);
  } catch {
    return describe(m);
  }
}

/** Running sums and counts of a list of meters over an epoch (or an evaluation). */
export class Tally {
  private readonly sums: Float64Array;
  private readonly counts: Float64Array;
  constructor(readonly meters: readonly Meter[]) {
    this.sums = new Float64Array(meters.length);
    this.counts = new Float64Array(meters.length);
  }

  /** Adds a batch; returns its own metric values by key (for BatchLogs). */
  add(out: Float32Array, y: Int32Array | Float32Array, outputs: number): Record<string, number> {
    const batch: Record<string, number> = {};
    this.meters.forEach((m, i) => {
      const [s, c] = m.batch(out, y, outputs);
      this.sums[i] += s;
      this.counts[i] += c;
      batch[m.key] = c > 0 ? s / c : 0;
    });
    return batch;
  }

  /** The means so far by key (with `val`: under valAccuracy, valMae, …). */
  means(val = false): Record<string, number> {
    const out: Record<string, number> = {};
    this.meters.forEach((m, i) => (out[val ? valKey(m.key) : m.key] = this.counts[i] > 0 ? this.sums[i] / this.counts[i] : 0));
    return out;
  }
}
