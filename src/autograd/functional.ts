// The differentiable ops of `F`: each computes its forward with the WASM kernels and, when an input
// requires a gradient, records beside it the backward that the tape runs later.
// see: https://pytorch.org/docs/stable/nn.functional.html (names and semantics)
import { Tensor } from '../tensor';
import { isGradEnabled, track, type GradFn } from './engine';
import * as ew from '../kernels/elementwise';
import { activationBackward, activationForward, SAVES, type ActivationKind } from '../kernels/activations';
import { addColumnSums } from '../kernels/reduce';
import { checkTensor, describe } from '../validate';

/** A new output, owned by the current scope or training step. */
export function out(shape: readonly number[]): Tensor {
  return track(Tensor.empty(shape));
}

/** Runs `compute`; if it throws (a workspace that cannot be allocated), frees `made` first. */
export function guarded<T>(made: readonly ({ dispose(): void } | null)[], compute: () => T): T {
  try {
    return compute();
  } catch (e) {
    for (const t of made) t?.dispose();
    throw e;
  }
}

/** Records `fn` on `y` when recording is on and an input requires a gradient. Returns y. */
export function record(y: Tensor, name: string, inputs: Tensor[], backward: GradFn['backward'], release?: () => void): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    y.requiresGrad = true;
    y.gradFn = { name, inputs, backward, release };
  } else release?.();
  return y;
}

/** Where an op's backward adds an input's gradient (`into`), and what it hands the engine (`give`). */
export interface GradSink {
  into: Tensor;
  give: Tensor | null;
}

/**
 * Where an op's backward adds the gradient of input `t` (null for an absent input): the .grad of a
 * leaf that requires a gradient and has one, added to in place as the layers' own backward does
 * (`give` null: a temporary and an add saved; summing into .grad in the tape's order gives PyTorch's
 * result after zeroGrad, 0 + a = a exactly), else a zero temporary handed to the engine (`give`).
 */
export function gradSink(t: Tensor | null): GradSink | null {
  if (t === null) return null;
  const g = t.requiresGrad && t.gradFn === null ? t.grad : null;
  if (g !== null && !g.disposed && g.size === t.size) return { into: g, give: null };
  const z = Tensor.full(t.shape, 0);
  return { into: z, give: z };
}

/** A copy of t's values under `shape` (default t's), owned by the caller. */
export function copy(t: Tensor, shape: readonly number[] = t.shape): Tensor {
  const c = Tensor.empty(shape);
  c.view().set(t.view());
  return c;
}

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// ---- elementwise arithmetic with broadcasting over leading axes ----

type Operand = Tensor | number;
const OPS = ['add', 'sub', 'mul', 'div'] as const;

/** How b spreads over a: `rows` copies of b's `m` values (b's shape is a suffix of a's, or b has one value). */
function spread(where: string, a: Tensor, b: Tensor): { rows: number; m: number } {
  if (same(a.shape, b.shape)) return { rows: 1, m: a.size };
  const k = b.shape.length;
  if (b.size === 1 || (k <= a.shape.length && same(a.shape.slice(a.shape.length - k), b.shape))) {
    return { rows: b.size === 0 ? 0 : a.size / b.size, m: b.size };
  }
  throw new RangeError(
    `${where}: shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}] do not broadcast (the second operand's shape must end the first's, or have one value)`,
  );
}

/** Σ over rows of g ([rows × m]) shaped like `like`: the gradient of a broadcast operand. */
function reduceRows(g: Tensor, rows: number, like: Tensor): Tensor {
  if (rows === 1) return copy(g, like.shape);
  const r = Tensor.full(like.shape, 0);
  if (rows > 0 && like.size > 0) addColumnSums(g.ptr, rows, like.size, r.ptr);
  return r;
}

