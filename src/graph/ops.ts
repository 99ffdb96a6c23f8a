// The functional nodes of a Graph: each op name with its arity, its attributes (checked when the
// node is added, so a bad graph is refused before it runs) and the `F` op it calls, which records
// on the tape like any other forward.
// see: https://onnx.ai/onnx/operators/ (the attribute names a loader maps from)
import { Tensor } from '../tensor';
import * as F from '../autograd/F';
import { describe } from '../validate';
import { broadcastOp, flattenAt, matmulAt, padAt, reshapeAt, transpose } from './shape_ops';

/** The attributes of each functional op a Graph node can run (an empty object: none). */
export interface GraphOpAttrs {
  /** a + b with NumPy (ONNX) broadcasting. */
  add: Record<string, never>;
  /** a − b with NumPy (ONNX) broadcasting. */
  sub: Record<string, never>;
  /** a · b elementwise with NumPy (ONNX) broadcasting. */
  mul: Record<string, never>;
  /** a / b elementwise with NumPy (ONNX) broadcasting. */
  div: Record<string, never>;
  /** a·b for a [..., m, k] and b [k, n] (a's leading dimensions fold into m). */
  matmul: Record<string, never>;
  /** Joins its inputs along `axis` (negative counts from the end). */
  concat: { axis: number };
  /** The same values under `shape`, as ONNX Reshape: a 0 copies the input's dimension there, one −1 is inferred. */
  reshape: { shape: readonly number[] };
  /** ONNX Flatten: [d0…d(axis−1), d(axis)…] → [Π before, Π from axis] (default axis 1). */
  flatten: { axis?: number };
  /** Permutes the dimensions: output dimension i is input dimension perm[i] (a copy). */
  transpose: { perm: readonly number[] };
  /** max(x, 0). */
  relu: Record<string, never>;
  /** 1 / (1 + e^(−x)). */
  sigmoid: Record<string, never>;
  /** tanh(x). */
  tanh: Record<string, never>;
  /** min(max(x, 0), 6). */
  relu6: Record<string, never>;
  /** x·relu6(x + 3)/6. */
  hardswish: Record<string, never>;
  /** max(0, min(1, alpha·x + beta)) (ONNX HardSigmoid; default PyTorch's alpha 1/6, beta 1/2). */
  hardsigmoid: { alpha?: number; beta?: number };
  /** Clamp to [min, max] (default [−1, 1]), as PyTorch's Hardtanh. */
  hardtanh: { min?: number; max?: number };
  /** Clamp to [min, max] (default unbounded), as ONNX Clip. */
  clip: { min?: number; max?: number };
  /** x > 0 ? x : slope·x (default slope 0.01). */
  leakyRelu: { slope?: number };
  /** Softmax along `axis` (default the last). */
  softmax: { axis?: number };
  /** Log-softmax along `axis` (default the last). */
  logSoftmax: { axis?: number };
  /**
   * ONNX Pad in constant mode on any axes: `pads` [begins…, ends…] ≥ 0, `value` (default 0); `window`
   * [kh, kw, sh, sw] adds a ceil_mode pooling window's extra end rows on the last two axes, per input size.
   */
  pad: { pads: readonly number[]; value?: number; window?: readonly number[] };
  /** Its input, unchanged (no copy): ONNX Identity, or Dropout in eval. */
  identity: Record<string, never>;
}

/** The name of a functional op a Graph node can run. */
export type GraphOp = keyof GraphOpAttrs;

interface OpDef {
  /** Number of inputs, or 'many' (one or more). */
  arity: number | 'many';
  /** The attribute names allowed, and a check of each value (returns an error text or null). */
  attrs: Record<string, (v: unknown) => string | null>;
  run(xs: readonly Tensor[], a: Record<string, unknown>): Tensor;
}

const int = (v: unknown) => (Number.isInteger(v) ? null : `expected an integer, got ${describe(v)}`);
const num = (v: unknown) => (typeof v === 'number' && !Number.isNaN(v) ? null : `expected a number, got ${describe(v)}`);
const fin = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? null : `expected a finite number, got ${describe(v)}`);
const ints = (v: unknown) =>
  Array.isArray(v) && v.every((d) => Number.isInteger(d)) ? null : `expected an array of integers, got ${describe(v)}`;
const perm = (v: unknown) => {
  if (ints(v) !== null) return ints(v);
  const p = v as number[];
  return [...p].sort((a, b) => a - b).every((d, i) => d === i)
    ? null
    : `expected a permutation of 0…${p.length - 1}, got [${p.join(', ')}]`;
};

const unary = (run: (x: Tensor, a: Record<string, unknown>) => Tensor, attrs: OpDef['attrs'] = {}): OpDef => ({
  arity: 1,
  attrs,
  run: (xs, a) => run(xs[0], a),
});
const binary = (run: (a: Tensor, b: Tensor) => Tensor): OpDef => ({ arity: 2, attrs: {}, run: (xs) => run(xs[0], xs[1]) });

