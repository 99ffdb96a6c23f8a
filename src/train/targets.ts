// What fit() and evaluate() train and measure against: the loss (a loss module or its name), the
// dataset's labels or float targets, checked against the model's outputs before any state moves,
// and the batches gathered from it.
import { noGrad, Tensor, tensor } from '../tensor';
import { Module } from '../nn/module';
import { BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, L1Loss, MSELoss, NLLLoss, SmoothL1Loss } from '../nn/loss';
import { describe, kindOf } from '../validate';
import type { Task } from './metrics';

/**
 * Samples stored flat: x holds n samples of `shape`; y one Int32Array class label per sample (for
 * CrossEntropyLoss, NLLLoss) or, for the other losses, a Float32Array of n × the model's outputs per
 * sample (the outputs' shape, flat).
 */
export interface Dataset {
  /** n samples of `shape`, stored flat. */
  x: Float32Array;
  /** n class labels (Int32Array), or n × outputs float targets (Float32Array), by the loss. */
  y: Int32Array | Float32Array;
  /** The shape of one sample (e.g. [784] or [1, 28, 28]). */
  shape: readonly number[];
}

/** A loss fit() and evaluate() can train or measure with. */
export type FitLoss = CrossEntropyLoss | NLLLoss | MSELoss | L1Loss | SmoothL1Loss | HuberLoss | BCELoss | BCEWithLogitsLoss;

/** A loss by name (a new module with its defaults): the F function's name, or Keras's 'mse' and 'mae'. */
export type LossName =
  | 'crossEntropy'
  | 'nllLoss'
  | 'mse'
  | 'mseLoss'
  | 'mae'
  | 'l1Loss'
  | 'smoothL1Loss'
  | 'huberLoss'
  | 'binaryCrossEntropy'
  | 'binaryCrossEntropyWithLogits';

const BY_NAME: Record<LossName, new () => FitLoss> = {
  crossEntropy: CrossEntropyLoss,
  nllLoss: NLLLoss,
  mse: MSELoss,
  mseLoss: MSELoss,
  mae: L1Loss,
  l1Loss: L1Loss,
  smoothL1Loss: SmoothL1Loss,
  huberLoss: HuberLoss,
  binaryCrossEntropy: BCELoss,
  binaryCrossEntropyWithLogits: BCEWithLogitsLoss,
};
const CLASSES = [CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, SmoothL1Loss, HuberLoss, BCELoss, BCEWithLogitsLoss];

/** `loss` as a module (default a new CrossEntropyLoss). */
export function checkLoss(where: string, v: unknown): FitLoss {
  if (v === undefined) return new CrossEntropyLoss();
  if (typeof v === 'string' && Object.hasOwn(BY_NAME, v)) return new BY_NAME[v as LossName]();
  if (!CLASSES.some((c) => v instanceof c))
    throw new TypeError(
      `${where}: loss: expected a CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, SmoothL1Loss, HuberLoss, BCELoss or BCEWithLogitsLoss, ` +
        `or one of ${Object.keys(BY_NAME)
          .map((k) => `'${k}'`)
          .join(', ')}; got ${describe(v)}`,
    );
  return v as FitLoss;
}

/** Whether `loss` takes Int32Array class labels (else float targets of the output's shape). */
export function takesLabels(loss: FitLoss): loss is CrossEntropyLoss | NLLLoss {
  return loss instanceof CrossEntropyLoss || loss instanceof NLLLoss;
}

/** The loss's public class name (a user's subclass reports the loss it extends). */
export function lossName(loss: FitLoss): string {
  return kindOf(CLASSES.find((c) => loss instanceof c));
}

/** The loss of `out` against labels or a target tensor; keeps dL/dout in the loss for backward(). */
export function lossOf(loss: FitLoss, out: Tensor, y: Int32Array | Tensor): number {
  return takesLabels(loss) ? loss.forward(out, y as Int32Array) : loss.forward(out, y as Tensor);
}