function binaryOp(op: (typeof OPS)[number], a: Operand, b: Operand): Tensor {
  const where = `F.${op}`;
  if (typeof a === 'number' && typeof b === 'number') throw new TypeError(`${where}: expected at least one Tensor, got two numbers`);
  if (typeof a === 'number') return scalarOp(op, b as Tensor, a, true);
  if (typeof b === 'number') return scalarOp(op, a, b, false);
  checkTensor(where, 'a', a);
  checkTensor(where, 'b', b);
  // a smaller first operand: a + b = b + a and a·b = b·a; a − b = −(b − a)
  if (!same(a.shape, b.shape) && a.size < b.size && (op === 'add' || op === 'mul')) return binaryOp(op, b, a);
  if (!same(a.shape, b.shape) && a.size < b.size && op === 'sub') return neg(binaryOp('sub', b, a));
  const { rows, m } = spread(where, a, b);
  const y = out(a.shape);
  ew.binary(op, a.ptr, b.ptr, y.ptr, rows, m);
  return record(y, op, [a, b], (gy) => {
    let ga: Tensor, gbFull: Tensor;
    if (op === 'add' || op === 'sub') {
      ga = copy(gy);
      gbFull = gy;
    } else if (op === 'mul') {
      ga = Tensor.empty(a.shape);
      ew.binary('mul', gy.ptr, b.ptr, ga.ptr, rows, m);
      gbFull = Tensor.empty(a.shape);
      ew.binary('mul', gy.ptr, a.ptr, gbFull.ptr, 1, a.size);
    } else {
      ga = Tensor.empty(a.shape);
      ew.binary('div', gy.ptr, b.ptr, ga.ptr, rows, m);
      // d(a/b)/db = −a/b² = −y/b
      gbFull = Tensor.empty(a.shape);
      ew.binary('mul', ga.ptr, y.ptr, gbFull.ptr, 1, a.size);
      ew.scalar('mul', gbFull.ptr, -1, gbFull.ptr, a.size);
    }
    const gb = reduceRows(gbFull, rows, b);
    if (gbFull !== gy) gbFull.dispose();
    if (op === 'sub') ew.scalar('mul', gb.ptr, -1, gb.ptr, gb.size);
    return [ga, gb];
  });
}

function scalarOp(op: (typeof OPS)[number], a: Tensor, s: number, swap: boolean): Tensor {
  const where = `F.${op}`;
  checkTensor(where, swap ? 'b' : 'a', a);
  if (typeof s !== 'number') throw new TypeError(`${where}: expected a Tensor or a number, got ${describe(s)}`);
  const y = out(a.shape);
  ew.scalar(op, a.ptr, s, y.ptr, a.size, swap);
  return record(y, op, [a], (gy) => {
    const g = Tensor.empty(a.shape);
    if (op === 'add') g.view().set(gy.view());
    else if (op === 'sub') ew.scalar('mul', gy.ptr, swap ? -1 : 1, g.ptr, g.size);
    else if (op === 'mul') ew.scalar('mul', gy.ptr, s, g.ptr, g.size);
    else if (!swap) ew.scalar('div', gy.ptr, s, g.ptr, g.size);
    else {
      // d(s/a)/da = −s/a² = −y/a
      ew.binary('mul', gy.ptr, y.ptr, g.ptr, 1, g.size);
      ew.binary('div', g.ptr, a.ptr, g.ptr, 1, g.size);
      ew.scalar('mul', g.ptr, -1, g.ptr, g.size);
    }
    return [g];
  });
}

/** a + b (b broadcast over a's leading axes, or a number). */
export const add = (a: Operand, b: Operand): Tensor => binaryOp('add', a, b);
/** a − b. */
export const sub = (a: Operand, b: Operand): Tensor => binaryOp('sub', a, b);
/** a · b, elementwise. */
export const mul = (a: Operand, b: Operand): Tensor => binaryOp('mul', a, b);
/** a / b, elementwise. */
export const div = (a: Operand, b: Operand): Tensor => binaryOp('div', a, b);
/** −x. */
export const neg = (x: Tensor): Tensor => scalarOp('mul', x, -1, false);

// ---- reductions ----

/** Σ of every element: a scalar tensor (shape []). Summed in f64, in index order. */
export function sum(x: Tensor): Tensor {
  checkTensor('F.sum', 'x', x);
  const y = out([]);
  y.view()[0] = ew.sum(x.ptr, x.size);
  return record(y, 'sum', [x], (gy) => [Tensor.full(x.shape, gy.view()[0])]);
}

/** The mean of every element: a scalar tensor (shape []). */
export function mean(x: Tensor): Tensor {
  checkTensor('F.mean', 'x', x);
  const y = out([]);
  const n = x.size;
  y.view()[0] = n === 0 ? NaN : ew.sum(x.ptr, n) / n;
  return record(y, 'mean', [x], (gy) => [Tensor.full(x.shape, gy.view()[0] / n)]);
}

// ---- shapes ----

