// Keras-like callbacks for fit(): objects with hooks called at the start and end of training, and
// after each batch and epoch. EarlyStopping stops when a monitored value stops improving;
// ModelCheckpoint hands the model's safetensors bytes to the user whenever it improves.
// see: https://keras.io/api/callbacks/ (EarlyStopping, ModelCheckpoint)
import type { Module, StateDict } from '../nn/module';
import { saveSafetensors } from '../io/model';
import { checkBool, checkOneOf, checkOptions, describe } from '../validate';
import type { BatchLogs, EpochLogs } from './fit';
import { isMetricKey, valKey, type MetricKey } from './metrics';

/** What fit() tells a callback when training begins. */
export interface TrainInfo {
  /** The number of epochs fit() was asked for. */
  epochs: number;
  /** Whether the epoch logs will hold valLoss and the metrics' val… values. */
  validation: boolean;
  /** The keys of the metrics the epoch logs will hold (`accuracy`, `mae`, …); absent: ['accuracy']. */
  metrics?: readonly string[];
}

/** A callback object: every hook is optional; onBatchEnd or onEpochEnd returning true stops training. */
export interface Callback {
  /** Before the first step; may throw to refuse the run (nothing has moved yet). */
  onTrainBegin?(model: Module, info: TrainInfo): void | Promise<void>;
  /** After each step; return true to stop training. */
  onBatchEnd?(logs: BatchLogs): boolean | void | Promise<boolean | void>;
  /** After each epoch (with validation logs when there is validation data); return true to stop. */
  onEpochEnd?(logs: EpochLogs): boolean | void | Promise<boolean | void>;
  /** After the last epoch, with every epoch's logs. */
  onTrainEnd?(logs: EpochLogs[]): void | Promise<void>;
}

export const CALLBACK_HOOKS = ['onTrainBegin', 'onBatchEnd', 'onEpochEnd', 'onTrainEnd'] as const;

/** The epoch log a callback watches: the loss or a metric's key (`accuracy`, `mae`, `top5Accuracy`), or either's `val…` key. */
export type Monitor = 'loss' | 'valLoss' | MetricKey | `val${Capitalize<MetricKey>}`;
const MODES = ['min', 'max', 'auto'] as const;

/** The key without its `val` prefix ('valTop5Accuracy' → 'top5Accuracy'); null when `key` is no log key. */
function baseKey(key: string): string | null {
  if (key === 'loss' || isMetricKey(key)) return key;
  const base = key.startsWith('val') ? `${key[3]?.toLowerCase()}${key.slice(4)}` : '';
  return (base === 'loss' || isMetricKey(base)) && valKey(base) === key ? base : null;
}

/** The monitored value and whether larger is better ('auto': accuracies grow, losses and errors fall). */
function checkMonitor(where: string, monitor: unknown, mode: unknown): { monitor: Monitor; max: boolean } {
  const m = monitor ?? 'valLoss';
  if (typeof m !== 'string' || baseKey(m) === null)
    throw new TypeError(
      `${where}: monitor: expected 'loss', a metric's key ('accuracy', 'binaryAccuracy', 'mae', 'mse', 'top5Accuracy') ` +
        `or either with the val prefix ('valLoss', 'valAccuracy', 'valMae', …), got ${describe(m)}`,
    );
  const md = checkOneOf(where, 'mode', mode ?? 'auto', MODES);
  return { monitor: m as Monitor, max: md === 'max' || (md === 'auto' && m.endsWith('ccuracy')) };
}

/** Throws before the first step when the monitored value will never be in the logs. */
function checkLogsHold(where: string, monitor: Monitor, info: TrainInfo): void {
  if (monitor.startsWith('val') && !info.validation)
    throw new Error(`${where}: monitor: '${monitor}' needs validation data (fit's validation or validationSplit option)`);
  const base = baseKey(monitor)!,
    metrics = info.metrics ?? ['accuracy'];
  if (base !== 'loss' && !metrics.includes(base))
    throw new Error(
      `${where}: monitor: '${monitor}' needs '${base}' among fit's metrics, which are ${metrics.length > 0 ? metrics.map((k) => `'${k}'`).join(', ') : 'none'}`,
    );
}