/**
 * What a batch's mean loss is weighted by in an epoch's mean: its rows, or for a class loss with
 * class weights or ignored labels, the weight of its rows (PyTorch's denominator of 'mean'), so that
 * the epoch's loss is the whole set's whatever the batches.
 */
export function lossWeight(loss: FitLoss, y: Int32Array | Float32Array, rows: number): number {
  if (!takesLabels(loss) || loss.reduction !== 'mean') return rows;
  const w = loss.weight?.view() ?? null;
  let sum = 0;
  for (let i = 0; i < y.length; i++) if (y[i] !== loss.ignoreIndex) sum += w === null ? 1 : w[y[i]];
  return sum;
}

/** What the metrics measure on: `out` is one sample's output shape (null: no sample to tell). */
export function taskOf(loss: FitLoss, out: readonly number[] | null): Task {
  const labels = takesLabels(loss);
  return {
    labels,
    loss: lossName(loss),
    outputs: out && out.reduce((a, b) => a * b, 1),
    ignoreIndex: labels ? loss.ignoreIndex : undefined,
  };
}

/** The targets of a batch as the loss takes them: the labels, or a tensor [rows, ...out] (the caller frees it). */
export function targetOf(y: Int32Array | Float32Array, out: readonly number[]): Int32Array | Tensor {
  return y instanceof Int32Array ? y : tensor(y, [y.length / out.reduce((a, b) => a * b, 1), ...out]);
}

/** Checks `d`'s fields and the kind of its targets for `loss`; returns the sample count. */
export function checkData(where: string, name: string, d: Dataset, loss: FitLoss): number {
  if (d === null || typeof d !== 'object') throw new TypeError(`${where}: ${name}: expected { x, y, shape }, got ${describe(d)}`);
  if (!(d.x instanceof Float32Array)) throw new TypeError(`${where}: ${name}.x: expected a Float32Array, got ${describe(d.x)}`);
  const labels = takesLabels(loss);
  if (labels && !(d.y instanceof Int32Array))
    throw new TypeError(`${where}: ${name}.y: expected an Int32Array of class labels (for ${lossName(loss)}), got ${describe(d.y)}`);
  if (!labels && !(d.y instanceof Float32Array))
    throw new TypeError(
      `${where}: ${name}.y: expected a Float32Array of targets shaped as the outputs (for ${lossName(loss)}), got ${describe(d.y)}`,
    );
  checkSampleShape(where, `${name}.shape`, d.shape);
  const per = d.shape.reduce((a, b) => a * b, 1);
  if (labels) {
    if (d.x.length !== d.y.length * per)
      throw new RangeError(
        `${where}: ${name}: x has ${d.x.length} values, but ${d.y.length} labels × shape [${d.shape.join(', ')}] need ${d.y.length * per}`,
      );
    return d.y.length;
  }
  if (d.x.length % per !== 0)
    throw new RangeError(`${where}: ${name}.x: expected whole samples of shape [${d.shape.join(', ')}], got ${d.x.length} values`);
  const n = d.x.length / per;
  if (n === 0 ? d.y.length !== 0 : d.y.length === 0 || d.y.length % n !== 0)
    throw new RangeError(`${where}: ${name}.y: expected the same number of targets for each of x's ${n} samples, got ${d.y.length} values`);
  return n;
}

/** Values of y per sample: 1 label, or the targets of one sample. */
export function widthOf(d: Dataset, n: number): number {
  return d.y instanceof Int32Array ? 1 : n === 0 ? 0 : d.y.length / n;
}