/** The same values under another shape (one dimension may be −1: inferred): a view of x's bytes, no copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  checkTensor('F.reshape', 'x', x);
  if (!Array.isArray(shape)) throw new TypeError(`F.reshape: shape: expected an array of integers, got ${describe(shape)}`);
  const free = shape.indexOf(-1);
  const known = shape.reduce((p, d, i) => (i === free ? p : p * d), 1);
  const dims = shape.map((d, i) => (i === free ? (known === 0 ? 0 : x.size / known) : d));
  shape.forEach((d, i) => {
    if (!Number.isInteger(d) || (d < 0 && i !== free))
      throw new TypeError(`F.reshape: shape[${i}]: expected a non-negative integer (or one −1), got ${describe(d)}`);
  });
  if (dims.reduce((p, d) => p * d, 1) !== x.size || !dims.every(Number.isInteger) || shape.filter((d) => d === -1).length > 1) {
    throw new RangeError(`F.reshape: shape [${shape.join(', ')}] does not fit ${x.size} values (from [${x.shape.join(', ')}])`);
  }
  // a view: the same bytes, which it keeps alive after x is disposed (no copy, no allocation)
  const y = track(Tensor._viewOf(x, dims));
  return record(y, 'reshape', [x], (gy) => [copy(gy, x.shape)]);
}

/** @internal A recorded copy of x (its gradient passes through): an output the caller owns apart from x. */
export function clone(x: Tensor): Tensor {
  const y = out(x.shape);
  y.view().set(x.view());
  return record(y, 'clone', [x], (gy) => [copy(gy)]);
}

/** `reshape` under PyTorch's other name. */
export const view = reshape;

/** Merges dimensions startDim..endDim into one (default: all but the batch dimension). */
export function flatten(x: Tensor, startDim = 1, endDim = -1): Tensor {
  checkTensor('F.flatten', 'x', x);
  const r = x.shape.length;
  const s = startDim < 0 ? startDim + r : startDim,
    e = endDim < 0 ? endDim + r : endDim;
  if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || e >= r || s > e) {
    throw new RangeError(
      `F.flatten: startDim ${describe(startDim)}, endDim ${describe(endDim)}: expected 0 ≤ start ≤ end < ${r} for shape [${x.shape.join(', ')}]`,
    );
  }
  const merged = x.shape.slice(s, e + 1).reduce((p, d) => p * d, 1);
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

// ---- activations ----

/** An elementwise activation with the kind's scalar `params`; its backward reads the input or the output (SAVES). */
export function activation(kind: ActivationKind, x: Tensor, params: readonly number[] = [], name: string = kind): Tensor {
  checkTensor(`F.${name}`, 'x', x);
  const y = out(x.shape);
  activationForward(kind, x.ptr, y.ptr, x.size, params);
  return record(y, name, [x], (gy) => {
    const g = Tensor.empty(x.shape);
    activationBackward(kind, SAVES[kind] === 'input' ? x.ptr : y.ptr, gy.ptr, g.ptr, x.size, params);
    return [g];
  });
}

/** Throws unless v is a finite number; returns it. */
function finite(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`${where}: ${name}: expected a finite number, got ${describe(v)}`);
  return v;
}

/** Throws unless v is a number other than NaN (a bound may be ±Infinity: none on that side); returns it. */
function bound(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || Number.isNaN(v))
    throw new TypeError(`${where}: ${name}: expected a number or ±Infinity, got ${describe(v)}`);
  return v;
}

/** Checks Hardtanh's bounds (numbers, ±Infinity for none, min ≤ max as PyTorch requires); returns [min, max]. */
export function clampBounds(where: string, min: unknown, max: unknown): [number, number] {
  const lo = bound(where, 'min', min),
    hi = bound(where, 'max', max);
  if (lo > hi) throw new RangeError(`${where}: min: expected at most max (${hi}), got ${lo}`);
  return [lo, hi];
}

/** max(x, 0). */
export const relu = (x: Tensor): Tensor => activation('relu', x);
/** 1 / (1 + e^(−x)). */
export const sigmoid = (x: Tensor): Tensor => activation('sigmoid', x);
/** tanh(x). */
export const tanh = (x: Tensor): Tensor => activation('tanh', x);
/** min(max(x, min), max) (PyTorch's F.hardtanh, ONNX Clip); the gradient passes strictly inside. */
export const hardtanh = (x: Tensor, min = -1, max = 1): Tensor => activation('clamp', x, clampBounds('F.hardtanh', min, max), 'hardtanh');
/**
 * min(max(x, min), max) with ONNX Clip's defaults (no bound on a side left out) and its rule for
 * min > max (every value becomes max, as torch.clamp); the gradient passes strictly inside.
 */
