// Differentiable softmax, log-softmax and losses of `F`. Cross-entropy without class weights or an
// ignored index runs as one fused kernel (log-sum-exp in f64, gradient in the same pass); the
// element-wise losses sum in f64 in index order, the same on every backend.
// see: https://pytorch.org/docs/stable/nn.functional.html#loss-functions
import { Tensor } from '../tensor';
import { guarded, out, record } from './functional';
import * as ew from '../kernels/elementwise';
import { around, softmax as softmaxKernel, softmaxBackward } from '../kernels/softmax';
import { softmaxCrossEntropy as softmaxCrossEntropyKernel } from '../kernels/loss';
import { checkOptions, checkTensor, describe } from '../validate';

/** How a loss reduces its per-element values: 'mean' (default), 'sum', or 'none' (one loss per element/row). */
export type Reduction = 'mean' | 'sum' | 'none';

/** Checks a reduction (default 'mean'); the loss classes, which return a number, take no 'none'. */
export function checkReduction(where: string, r: unknown, allowNone = true): Reduction {
  if (r === undefined) return 'mean';
  if (r === 'mean' || r === 'sum' || (allowNone && r === 'none')) return r;
  const want = allowNone ? "'mean', 'sum' or 'none'" : "'mean' or 'sum' (for a loss per element use the F function with 'none')";
  throw new TypeError(`${where}: reduction: expected ${want}, got ${describe(r)}`);
}

function axis(where: string, x: Tensor, dim: number): number {
  const r = x.shape.length;
  const d = dim < 0 ? dim + r : dim;
  if (!Number.isInteger(dim) || d < 0 || d >= r)
    throw new RangeError(`${where}: dim: expected an integer in [${-r}, ${r}), got ${describe(dim)}`);
  return d;
}

function softmaxOp(name: string, x: Tensor, dim: number, log: boolean): Tensor {
  const where = `F.${name}`;
  checkTensor(where, 'x', x);
  const { outer, c, inner } = around(x.shape, axis(where, x, dim));
  const y = out(x.shape);
  softmaxKernel(x.ptr, y.ptr, outer, c, inner, log);
  return record(y, name, [x], (gy) => {
    const g = Tensor.empty(x.shape);
    softmaxBackward(y.ptr, gy.ptr, g.ptr, outer, c, inner, log);
    return [g];
  });
}

/** e^x / Σ e^x along `dim` (default the last). */
export const softmax = (x: Tensor, dim = -1): Tensor => softmaxOp('softmax', x, dim, false);
/** x − log Σ e^x along `dim` (default the last). */
export const logSoftmax = (x: Tensor, dim = -1): Tensor => softmaxOp('logSoftmax', x, dim, true);

/** Checks class labels: one per row, integers in [0, classes) or `ignore`. */
function labelsOf(where: string, labels: unknown, n: number, classes: number, ignore: number): Int32Array {
  if (!(labels instanceof Int32Array || labels instanceof Uint8Array || Array.isArray(labels))) {
    throw new TypeError(`${where}: target: expected an Int32Array or number[] of class indices, got ${describe(labels)}`);
  }
  const l = labels as ArrayLike<number>;
  if (l.length !== n) throw new RangeError(`${where}: target: expected ${n} labels (one per row), got ${l.length}`);
  for (let i = 0; i < n; i++) {
    if (l[i] === ignore) continue;
    if (!Number.isInteger(l[i]) || l[i] < 0 || l[i] >= classes)
      throw new RangeError(`${where}: target[${i}]: expected an integer class index in [0, ${classes}), got ${describe(l[i])}`);
  }
  return Int32Array.from(l);
}

/** Options of F.nllLoss and NLLLoss (PyTorch's weight, ignore_index, reduction). */
export interface NLLOptions {
  /** A weight per class (f32[C]); default 1 each. */
  weight?: Tensor | null;
  /** Rows whose target is this index add nothing (default −100, PyTorch's). */
  ignoreIndex?: number;
  /** 'mean' (weighted mean over the rows not ignored; default), 'sum' or 'none' (a loss per row). */
  reduction?: Reduction;
}

function nllOptions(where: string, options: NLLOptions, c: number, extra: readonly string[] = []) {
  checkOptions(where, options, ['weight', 'ignoreIndex', 'reduction', ...extra]);
  const weight = options.weight ?? null;
  if (weight !== null) {
    checkTensor(where, 'weight', weight);
    if (weight.shape.length !== 1 || weight.shape[0] !== c)
      throw new RangeError(`${where}: weight: expected shape [${c}] (one per class), got [${weight.shape.join(', ')}]`);
  }
  const ignore = options.ignoreIndex ?? -100;
  if (!Number.isInteger(ignore)) throw new TypeError(`${where}: ignoreIndex: expected an integer, got ${describe(ignore)}`);
  const reduction = checkReduction(where, options.reduction);
  return { weight, ignore, reduction };
}