/** A shape of samples: an array of positive integers whose product stays a safe integer. */
export function checkSampleShape(where: string, name: string, shape: unknown): number[] {
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

/**
 * The shape of one sample's outputs, from a forward in eval mode (which moves no state), so that
 * targets are checked before a training step moves BatchNorm statistics, counters or gradients. Two
 * samples where there are two: a BatchNorm without running statistics normalizes by the batch's in eval mode.
 */
export function outputShape(model: Module, d: Dataset, n: number): number[] {
  const wasTraining = model.training;
  model.eval();
  const { x } = gather(d, n > 1 ? [0, 1] : [0], widthOf(d, n));
  try {
    const out = noGrad(() => model.forward(x));
    try {
      return out.shape.slice(1);
    } finally {
      out.dispose();
    }
  } finally {
    x.dispose();
    model.train(wasTraining);
  }
}

/** Throws unless `d`'s targets fit outputs of shape `out` per sample: labels in [0, classes), or as many targets. */
export function checkTargets(where: string, name: string, d: Dataset, n: number, out: readonly number[], loss: FitLoss): void {
  if (takesLabels(loss)) {
    if (out.length !== 1)
      throw new RangeError(
        `${where}: model: expected outputs [N, classes] for ${lossName(loss)}, got an output of shape [N, ${out.join(', ')}]`,
      );
    const classes = out[0],
      ignore = loss.ignoreIndex;
    for (let i = 0; i < d.y.length; i++) {
      const v = d.y[i];
      if ((v < 0 || v >= classes) && v !== ignore)
        throw new RangeError(`${where}: ${name}.y[${i}]: expected a class in [0, ${classes}) (the model's outputs), got ${v}`);
    }
    return;
  }
  const per = out.reduce((a, b) => a * b, 1);
  if (d.y.length !== n * per)
    throw new RangeError(
      `${where}: ${name}.y: expected ${n} × ${per} = ${n * per} targets (outputs of shape [${out.join(', ')}] per sample), got ${d.y.length}`,
    );
}

/** Copies samples `idx` of `d` into a tensor [idx.length, ...shape] and their labels or targets (`width` per sample). */
export function gather(d: Dataset, idx: ArrayLike<number>, width: number): { x: Tensor; y: Int32Array | Float32Array } {
  const per = d.shape.reduce((a, b) => a * b, 1);
  const xs = new Float32Array(idx.length * per);
  const ys = d.y instanceof Int32Array ? new Int32Array(idx.length) : new Float32Array(idx.length * width);
  for (let i = 0; i < idx.length; i++) {
    xs.set(d.x.subarray(idx[i] * per, idx[i] * per + per), i * per);
    if (width === 1) ys[i] = d.y[idx[i]];
    else ys.set(d.y.subarray(idx[i] * width, idx[i] * width + width), i * width);
  }
  return { x: tensor(xs, [idx.length, ...d.shape]), y: ys };
}

/** The first samples of `d` for training and the last `split` of them for validation (Keras's split). */
export function splitData(where: string, d: Dataset, n: number, split: unknown): [Dataset, Dataset] {
  if (typeof split !== 'number' || !(split > 0 && split < 1))
    throw new RangeError(`${where}: validationSplit: expected a number in (0, 1), got ${describe(split)}`);
  // see: keras/src/trainers/data_adapters/data_adapter_utils.py (train_validation_split: floor of n·(1 − split))
  const at = Math.floor(n * (1 - split));
  if (at === 0 || at === n)
    throw new RangeError(`${where}: validationSplit: ${split} of ${n} samples leaves ${at === 0 ? 'no training' : 'no validation'} sample`);
  const per = d.shape.reduce((a, b) => a * b, 1),
    w = widthOf(d, n);
  return [
    { x: d.x.subarray(0, at * per), y: d.y.subarray(0, at * w), shape: d.shape },
    { x: d.x.subarray(at * per), y: d.y.subarray(at * w), shape: d.shape },
  ];
}

/** True when the model has its own backward (the package's layers, Sequential); false for a Module subclass that writes only forward. */
export function hasOwnBackward(m: Module): boolean {
  return m.backward !== Module.prototype.backward || m.backwardParams !== Module.prototype.backwardParams;
}

/** The tape's backward from the model's output, given dL/d(output). */
export function backwardFrom(where: string, out: Tensor, grad: Tensor): void {
  if (out.gradFn === null)
    throw new Error(
      `${where}: model: its forward recorded nothing on the tape (no parameter requires a gradient), so there is nothing to train`,
    );
  out.backward(grad);
}