export const clip = (x: Tensor, min = -Infinity, max = Infinity): Tensor =>
  activation('clamp', x, [bound('F.clip', 'min', min), bound('F.clip', 'max', max)], 'clip');
/** min(max(x, 0), 6). */
export const relu6 = (x: Tensor): Tensor => activation('clamp', x, [0, 6], 'relu6');
/** x > 0 ? x : slope·x (PyTorch's default slope 0.01). */
export const leakyRelu = (x: Tensor, slope = 0.01): Tensor =>
  activation('leakyRelu', x, [finite('F.leakyRelu', 'slope', slope)], 'leakyRelu');
/** x·relu6(x + 3)/6 (MobileNetV3). */
export const hardswish = (x: Tensor): Tensor => activation('hardswish', x);
/**
 * max(0, min(1, alpha·x + beta)): PyTorch's relu6(x + 3)/6 with the defaults (its own kernel), ONNX
 * HardSigmoid's general form otherwise; the gradient, alpha·dy, passes strictly inside (0, 1).
 */
export function hardsigmoid(x: Tensor, alpha = 1 / 6, beta = 0.5): Tensor {
  const where = 'F.hardsigmoid';
  finite(where, 'alpha', alpha);
  finite(where, 'beta', beta);
  if (alpha === 1 / 6 && beta === 0.5) return activation('hardsigmoid', x);
  checkTensor(where, 'x', x);
  const y = out(x.shape);
  // the affine part then a clamp, each rounded to f32 as ONNX Runtime's reference does
  ew.scalar('mul', x.ptr, alpha, y.ptr, x.size);
  ew.scalar('add', y.ptr, beta, y.ptr, x.size);
  activationForward('clamp', y.ptr, y.ptr, x.size, [0, 1]);
  return record(y, 'hardsigmoid', [x], (gy) => {
    const g = Tensor.empty(x.shape);
    ew.scalar('mul', x.ptr, alpha, g.ptr, x.size);
    ew.scalar('add', g.ptr, beta, g.ptr, x.size);
    activationBackward('clamp', g.ptr, gy.ptr, g.ptr, x.size, [0, 1]);
    ew.scalar('mul', g.ptr, alpha, g.ptr, x.size);
    return [g];
  });
}

/** Joins tensors along `dim` (default 0); every other dimension must agree. */
export function concat(tensors: readonly Tensor[], dim = 0): Tensor {
  const where = 'F.concat';
  if (!Array.isArray(tensors) || tensors.length === 0)
    throw new TypeError(`${where}: tensors: expected a non-empty array of Tensors, got ${describe(tensors)}`);
  tensors.forEach((t, i) => checkTensor(where, `tensors[${i}]`, t));
  const first: readonly number[] = tensors[0].shape,
    r = first.length;
  const d = dim < 0 ? dim + r : dim;
  if (!Number.isInteger(dim) || d < 0 || d >= r)
    throw new RangeError(`${where}: dim: expected an integer in [${-r}, ${r}), got ${describe(dim)}`);
  tensors.forEach((t, i) => {
    if (t.shape.length !== r || t.shape.some((v: number, k: number) => k !== d && v !== first[k])) {
      throw new RangeError(
        `${where}: tensors[${i}]: expected shape [${first.map((v: number, k: number) => (k === d ? '*' : v)).join(', ')}], got [${t.shape.join(', ')}]`,
      );
    }
  });
  const outer = first.slice(0, d).reduce((p, v) => p * v, 1),
    inner = first.slice(d + 1).reduce((p, v) => p * v, 1);
  const sizes = tensors.map((t) => t.shape[d]),
    total = sizes.reduce((p, v) => p + v, 0);
  const y = out([...first.slice(0, d), total, ...first.slice(d + 1)]);
  const Y = y.view();
  let off = 0;
  tensors.forEach((t, i) => {
    const T = t.view(),
      run = sizes[i] * inner;
    for (let o = 0; o < outer; o++) Y.set(T.subarray(o * run, (o + 1) * run), o * total * inner + off);
    off += run;
  });
  return record(y, 'concat', [...tensors], (gy) => {
    const G = gy.view();
    let at = 0;
    return tensors.map((t, i) => {
      const run = sizes[i] * inner,
        g = Tensor.empty(t.shape),
        V = g.view();
      for (let o = 0; o < outer; o++) V.set(G.subarray(o * total * inner + at, o * total * inner + at + run), o * run);
      at += run;
      return g;
    });
  });
}
