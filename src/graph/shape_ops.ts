// The shape work of a Graph's functional nodes, as ONNX defines it: NumPy broadcasting for the
// elementwise ops (an operand expanded by a copy only where F's own rule — one operand's shape ends
// the other's — does not cover it), Reshape's 0 (copy that dimension), Flatten(axis), Transpose.
// Each records on the tape with its backward beside it.
// see: https://onnx.ai/onnx/repo-docs/Broadcasting.html; https://onnx.ai/onnx/operators/onnx__Reshape.html
import { Tensor } from '../tensor';
import * as F from '../autograd/F';
import { out, record } from '../autograd/functional';
import { checkTensor } from '../validate';

type Elementwise = 'add' | 'sub' | 'mul' | 'div';
const FN: Record<Elementwise, (a: Tensor, b: Tensor) => Tensor> = { add: F.add, sub: F.sub, mul: F.mul, div: F.div };

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
/** True when `s` ends `of` (F's ops spread such an operand over the other's leading axes). */
const endsWith = (of: readonly number[], s: readonly number[]) =>
  s.length <= of.length && s.every((d, i) => d === of[of.length - s.length + i]);

/** The shape NumPy broadcasting gives `a` and `b`, or null when they do not broadcast. */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] | null {
  const r = Math.max(a.length, b.length),
    s: number[] = [];
  for (let i = 0; i < r; i++) {
    const x = i < r - a.length ? 1 : a[i - r + a.length],
      y = i < r - b.length ? 1 : b[i - r + b.length];
    if (x === y || y === 1) s.push(x);
    else if (x === 1) s.push(y);
    else return null;
  }
  return s;
}

/** a op b with NumPy broadcasting: F's op directly where its rule covers the shapes, else on expanded copies. */
export function broadcastOp(op: Elementwise, a: Tensor, b: Tensor): Tensor {
  checkTensor(op, 'a', a);
  checkTensor(op, 'b', b);
  const f = FN[op];
  // F's own cases (the same kernels, no copy): b ends a's shape or has one value; for add, sub and mul also a smaller a
  if (same(a.shape, b.shape)) return f(a, b);
  if (b.shape.length <= a.shape.length && (b.size === 1 || endsWith(a.shape, b.shape))) return f(a, b);
  if (op !== 'div' && a.size < b.size && a.shape.length <= b.shape.length && (a.size === 1 || endsWith(b.shape, a.shape))) return f(a, b);
  const s = broadcastShape(a.shape, b.shape);
  if (s === null) throw new RangeError(`${op}: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] do not broadcast`);
  const temps: Tensor[] = [];
  try {
    const grown = (t: Tensor): Tensor => {
      if (same(t.shape, s)) return t;
      const e = expand(t, s);
      temps.push(e);
      return e;
    };
    return settle(f(grown(a), grown(b)), temps);
  } catch (e) {
    for (const t of temps) t.dispose();
    throw e;
  }
}

/** y, with the temporaries made on its way: they live as long as y's op may read them (its backward, or y's dispose), else go now. */
function settle(y: Tensor, temps: readonly Tensor[]): Tensor {
  if (y.gradFn !== null) y.gradFn.owns = [...(y.gradFn.owns ?? []), ...temps];
  else for (const t of temps) t.dispose();
  return y;
}

