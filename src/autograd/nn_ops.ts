// Differentiable matrix products and losses of `F`, over the GEMM and loss kernels.
// see: https://pytorch.org/docs/stable/nn.functional.html
import { Tensor } from '../tensor';
import { out, record } from './functional';
import * as ew from '../kernels/elementwise';
import { matmul as gemm } from '../kernels/gemm';
import { runtime } from '../runtime/index';
import { checkTensor, describe } from '../validate';

/** a·b for a [m, k] and b [k, n]. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkTensor('F.matmul', 'a', a);
  checkTensor('F.matmul', 'b', b);
  if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[1] !== b.shape[0]) {
    throw new RangeError(`F.matmul: expected a [m, k] and b [k, n], got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  }
  const [m, k] = a.shape, n = b.shape[1];
  const y = out([m, n]);
  if (k === 0) y.view().fill(0);
  else gemm(a.ptr, b.ptr, y.ptr, m, n, k);
  return record(y, 'matmul', [a, b], (gy) => {
    const ga = Tensor.full([m, k], 0), gb = Tensor.full([k, n], 0);
    if (n > 0) {
      gemm(gy.ptr, b.ptr, ga.ptr, m, k, n, { transB: true }); // gy·bᵀ
      gemm(a.ptr, gy.ptr, gb.ptr, k, n, m, { transA: true }); // aᵀ·gy
    }
    return [ga, gb];
  });
}

/** x·wᵀ + b for x [..., in], w [out, in], b [out] (or null): PyTorch's F.linear. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const where = 'F.linear';
  checkTensor(where, 'x', x);
  checkTensor(where, 'weight', weight);
  if (bias !== null) checkTensor(where, 'bias', bias);
  const r = x.shape.length;
  if (weight.shape.length !== 2 || r < 1 || x.shape[r - 1] !== weight.shape[1]) {
    throw new RangeError(`${where}: expected x [..., in] and weight [out, in], got [${x.shape.join(', ')}] and [${weight.shape.join(', ')}]`);
  }
  const [o, i] = weight.shape;
  if (bias !== null && (bias.shape.length !== 1 || bias.shape[0] !== o)) throw new RangeError(`${where}: bias: expected shape [${o}], got [${bias.shape.join(', ')}]`);
  const rows = i === 0 ? x.shape.slice(0, -1).reduce((p, d) => p * d, 1) : x.size / i;
  const y = out([...x.shape.slice(0, -1), o]);
  if (i === 0) {
    y.view().fill(0);
    if (bias !== null) for (let q = 0; q < rows; q++) y.view().set(bias.view(), q * o);
  } else gemm(x.ptr, weight.ptr, y.ptr, rows, o, i, { transB: true, bias: bias === null ? 0 : bias.ptr });
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(y, 'linear', inputs, (gy) => {
    let gx: Tensor | null = null;
    if (x.requiresGrad) {
      gx = Tensor.full(x.shape, 0);
      if (o > 0 && i > 0) gemm(gy.ptr, weight.ptr, gx.ptr, rows, i, o); // gy·w
    }
    const gw = Tensor.full(weight.shape, 0);
    if (rows > 0 && i > 0) gemm(gy.ptr, x.ptr, gw.ptr, o, i, rows, { transA: true }); // gyᵀ·x
    const res: (Tensor | null)[] = [gx, gw];
    if (bias !== null) {
      const gb = Tensor.full([o], 0);
      ew.addColumnSums(gy.ptr, rows, o, gb.ptr);
      res.push(gb);
    }
    return res;
  });
}

/** Checks class labels: integers in [0, classes), one per row. Returns them as an Int32Array. */
function labelsOf(where: string, labels: unknown, n: number, classes: number): Int32Array {
  if (!(labels instanceof Int32Array || Array.isArray(labels) || labels instanceof Uint8Array)) {
    throw new TypeError(`${where}: target: expected an Int32Array or number[] of class indices, got ${describe(labels)}`);
  }
  const l = labels as ArrayLike<number>;
  if (l.length !== n) throw new RangeError(`${where}: target: expected ${n} labels (one per row), got ${l.length}`);
  for (let i = 0; i < n; i++) {
    if (!Number.isInteger(l[i]) || l[i] < 0 || l[i] >= classes) throw new RangeError(`${where}: target[${i}]: expected an integer class index in [0, ${classes}), got ${describe(l[i])}`);
  }
  return Int32Array.from(l);
}

export interface CrossEntropyOptions {
  /** Weight s of the uniform distribution mixed into the target: (1 − s)·onehot + s/C (default 0). */
  labelSmoothing?: number;
}

/** The mean softmax cross-entropy of logits [N, C] against class indices: a scalar tensor. */
export function crossEntropy(logits: Tensor, target: Int32Array | readonly number[], options: CrossEntropyOptions = {}): Tensor {
  const where = 'F.crossEntropy';
  checkTensor(where, 'input', logits);
  if (logits.shape.length !== 2) throw new RangeError(`${where}: input: expected logits [N, C], got [${logits.shape.join(', ')}]`);
  if (options === null || typeof options !== 'object') throw new TypeError(`${where}: options: expected an object, got ${describe(options)}`);
  for (const key of Object.keys(options)) if (key !== 'labelSmoothing') throw new TypeError(`${where}: unknown option '${key}' (expected one of labelSmoothing)`);
  const s = options.labelSmoothing ?? 0;
  if (typeof s !== 'number' || !(s >= 0 && s <= 1)) throw new RangeError(`${where}: labelSmoothing: expected a number in [0, 1], got ${describe(s)}`);
  const [n, c] = logits.shape;
  const labels = labelsOf(where, target, n, c);
  const rt = runtime();
  const lab = Tensor.empty([Math.max(n, 1)]);
  const dz = Tensor.empty(logits.shape);
  const y = out([]);
  try {
    rt.i32(lab.ptr, n).set(labels);
    y.view()[0] = rt.k.softmaxCrossEntropy(logits.ptr, lab.ptr, n, c, s, dz.ptr);
  } finally {
    lab.dispose();
  }
  return record(y, 'crossEntropy', [logits], (gy) => {
    const g = Tensor.empty(logits.shape);
    ew.scalar('mul', dz.ptr, gy.view()[0], g.ptr, g.size);
    return [g];
  }, () => dz.dispose());
}

/** The mean of (input − target)²: a scalar tensor. */
export function mseLoss(input: Tensor, target: Tensor): Tensor {
  const where = 'F.mseLoss';
  checkTensor(where, 'input', input);
  checkTensor(where, 'target', target);
  if (input.shape.join() !== target.shape.join()) throw new RangeError(`${where}: target: expected shape [${input.shape.join(', ')}] like input, got [${target.shape.join(', ')}]`);
  const dp = Tensor.empty(input.shape);
  const y = out([]);
  y.view()[0] = runtime().k.mseLoss(input.ptr, target.ptr, input.size, dp.ptr);
  return record(y, 'mseLoss', [input, target], (gy) => {
    const g = gy.view()[0];
    const gi = Tensor.empty(input.shape), gt = Tensor.empty(input.shape);
    ew.scalar('mul', dp.ptr, g, gi.ptr, gi.size);
    ew.scalar('mul', dp.ptr, -g, gt.ptr, gt.size);
    return [gi, gt];
  }, () => dp.dispose());
}
