// The padding of ONNX's window operators (Conv, MaxPool, AveragePool) and the Pad operator, as
// the loader maps them: pads the layers take go to the layer, the others to a ConstantPad2d before it.
// see: https://onnx.ai/onnx/operators/onnx__AveragePool.html (pads, auto_pad, count_include_pad);
//      https://onnx.ai/onnx/operators/onnx__Pad.html
import { ConstantPad2d } from '../nn/pad';
import type { Module } from '../nn/module';
import type { GraphNodeSpec } from '../graph/spec';
import { attrFloat, attrInt, attrInts, attrString, nodeError, type OnnxDim, type OnnxNode, type OnnxTensor } from './ir';
import type { Make, PlanContext } from './load_nodes';
import { ceilExtra } from '../graph/shape_ops';
import { poolDivisors } from './pool_onnx';

function fail(node: OnnxNode, why: string): Error {
  return nodeError('loadOnnx', node, why);
}

function shapeOf(ctx: PlanContext, name: string): OnnxDim[] | undefined {
  return ctx.model.shapes.get(name);
}

/** ONNX's [top, left, bottom, right] padding of a 2-D window op (pads, or auto_pad from the input's size). */
export function pads2d(ctx: PlanContext, node: OnnxNode, k: number[], s: number[], d: number[]): Pads4 {
  const auto = attrString(node, 'auto_pad', 'NOTSET');
  let p: number[];
  if (auto === 'NOTSET') p = attrInts(node, 'pads', [0, 0, 0, 0]);
  else if (auto === 'VALID') p = [0, 0, 0, 0];
  else if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const x = shapeOf(ctx, node.inputs[0]);
    if (x === undefined || typeof x[2] !== 'number' || typeof x[3] !== 'number')
      throw fail(node, `auto_pad ${auto} needs the input's height and width, which are not known`);
    const total = [0, 1].map((i) =>
      Math.max((Math.ceil((x[2 + i] as number) / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - (x[2 + i] as number), 0),
    );
    const small = total.map((t) => t >> 1);
    const big = total.map((t, i) => t - small[i]);
    p = auto === 'SAME_UPPER' ? [...small, ...big] : [...big, ...small];
  } else throw fail(node, `auto_pad: expected NOTSET, VALID, SAME_UPPER or SAME_LOWER, got ${auto}`);
  if (p.length !== 4 || p.some((v) => v < 0))
    throw fail(node, `pads: expected 4 values ≥ 0 (top, left, bottom, right) for a 2-D window, got [${p.join(', ')}]`);
  return [p[0], p[1], p[2], p[3]];
}

/** ONNX pads [top, left, bottom, right]. */
export type Pads4 = [number, number, number, number];

export const symmetric = (p: Pads4): boolean => p[0] === p[2] && p[1] === p[3];

/**
 * The padding layer that goes before a window op whose pads the layer cannot take (`fits` false):
 * Conv2d and the pools take one padding per axis (the kernels and every layout path depend on it),
 * the pools at most half the window (PyTorch's rule), so an uneven or wider border is made explicit
 * and the op then runs unpadded. Null when the pads fit.
 */
export function padBefore(
  node: OnnxNode,
  p: Pads4,
  fits: boolean,
  value: number,
  made: Module[],
  ceilWindow: readonly number[] | null = null,
): { spec: GraphNodeSpec; input: string } | null {
  if (fits) return null;
  const name = `${node.outputs[0]}::pad`;
  // ceil_mode on a free height and width: the `pad` op adds the window's extra end rows per input
  if (ceilWindow !== null)
    return {
      spec: { name, op: 'pad', inputs: [node.inputs[0]], attrs: { pads: [0, 0, p[0], p[1], 0, 0, p[2], p[3]], value, window: ceilWindow } },
      input: name,
    };
  const m = new ConstantPad2d([p[1], p[3], p[0], p[2]], value);
  made.push(m);
  return { spec: { name, layer: m, input: node.inputs[0] }, input: name };
}

/**
 * ceil_mode = 1: the rows and columns past the bottom and right pads that the last window reaches, as
 * more bottom and right padding (the windows then run in floor mode); [0, 0] in floor mode, null
 * when the input's height or width is free (the extra is then decided per input at run time).
 */
function ceilPads(ctx: PlanContext, node: OnnxNode, k: number[], s: number[], p: Pads4): [number, number] | null {
  if (attrInt(node, 'ceil_mode', 0) === 0) return [0, 0];
  const x = shapeOf(ctx, node.inputs[0]);
  const [h, w] = [x?.[2], x?.[3]];
  if (typeof h !== 'number' || typeof w !== 'number') return null;
  return [ceilExtra(h, p[0], p[2], k[0], s[0]), ceilExtra(w, p[1], p[3], k[1], s[1])];
}

export function window2d(
  ctx: PlanContext,
  node: OnnxNode,
): { k: [number, number]; s: [number, number]; p: Pads4; fits: boolean; extra: [number, number] | null } {
  const k = attrInts(node, 'kernel_shape', []);
  if (k.length !== 2) throw fail(node, `kernel_shape: expected a 2-D window, got [${k.join(', ')}]`);
  const s = attrInts(node, 'strides', [1, 1]);
  const d = attrInts(node, 'dilations', [1, 1]);
  if (d.some((v) => v !== 1)) throw fail(node, `dilations [${d.join(', ')}]: pooling supports only 1`);
  const given = pads2d(ctx, node, k, s, d);
  // ONNX's bound: a window always holds a pixel of the input
  if (given.some((v, i) => v >= k[i % 2]))
    throw fail(node, `pads [${given.join(', ')}]: expected each smaller than the window [${k.join(', ')}]`);
  const extra = ceilPads(ctx, node, k, s, given);
  const p: Pads4 = [given[0], given[1], given[2] + (extra?.[0] ?? 0), given[3] + (extra?.[1] ?? 0)];
  // ceil mode on a free height or width: a pad node sized per input goes before the layer
  const fits = extra !== null && symmetric(p) && 2 * p[0] <= k[0] && 2 * p[1] <= k[1];
  return { k: [k[0], k[1]], s: [s[0], s[1]], p, fits, extra };
}

/**
 * For an AveragePool whose divisor the zero-padded AvgPool2d cannot give (count_include_pad = 0 with
 * pads it cannot take; ceil_mode's extra border, never counted): kh·kw / (the window's pixels inside the
 * input, or inside the input and its given pads when `include`) per output position, a [OH, OW]
 * constant that turns the zero-padded average into ONNX's. `p` holds the given pads plus ceil_mode's
 * extra bottom and right ones, which `extra` says.
 */
export function countCorrection(
  ctx: PlanContext,
  node: OnnxNode,
  k: number[],
  s: number[],
  p: Pads4,
  include: boolean,
  extra: [number, number],
): OnnxTensor {
  const x = shapeOf(ctx, node.inputs[0]);
  const [h, w] = [x?.[2], x?.[3]];
  if (typeof h !== 'number' || typeof w !== 'number')
    throw fail(node, `count_include_pad = 0 with pads [${p.join(', ')}] needs the input's height and width, which are not known`);
  const { rows, cols, data } = poolDivisors(h, w, k, s, p, include, extra);
  const name = `${node.outputs[0]}::divisors`;
  const t: OnnxTensor = { name, dtype: 'float32', dims: [rows, cols], data };
  ctx.model.initializers.set(name, t);
  ctx.constants.set(name, false);
  return t;
}

/** ONNX Pad in constant mode: a ConstantPad2d on the last two axes of a 4-D input, the `pad` op on any others. */
export function planPad(ctx: PlanContext, node: OnnxNode): Make {
  const mode = attrString(node, 'mode', 'constant');
  if (mode !== 'constant')
    throw fail(node, `mode '${mode}': only 'constant' is supported (the package has no reflect, edge or wrap padding kernel)`);
  const shape = shapeOf(ctx, node.inputs[0]);
  if (shape === undefined) throw fail(node, `the rank of input '${node.inputs[0]}' is unknown`);
  const r = shape.length;
  const p = attrInts(node, 'pads', []);
  if (p.length !== 2 * r) throw fail(node, `pads [${p.join(', ')}]: expected ${2 * r} values for an input of rank ${r}`);
  if (p.some((v) => v < 0)) throw fail(node, `pads [${p.join(', ')}]: negative pads (cropping) are not supported`);
  const value = attrFloat(node, 'value', 0);
  if (Number.isNaN(value)) throw fail(node, 'constant_value NaN is not supported');
  if (r !== 4 || p.some((v, i) => v !== 0 && i % r < r - 2))
    return () => [{ name: node.outputs[0], op: 'pad', inputs: [node.inputs[0]], attrs: { pads: p, value } } as GraphNodeSpec];
  return (made) => {
    const m = new ConstantPad2d([p[r - 1], p[2 * r - 1], p[r - 2], p[2 * r - 2]], value);
    made.push(m);
    return [{ name: node.outputs[0], layer: m, input: node.inputs[0] }];
  };
}
