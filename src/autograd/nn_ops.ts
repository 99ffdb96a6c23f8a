// Differentiable matrix products of `F`, over the GEMM kernels.
// see: https://pytorch.org/docs/stable/nn.functional.html
import { Tensor } from '../tensor';
import { gradSink, guarded, out, record, type GradSink } from './functional';
import { track } from './engine';
import { addColumnSums } from '../kernels/reduce';
import { matmul as gemm } from '../kernels/gemm';
import { checkTensor } from '../validate';

/** a·b for a [m, k] and b [k, n]. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkTensor('F.matmul', 'a', a);
  checkTensor('F.matmul', 'b', b);
  if (a.shape.length !== 2 || b.shape.length !== 2 || a.shape[1] !== b.shape[0]) {
    throw new RangeError(`F.matmul: expected a [m, k] and b [k, n], got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  }
  const [m, k] = a.shape,
    n = b.shape[1];
  const y = out([m, n]);
  if (k === 0) y.view().fill(0);
  else guarded([y], () => gemm(a.ptr, b.ptr, y.ptr, m, n, k));
  return record(y, 'matmul', [a, b], (gy) => {
    const ga = Tensor.full([m, k], 0),
      gb = Tensor.full([k, n], 0);
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
    throw new RangeError(
      `${where}: expected x [..., in] and weight [out, in], got [${x.shape.join(', ')}] and [${weight.shape.join(', ')}]`,
    );
  }
  const o = weight.shape[0];
  if (bias !== null && (bias.shape.length !== 1 || bias.shape[0] !== o))
    throw new RangeError(`${where}: bias: expected shape [${o}], got [${bias.shape.join(', ')}]`);
  return linearChecked(x, weight, bias);
}

/**
 * @internal F.linear on operands already checked (Linear.forward checks its input and its own
 * parameters): the checks are not repeated on every call.
 */
export function linearChecked(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const r = x.shape.length;
  const [o, i] = weight.shape;
  const rows = i === 0 ? x.shape.slice(0, -1).reduce((p, d) => p * d, 1) : x.size / i;
  // x's shape with o last, built once and frozen: it comes from checked tensors, so Tensor.empty's
  // check and copies are skipped (a call at the MLP's shape is a few µs beyond its product)
  const yShape = x.shape.slice();
  yShape[r - 1] = o;
  const y = track(Tensor._empty(Object.freeze(yShape)));
  if (i === 0) {
    y.view().fill(0);
    if (bias !== null) for (let q = 0; q < rows; q++) y.view().set(bias.view(), q * o);
  } else {
    try {
      gemm(x.ptr, weight.ptr, y.ptr, rows, o, i, { transB: true, bias: bias === null ? 0 : bias.ptr });
    } catch (e) {
      y.dispose(); // the product's workspace could not be had
      throw e;
    }
  }
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(y, 'linear', inputs, (gy, inputGrad) => {
    let gx: Tensor | null = null;
    if (inputGrad ?? x.requiresGrad) {
      gx = Tensor.full(x.shape, 0);
      if (o > 0 && i > 0) guarded([gx], () => gemm(gy.ptr, weight.ptr, gx!.ptr, rows, i, o)); // gy·w
    }
    // a parameter's gradient goes straight into its .grad (beta 1), as Linear.backward does; what can
    // fail (an allocation) fails before anything is added
    let gw: GradSink | null = null,
      gb: GradSink | null = null;
    try {
      gw = gradSink(weight)!;
      gb = gradSink(bias);
      if (rows > 0 && i > 0) gemm(gy.ptr, x.ptr, gw.into.ptr, o, i, rows, { transA: true, beta: 1 }); // gyᵀ·x
    } catch (e) {
      for (const t of [gx, gw?.give, gb?.give]) t?.dispose();
      throw e;
    }
    if (gb !== null && rows > 0 && o > 0) addColumnSums(gy.ptr, rows, o, gb.into.ptr);
    return bias === null ? [gx, gw.give] : [gx, gw.give, gb!.give];
  });
}