/** ONNX MatMul for a [..., m, k] and b [k, n]: a's leading dimensions fold into m (F.matmul on a 2-D view). */
export function matmulAt(a: Tensor, b: Tensor): Tensor {
  checkTensor('matmul', 'a', a);
  checkTensor('matmul', 'b', b);
  const r = a.shape.length;
  if (r <= 2 || b.shape.length !== 2) return F.matmul(a, b);
  const k = a.shape[r - 1];
  if (k !== b.shape[0])
    throw new RangeError(`matmul: expected a [..., m, k] and b [k, n], got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  const temps: Tensor[] = [];
  try {
    const a2 = F.reshape(a, [a.size / Math.max(k, 1), k]);
    temps.push(a2);
    const y2 = F.matmul(a2, b);
    temps.push(y2);
    return settle(F.reshape(y2, [...a.shape.slice(0, -1), b.shape[1]]), temps);
  } catch (e) {
    for (const t of temps) t.dispose();
    throw e;
  }
}

/**
 * Visits every index i of an array of `dims` in order with `src`, the offset that `step` (per
 * dimension) gives it in another array: an odometer, so no index is divided.
 */
function walk(dims: readonly number[], step: readonly number[], visit: (i: number, src: number) => void): void {
  const r = dims.length,
    size = dims.reduce((p, d) => p * d, 1),
    idx = new Array<number>(r).fill(0);
  let src = 0;
  for (let i = 0; i < size; i++) {
    visit(i, src);
    for (let k = r - 1; k >= 0; k--) {
      if (++idx[k] < dims[k]) {
        src += step[k];
        break;
      }
      src -= step[k] * (dims[k] - 1);
      idx[k] = 0;
    }
  }
}

/** Row-major strides of `shape`. */
function strides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    st[d] = s;
    s *= shape[d];
  }
  return st;
}

/** x repeated along its size-1 (and missing leading) dimensions to `shape`; the backward sums over them (in f64, in index order). */
function expand(x: Tensor, shape: readonly number[]): Tensor {
  const pad = shape.length - x.shape.length;
  const xs = [...new Array<number>(pad).fill(1), ...x.shape],
    st = strides(xs);
  const step = xs.map((d, k) => (d === 1 ? 0 : st[k]));
  const y = out(shape);
  const X = x.view(),
    Y = y.view();
  walk(shape, step, (i, src) => (Y[i] = X[src]));
  return record(y, 'expand', [x], (gy) => {
    const acc = new Float64Array(x.size),
      G = gy.view();
    walk(shape, step, (i, src) => (acc[src] += G[i]));
    const g = Tensor.empty(x.shape);
    g.view().set(acc);
    return [g];
  });
}

/** ONNX Reshape: a 0 takes the input's dimension at that index, one −1 is inferred (F.reshape checks the rest). */
export function reshapeAt(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('reshape', 'x', x);
  return F.reshape(
    x,
    shape.map((d, i) => (d === 0 && i < x.shape.length ? x.shape[i] : d)),
  );
}

/** ONNX Flatten: everything before `axis` becomes the first dimension, the rest the second. */
export function flattenAt(x: Tensor, axis: number): Tensor {
  checkTensor('flatten', 'x', x);
  const r = x.shape.length,
    a = axis < 0 ? axis + r : axis;
  if (a < 0 || a > r) throw new RangeError(`flatten: axis: expected an integer in [${-r}, ${r}], got ${axis}`);
  const lead = x.shape.slice(0, a).reduce((p, d) => p * d, 1),
    rest = x.shape.slice(a).reduce((p, d) => p * d, 1);
  return F.reshape(x, [lead, rest]);
}

/** Output dimension i = input dimension perm[i] (a copy); the backward permutes back by the inverse. */
export function transpose(x: Tensor, p: readonly number[]): Tensor {
  checkTensor('transpose', 'x', x);
  if (p.length !== x.shape.length)
    throw new RangeError(`transpose: perm: expected ${x.shape.length} dimensions for input [${x.shape.join(', ')}], got [${p.join(', ')}]`);
  const y = out(p.map((d) => x.shape[d]));
  permuteInto(x, y, p);
  const inv: number[] = [];
  p.forEach((d, i) => (inv[d] = i));
  return record(y, 'transpose', [x], (gy) => {
    const g = Tensor.empty(x.shape);
    permuteInto(gy, g, inv);
    return [g];
  });
}

/** Copies x into y (x's shape permuted by p), walking y in order over x's strides. */
function permuteInto(x: Tensor, y: Tensor, p: readonly number[]): void {
  const st = strides(x.shape);
  const X = x.view(),
    Y = y.view();
  walk(
    p.map((d) => x.shape[d]),
    p.map((d) => st[d]),
    (i, src) => (Y[i] = X[src]),
  );
}

/**
 * ceil_mode = 1 of a pooling window along one axis of size `h` padded by `lo`, `hi`: the rows past
 * `hi` the last window reaches (a window that would start in the end padding is dropped, ONNX's and
 * PyTorch's rule), so that a floor-mode window over the padded axis gives ceil mode's output.
 * see: https://onnx.ai/onnx/operators/onnx__MaxPool.html (ceil_mode, output shape)
 */
export function ceilExtra(h: number, lo: number, hi: number, k: number, s: number): number {
  const span = h + lo + hi - k;
  if (span < 0) return 0;
  let n = Math.ceil(span / s) + 1;
  if ((n - 1) * s >= h + lo) n--;
  return Math.max((n - 1) * s + k - (h + lo + hi), 0);
}

/**
 * ONNX Pad in constant mode on any axes: `pads` = [begin of each axis…, end of each axis…] (≥ 0),
 * filled with `value`. `window` [kh, kw, sh, sw]: the last two axes' ends also get ceilExtra of a
 * pooling window over them, decided from this input's height and width (a model whose height and
 * width are free). The backward takes the gradient of the input's region.
 */
export function padAt(x: Tensor, pads: readonly number[], value: number, window?: readonly number[]): Tensor {
  checkTensor('pad', 'x', x);
  const r = x.shape.length;
  if (pads.length !== 2 * r)
    throw new RangeError(
      `pad: pads: expected ${2 * r} values (a begin and an end per axis of [${x.shape.join(', ')}]), got ${pads.length}`,
    );
  if (pads.some((p) => p < 0)) throw new RangeError(`pad: pads [${pads.join(', ')}]: expected values ≥ 0 (no cropping)`);
  const begin = pads.slice(0, r),
    end = pads.slice(r);
  if (window !== undefined) {
    if (window.length !== 4 || r < 2 || window.some((v) => v < 1))
      throw new RangeError(`pad: window: expected [kh, kw, sh, sw] ≥ 1 over the last two axes, got [${window.join(', ')}] for rank ${r}`);
    const [h, w] = [x.shape[r - 2] + begin[r - 2] + end[r - 2], x.shape[r - 1] + begin[r - 1] + end[r - 1]];
    if (h < window[0] || w < window[1])
      throw new RangeError(
        `pad: x: expected its last two axes with their pads to hold the window ${window[0]} × ${window[1]}, got [${x.shape.join(', ')}] (${h} × ${w} padded)`,
      );
    for (let i = 0; i < 2; i++) end[r - 2 + i] += ceilExtra(x.shape[r - 2 + i], begin[r - 2 + i], end[r - 2 + i], window[i], window[2 + i]);
  }
  const y = out(x.shape.map((d, i) => d + begin[i] + end[i]));
  const Y = y.view();
  Y.fill(value);
  copyRegion(x.view(), Y, x.shape, y.shape, begin, true);
  return record(y, 'pad', [x], (gy) => {
    const g = Tensor.empty(x.shape);
    copyRegion(g.view(), gy.view(), x.shape, gy.shape, begin, false);
    return [g];
  });
}

/** Copies the small array `a` (shape `inner`) into (`into`) or out of the region of `b` (shape `outer`) that starts at `at`, row by row. */
function copyRegion(
  a: Float32Array,
  b: Float32Array,
  inner: readonly number[],
  outer: readonly number[],
  at: readonly number[],
  into: boolean,
): void {
  const r = inner.length;
  if (r === 0) {
    if (into) b[0] = a[0];
    else a[0] = b[0];
    return;
  }
  const row = inner[r - 1],
    rows = a.length / Math.max(row, 1);
  const ost = strides(outer);
  const idx = new Array<number>(r).fill(0);
  for (let i = 0; i < rows && row > 0; i++) {
    let o = at[r - 1];
    for (let d = 0; d < r - 1; d++) o += (idx[d] + at[d]) * ost[d];
    if (into) b.set(a.subarray(i * row, (i + 1) * row), o);
    else a.set(b.subarray(o, o + row), i * row);
    // the next row's index over the leading axes
    for (let d = r - 2; d >= 0 && ++idx[d] === inner[d]; d--) idx[d] = 0;
  }
}