const OPS: Record<GraphOp, OpDef> = {
  add: binary((a, b) => broadcastOp('add', a, b)),
  sub: binary((a, b) => broadcastOp('sub', a, b)),
  mul: binary((a, b) => broadcastOp('mul', a, b)),
  div: binary((a, b) => broadcastOp('div', a, b)),
  matmul: binary(matmulAt),
  concat: { arity: 'many', attrs: { axis: int }, run: (xs, a) => F.concat(xs, a.axis as number) },
  reshape: unary((x, a) => reshapeAt(x, a.shape as number[]), { shape: ints }),
  flatten: unary((x, a) => flattenAt(x, (a.axis as number | undefined) ?? 1), { axis: int }),
  transpose: unary((x, a) => transpose(x, a.perm as number[]), { perm }),
  relu: unary(F.relu),
  sigmoid: unary(F.sigmoid),
  tanh: unary(F.tanh),
  relu6: unary(F.relu6),
  hardswish: unary(F.hardswish),
  hardsigmoid: unary((x, a) => F.hardsigmoid(x, (a.alpha as number | undefined) ?? 1 / 6, (a.beta as number | undefined) ?? 0.5), {
    alpha: fin,
    beta: fin,
  }),
  hardtanh: unary((x, a) => F.hardtanh(x, (a.min as number | undefined) ?? -1, (a.max as number | undefined) ?? 1), { min: num, max: num }),
  clip: unary((x, a) => F.clip(x, (a.min as number | undefined) ?? -Infinity, (a.max as number | undefined) ?? Infinity), {
    min: num,
    max: num,
  }),
  leakyRelu: unary((x, a) => F.leakyRelu(x, (a.slope as number | undefined) ?? 0.01), { slope: fin }),
  softmax: unary((x, a) => F.softmax(x, (a.axis as number | undefined) ?? -1), { axis: int }),
  logSoftmax: unary((x, a) => F.logSoftmax(x, (a.axis as number | undefined) ?? -1), { axis: int }),
  pad: unary((x, a) => padAt(x, a.pads as number[], (a.value as number | undefined) ?? 0, a.window as number[] | undefined), {
    pads: ints,
    value: num,
    window: ints,
  }),
  identity: unary((x) => x),
};

/** Attributes an op needs (the others have defaults). */
const REQUIRED: Partial<Record<GraphOp, string[]>> = { concat: ['axis'], reshape: ['shape'], transpose: ['perm'], pad: ['pads'] };

/** The op names a Graph node can run, for error messages and loaders. */
export const GRAPH_OPS: readonly GraphOp[] = Object.freeze(Object.keys(OPS) as GraphOp[]);

/**
 * Checks an op node before it is added: a known op, the number of inputs it takes, its attribute
 * names and values. Returns a frozen copy of the attributes.
 */
export function checkOp(where: string, op: unknown, inputs: number, attrs: unknown): Record<string, unknown> {
  if (typeof op !== 'string' || !Object.hasOwn(OPS, op))
    throw new TypeError(`${where}: op: expected one of ${GRAPH_OPS.join(', ')}, got ${describe(op)}`);
  const def = OPS[op as GraphOp];
  if (def.arity === 'many' ? inputs < 1 : inputs !== def.arity)
    throw new RangeError(`${where}: ${op} takes ${def.arity === 'many' ? 'one or more inputs' : `${def.arity} input(s)`}, got ${inputs}`);
  if (attrs === null || typeof attrs !== 'object' || Array.isArray(attrs))
    throw new TypeError(`${where}: attrs: expected an object, got ${describe(attrs)}`);
  const a = attrs as Record<string, unknown>;
  for (const [k, v] of Object.entries(a)) {
    const check = Object.hasOwn(def.attrs, k) ? def.attrs[k] : undefined;
    if (check === undefined) {
      const known = Object.keys(def.attrs);
      throw new TypeError(
        `${where}: ${op}: unknown attribute '${k}' (${known.length ? `expected one of ${known.join(', ')}` : 'it takes none'})`,
      );
    }
    const err = v === undefined ? null : check(v);
    if (err !== null) throw new TypeError(`${where}: ${op}: ${k}: ${err}`);
  }
  for (const k of REQUIRED[op as GraphOp] ?? [])
    if (a[k] === undefined) throw new TypeError(`${where}: ${op}: attribute '${k}' is required`);
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a)) if (v !== undefined) copy[k] = Array.isArray(v) ? Object.freeze([...(v as number[])]) : v;
  return Object.freeze(copy);
}

/** Runs a checked op on its input tensors. */
export function runOp(op: GraphOp, xs: readonly Tensor[], attrs: Readonly<Record<string, unknown>>): Tensor {
  return OPS[op].run(xs, attrs as Record<string, unknown>);
}