/** −logp[i, target_i]·w[target_i], reduced: PyTorch's F.nll_loss for input [N, C]. */
export function nllLoss(logp: Tensor, target: Int32Array | readonly number[], options: NLLOptions = {}): Tensor {
  return nll('F.nllLoss', logp, target, options);
}

function nll(
  where: string,
  logp: Tensor,
  target: Int32Array | readonly number[],
  options: NLLOptions,
  extra: readonly string[] = [],
): Tensor {
  checkTensor(where, 'input', logp);
  if (logp.shape.length !== 2) throw new RangeError(`${where}: input: expected [N, C], got [${logp.shape.join(', ')}]`);
  const [n, c] = logp.shape;
  const { weight, ignore, reduction } = nllOptions(where, options, c, extra);
  const labels = labelsOf(where, target, n, c, ignore);
  const w = weight === null ? null : weight.toArray();
  const coef = new Float64Array(n); // dL/dlogp[i, t_i] before the output gradient
  let total = 0,
    wsum = 0;
  const lp = logp.view();
  const per = reduction === 'none' ? out([n]) : null;
  for (let i = 0; i < n; i++) {
    const t = labels[i];
    if (t === ignore) continue;
    const wi = w === null ? 1 : w[t];
    total -= wi * lp[i * c + t];
    wsum += wi;
    coef[i] = -wi;
    if (per !== null) per.view()[i] = -wi * lp[i * c + t];
  }
  const scale = reduction === 'mean' ? 1 / wsum : 1;
  let y: Tensor;
  if (per !== null) y = per;
  else {
    y = out([]);
    y.view()[0] = reduction === 'mean' ? total / wsum : total;
  }
  return record(y, where.slice(2), [logp], (gy) => {
    const g = Tensor.full(logp.shape, 0);
    const G = g.view(),
      GY = gy.view();
    for (let i = 0; i < n; i++) if (coef[i] !== 0) G[i * c + labels[i]] = coef[i] * scale * (per !== null ? GY[i] : GY[0]);
    return [g];
  });
}

/** Options of F.crossEntropy and CrossEntropyLoss: NLLOptions plus label smoothing (PyTorch's label_smoothing). */
export interface CrossEntropyOptions extends NLLOptions {
  /** Weight s of the uniform distribution mixed into the target: (1 − s)·onehot + s/C (default 0). */
  labelSmoothing?: number;
}

/** Softmax cross-entropy of logits [N, C] against class indices (PyTorch's F.cross_entropy). */
export function crossEntropy(logits: Tensor, target: Int32Array | readonly number[], options: CrossEntropyOptions = {}): Tensor {
  const where = 'F.crossEntropy';
  checkTensor(where, 'input', logits);
  if (logits.shape.length !== 2) throw new RangeError(`${where}: input: expected logits [N, C], got [${logits.shape.join(', ')}]`);
  checkOptions(where, options, ['weight', 'ignoreIndex', 'reduction', 'labelSmoothing']);
  const s = options.labelSmoothing ?? 0;
  if (typeof s !== 'number' || !(s >= 0 && s <= 1))
    throw new RangeError(`${where}: labelSmoothing: expected a number in [0, 1], got ${describe(s)}`);
  const plain = (options.weight ?? null) === null && options.ignoreIndex === undefined && (options.reduction ?? 'mean') === 'mean';
  if (!plain) {
    if (s !== 0)
      throw new RangeError(`${where}: labelSmoothing with weight, ignoreIndex or reduction is not supported; give one or the other`);
    return nll(
      where,
      logSoftmax(logits, 1),
      target,
      { weight: options.weight, ignoreIndex: options.ignoreIndex, reduction: options.reduction },
      ['labelSmoothing'],
    );
  }
  const [n, c] = logits.shape;
  const labels = labelsOf(where, target, n, c, -100 - 2 ** 31);
  const dz = Tensor.empty(logits.shape);
  const y = guarded([dz], () => out([]));
  y.view()[0] = guarded([dz, y], () => softmaxCrossEntropyKernel(logits.ptr, labels, n, c, s, dz.ptr));
  return record(
    y,
    'crossEntropy',
    [logits],
    (gy) => {
      const g = Tensor.empty(logits.shape);
      ew.scalar('mul', dz.ptr, gy.view()[0], g.ptr, g.size);
      return [g];
    },
    () => dz.dispose(),
  );
}