/** Options of EarlyStopping (Keras' names and defaults). */
export interface EarlyStoppingOptions {
  /** Default 'valLoss'. */
  monitor?: Monitor;
  /** Epochs without improvement before stopping. Default 0. */
  patience?: number;
  /** The least change that counts as an improvement. Default 0. */
  minDelta?: number;
  /** Default 'auto': 'max' for the accuracies, 'min' for the loss, mae and mse. */
  mode?: 'min' | 'max' | 'auto';
  /** Load back the state of the best epoch when training ends. Default false. */
  restoreBestWeights?: boolean;
}

/** Stops fit() once the monitored value has not improved for `patience` epochs. */
export class EarlyStopping implements Callback {
  /** The epoch log watched. */
  readonly monitor: Monitor;
  /** Epochs without improvement before stopping. */
  readonly patience: number;
  /** The smallest change that counts as an improvement. */
  readonly minDelta: number;
  /** Whether lower ('min') or higher ('max') is better ('auto' resolved by the monitor). */
  readonly mode: 'min' | 'max';
  /** Load the best epoch's state back when training ends. */
  readonly restoreBestWeights: boolean;
  /** The best monitored value so far (NaN before the first epoch). */
  best = NaN;
  /** The epoch of the best value (-1: none yet). */
  bestEpoch = -1;
  /** The epoch training stopped at (-1: it did not stop early). */
  stoppedEpoch = -1;
  private wait = 0;
  private model: Module | null = null;
  private bestState: StateDict | null = null;

  constructor(options: EarlyStoppingOptions = {}) {
    const where = 'EarlyStopping';
    checkOptions(where, options, ['monitor', 'patience', 'minDelta', 'mode', 'restoreBestWeights']);
    const { monitor, max } = checkMonitor(where, options.monitor, options.mode);
    const patience = options.patience ?? 0;
    if (typeof patience !== 'number' || !Number.isSafeInteger(patience) || patience < 0)
      throw new RangeError(`${where}: patience: expected a non-negative integer, got ${describe(patience)}`);
    const minDelta = options.minDelta ?? 0;
    if (typeof minDelta !== 'number' || !(minDelta >= 0) || minDelta === Infinity)
      throw new RangeError(`${where}: minDelta: expected a finite number ≥ 0, got ${describe(minDelta)}`);
    this.monitor = monitor;
    this.mode = max ? 'max' : 'min';
    this.patience = patience;
    this.minDelta = minDelta;
    this.restoreBestWeights = checkBool(where, 'restoreBestWeights', options.restoreBestWeights ?? false);
  }

  /** Keeps the model and checks the monitor has data. */
  onTrainBegin(model: Module, info: TrainInfo): void {
    checkLogsHold('EarlyStopping', this.monitor, info);
    this.model = model;
    this.best = this.mode === 'max' ? -Infinity : Infinity;
    this.bestEpoch = this.stoppedEpoch = -1;
    this.wait = 0;
    this.bestState = null;
  }

  /** Records the epoch's value; returns true to stop. */
  onEpochEnd(logs: EpochLogs): boolean {
    const current = logs[this.monitor] as number;
    // Keras 3's rule: an improvement beats the best by more than minDelta; the first epoch always does
    // see: https://github.com/keras-team/keras/blob/master/keras/src/callbacks/early_stopping.py
    const better = this.mode === 'max' ? current - this.minDelta > this.best : current + this.minDelta < this.best;
    this.wait++;
    if (better) {
      this.best = current;
      this.bestEpoch = logs.epoch;
      if (this.restoreBestWeights) this.bestState = this.model!.stateDict();
      this.wait = 0;
      return false;
    }
    if (this.wait >= this.patience) {
      this.stoppedEpoch = logs.epoch;
      return true;
    }
    return false;
  }

  /** Ends the run (EarlyStopping restores the best weights when asked). */
  onTrainEnd(): void {
    if (this.restoreBestWeights && this.bestState !== null) this.model!.loadStateDict(this.bestState);
    this.bestState = null;
    this.model = null;
  }
}

/** Options of ModelCheckpoint. */
export interface ModelCheckpointOptions {
  /** Default 'valLoss'. */
  monitor?: Monitor;
  /** Default 'auto': 'max' for the accuracies, 'min' for the loss, mae and mse. */
  mode?: 'min' | 'max' | 'auto';
  /** Save only when the monitored value improves (default), or after every epoch. */
  saveBestOnly?: boolean;
  /** Receives the model as safetensors bytes (saveSafetensors) and the epoch; writes them where it likes. */
  onSave: (bytes: Uint8Array, epoch: number) => void | Promise<void>;
}