/** An element-wise loss ℓ(p, t) with its derivative in p, reduced; the target gets −dℓ/dp where `symmetric`. */
function pointwise(
  name: string,
  input: Tensor,
  target: Tensor,
  reduction: Reduction,
  f: (p: number, t: number) => number,
  df: (p: number, t: number) => number,
  dt: ((p: number, t: number) => number) | null,
): Tensor {
  const where = `F.${name}`;
  checkTensor(where, 'input', input);
  checkTensor(where, 'target', target);
  if (input.shape.join() !== target.shape.join())
    throw new RangeError(`${where}: target: expected shape [${input.shape.join(', ')}] like input, got [${target.shape.join(', ')}]`);
  checkReduction(where, reduction);
  const P = input.view(),
    T = target.view(),
    n = input.size;
  let y: Tensor;
  if (reduction === 'none') {
    y = out(input.shape);
    const Y = y.view();
    for (let i = 0; i < n; i++) Y[i] = f(P[i], T[i]);
  } else {
    let s = 0;
    for (let i = 0; i < n; i++) s += f(P[i], T[i]);
    y = out([]);
    y.view()[0] = reduction === 'mean' ? s / n : s;
  }
  return record(y, name, [input, target], (gy) => {
    const gp = Tensor.empty(input.shape),
      gt = dt === null ? null : Tensor.empty(input.shape);
    const p = input.view(),
      t = target.view(),
      G = gy.view(),
      GP = gp.view(),
      GT = gt?.view();
    for (let i = 0; i < n; i++) {
      const g = reduction === 'none' ? G[i] : reduction === 'mean' ? G[0] / n : G[0];
      GP[i] = g * df(p[i], t[i]);
      if (GT !== undefined) GT[i] = g * dt!(p[i], t[i]);
    }
    return [gp, gt];
  });
}

/** Mean (or sum) of (input − target)². */
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return pointwise(
    'mseLoss',
    input,
    target,
    reduction,
    (p, t) => (p - t) ** 2,
    (p, t) => 2 * (p - t),
    (p, t) => -2 * (p - t),
  );
}

/** Mean (or sum) of |input − target|. */
export function l1Loss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return pointwise(
    'l1Loss',
    input,
    target,
    reduction,
    (p, t) => Math.abs(p - t),
    (p, t) => Math.sign(p - t),
    (p, t) => -Math.sign(p - t),
  );
}

/** Huber loss: ½d²/β where |d| < β, else |d| − ½β (PyTorch's smooth_l1_loss; β = 1 by default). */
export function smoothL1Loss(input: Tensor, target: Tensor, reduction: Reduction = 'mean', beta = 1): Tensor {
  if (typeof beta !== 'number' || !(beta >= 0)) throw new RangeError(`F.smoothL1Loss: beta: expected a number ≥ 0, got ${describe(beta)}`);
  const f = (p: number, t: number) => {
    const d = Math.abs(p - t);
    return d < beta ? (0.5 * d * d) / beta : d - 0.5 * beta;
  };
  const df = (p: number, t: number) => {
    const d = p - t;
    return Math.abs(d) < beta ? d / beta : Math.sign(d);
  };
  return pointwise('smoothL1Loss', input, target, reduction, f, df, (p, t) => -df(p, t));
}

/** Huber loss with δ: ½d² where |d| < δ, else δ(|d| − ½δ) (PyTorch's huber_loss). */
export function huberLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean', delta = 1): Tensor {
  if (typeof delta !== 'number' || !(delta > 0)) throw new RangeError(`F.huberLoss: delta: expected a number > 0, got ${describe(delta)}`);
  const f = (p: number, t: number) => {
    const d = Math.abs(p - t);
    return d < delta ? 0.5 * d * d : delta * (d - 0.5 * delta);
  };
  const df = (p: number, t: number) => {
    const d = p - t;
    return Math.abs(d) < delta ? d : delta * Math.sign(d);
  };
  return pointwise('huberLoss', input, target, reduction, f, df, (p, t) => -df(p, t));
}

/** Binary cross-entropy of probabilities: −(t·log p + (1 − t)·log(1 − p)), logs clamped at −100 as PyTorch. */
export function binaryCrossEntropy(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  const clog = (v: number) => Math.max(Math.log(v), -100);
  const eps = 1e-12; // PyTorch clamps the gradient's denominator the same way
  return pointwise(
    'binaryCrossEntropy',
    input,
    target,
    reduction,
    (p, t) => -(t * clog(p) + (1 - t) * clog(1 - p)),
    (p, t) => (p - t) / Math.max((1 - p) * p, eps),
    (p) => clog(1 - p) - clog(p),
  );
}

/** Binary cross-entropy on logits, stable for large |x|: max(x, 0) − x·t + log(1 + e^(−|x|)). */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  const sig = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
  return pointwise(
    'binaryCrossEntropyWithLogits',
    input,
    target,
    reduction,
    (x, t) => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x))),
    (x, t) => sig(x) - t,
    (x) => -x,
  );
}