/** Hands the model's safetensors bytes to `onSave` after each epoch whose monitored value improved. */
export class ModelCheckpoint implements Callback {
  /** The epoch log watched. */
  readonly monitor: Monitor;
  /** Whether lower ('min') or higher ('max') is better ('auto' resolved by the monitor). */
  readonly mode: 'min' | 'max';
  /** Save only when the monitored value improved (false: every epoch). */
  readonly saveBestOnly: boolean;
  /** The best monitored value so far (NaN before the first epoch). */
  best = NaN;
  private readonly onSave: ModelCheckpointOptions['onSave'];
  private model: Module | null = null;

  constructor(options: ModelCheckpointOptions) {
    const where = 'ModelCheckpoint';
    checkOptions(where, options, ['monitor', 'mode', 'saveBestOnly', 'onSave']);
    const { monitor, max } = checkMonitor(where, options.monitor, options.mode);
    if (typeof options.onSave !== 'function')
      throw new TypeError(`${where}: onSave: expected a function (bytes, epoch) => void, got ${describe(options.onSave)}`);
    this.saveBestOnly = checkBool(where, 'saveBestOnly', options.saveBestOnly ?? true);
    this.monitor = monitor;
    this.mode = max ? 'max' : 'min';
    this.onSave = options.onSave;
  }

  /** Keeps the model and checks the monitor has data. */
  onTrainBegin(model: Module, info: TrainInfo): void {
    if (this.saveBestOnly) checkLogsHold('ModelCheckpoint', this.monitor, info);
    this.model = model;
    this.best = this.mode === 'max' ? -Infinity : Infinity;
  }

  /** Hands the model's bytes to onSave when the value improved (or every epoch). */
  async onEpochEnd(logs: EpochLogs): Promise<void> {
    const current = logs[this.monitor] as number;
    const better = this.mode === 'max' ? current > this.best : current < this.best;
    if (better) this.best = current;
    if (better || !this.saveBestOnly) await this.onSave(saveSafetensors(this.model!), logs.epoch);
  }

  /** Ends the run (EarlyStopping restores the best weights when asked). */
  onTrainEnd(): void {
    this.model = null;
  }
}

const OBJECT_KEYS: readonly string[] = CALLBACK_HOOKS;

/** fit's `callbacks`: one object of hooks, or an array of callback objects; returned as a list. */
export function checkCallbacks(where: string, v: unknown): Callback[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) {
    v.forEach((cb, i) => {
      if (cb === null || typeof cb !== 'object')
        throw new TypeError(
          `${where}: callbacks[${i}]: expected a callback object (EarlyStopping, ModelCheckpoint, { onEpochEnd, … }), got ${describe(cb)}`,
        );
      checkHooks(`${where}: callbacks[${i}]`, cb);
    });
    return [...(v as Callback[])];
  }
  if (v === null || typeof v !== 'object')
    throw new TypeError(
      `${where}: callbacks: expected an object { onBatchEnd?, onEpochEnd? } or an array of callbacks, got ${describe(v)}`,
    );
  for (const key of Object.keys(v)) {
    if (!OBJECT_KEYS.includes(key))
      throw new TypeError(`${where}: callbacks: unknown callback '${key}' (expected one of ${OBJECT_KEYS.join(', ')})`);
  }
  checkHooks(`${where}: callbacks`, v);
  return [v as Callback];
}

function checkHooks(prefix: string, cb: object): void {
  for (const hook of CALLBACK_HOOKS) {
    const f = (cb as Record<string, unknown>)[hook];
    if (f !== undefined && typeof f !== 'function') throw new TypeError(`${prefix}.${hook}: expected a function, got ${describe(f)}`);
  }
}

/** Calls `hook` of every callback in turn; true when any asks to stop. */
export async function callHooks<K extends 'onBatchEnd' | 'onEpochEnd'>(
  callbacks: readonly Callback[],
  hook: K,
  logs: Parameters<NonNullable<Callback[K]>>[0],
): Promise<boolean> {
  let stop = false;
  for (const cb of callbacks) {
    const f = cb[hook] as ((logs: unknown) => unknown) | undefined;
    if (f !== undefined && (await f.call(cb, logs)) === true) stop = true;
  }
  return stop;
}
