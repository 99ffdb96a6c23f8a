// The operators of shape subgraphs, evaluated on constants at load time. Integer values may hold a
// symbolic dimension (a string) that they only carry; arithmetic needs known numbers.
// see: https://onnx.ai/onnx/operators/ (Shape, Gather, Unsqueeze, Squeeze, Slice, Cast, Concat, Constant)
import { TensorProto_DataType } from './onnx_pb.js';
import { attrInt, attrInts, nodeError, sizeOf, type OnnxDim, type OnnxDType, type OnnxNode, type OnnxTensor } from './ir.js';
import { broadcast, reshapeTo } from './shapes.js';

const FN = 'foldOnnx';

/** A constant during folding: float32 elements, or integers that may be symbolic dimensions. */
export interface Const {
  /** Element type. */
  dtype: OnnxDType;
  /** Sizes. */
  dims: number[];
  /** Elements, row-major. */
  values: Float32Array | OnnxDim[];
}

/** A constant tensor as a Const (int64 elements become numbers). */
export function fromTensor(t: OnnxTensor): Const {
  return { dtype: t.dtype, dims: t.dims, values: t.data instanceof Float32Array ? t.data : Array.from(t.data, Number) };
}

/** The known integers of a constant input; throws naming it when absent or symbolic. */
export function ints(node: OnnxNode, c: Const | undefined, what: string): number[] {
  if (c === undefined) throw nodeError(FN, node, `input ${what}: expected a constant, got none`);
  return Array.from(c.values as ArrayLike<OnnxDim>, (v) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) throw nodeError(FN, node, `input ${what}: expected known integers, got '${v}'`);
    return v;
  });
}

// Axes from the attribute (before opset 13) or from the second input (from 13).
function axesOf(node: OnnxNode, ins: (Const | undefined)[], opset: number): number[] | undefined {
  if (opset < 13 || node.attrs.axes !== undefined) return node.attrs.axes === undefined ? undefined : attrInts(node, 'axes', []);
  return ins[1] === undefined ? undefined : ints(node, ins[1], 'axes');
}

function norm(node: OnnxNode, a: number, rank: number): number {
  const r = a < 0 ? a + rank : a;
  if (r < 0 || r >= rank) throw nodeError(FN, node, `axis: expected -${rank}…${rank - 1}, got ${a}`);
  return r;
}

function constantValue(node: OnnxNode): Const {
  const a = node.attrs.value ?? node.attrs.value_float ?? node.attrs.value_floats ?? node.attrs.value_int ?? node.attrs.value_ints;
  if (a === undefined) throw nodeError(FN, node, 'expected a value, value_float(s) or value_int(s) attribute, got none');
  switch (a.type) {
    case 'tensor':
      return fromTensor(a.value);
    case 'float':
      return { dtype: 'float32', dims: [], values: Float32Array.of(a.value) };
    case 'floats':
      return { dtype: 'float32', dims: [a.value.length], values: Float32Array.from(a.value) };
    case 'int':
      return { dtype: 'int64', dims: [], values: [a.value] };
    case 'ints':
      return { dtype: 'int64', dims: [a.value.length], values: a.value.slice() };
    default:
      throw nodeError(FN, node, `attribute value: expected a tensor, float(s) or int(s), got ${a.type}`);
  }
}

function arith(node: OnnxNode, a: Const, b: Const): Const {
  const dims = broadcast(node, a.dims, b.dims) as number[];
  const n = sizeOf(dims);
  if (n > 64) throw nodeError(FN, node, `expected a small integer constant (a shape), got ${n} elements`);
  const x = ints(node, a, 'A');
  const y = ints(node, b, 'B');
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = x[x.length === 1 ? 0 : i];
    const q = y[y.length === 1 ? 0 : i];
    if (x.length !== 1 && x.length !== n) throw nodeError(FN, node, 'expected scalar or same-size integer operands');
    if (y.length !== 1 && y.length !== n) throw nodeError(FN, node, 'expected scalar or same-size integer operands');
    if (node.op === 'Div' && q === 0) throw nodeError(FN, node, 'expected a non-zero integer divisor, got 0');
    values.push(node.op === 'Add' ? p + q : node.op === 'Sub' ? p - q : node.op === 'Mul' ? p * q : Math.trunc(p / q));
  }
  return { dtype: 'int64', dims, values };
}

/** Evaluates one shape-subgraph node whose inputs are constants (Shape reads only its input's shape). */
export function evalShapeOp(
  node: OnnxNode,
  ins: (Const | undefined)[],
  shapeOf: (name: string) => OnnxDim[] | undefined,
  opset: number,
): Const {
  const x = ins[0];
  if (node.op === 'Constant') return constantValue(node);
  if (node.op === 'Shape') {
    const s = shapeOf(node.inputs[0]);
    if (s === undefined) throw nodeError(FN, node, `input '${node.inputs[0]}': expected a known shape, got none`);
    const r = s.length;
    const clamp = (v: number): number => Math.min(r, Math.max(0, v < 0 ? v + r : v));
    const values = s.slice(clamp(attrInt(node, 'start', 0)), clamp(attrInt(node, 'end', r)));
    return { dtype: 'int64', dims: [values.length], values };
  }
  node.inputs.forEach((name, i) => {
    if (name !== '' && ins[i] === undefined)
      throw nodeError(
        FN,
        node,
        `input '${name}': expected a constant (a shape subgraph), got a computed tensor, which the package does not run through ${node.op}`,
      );
  });
  const c = x!;
  const vals = c.values as ArrayLike<OnnxDim>;
  switch (node.op) {
    case 'Identity':
      return c;
    case 'Cast': {
      const to = attrInt(node, 'to', 0);
      if (to === TensorProto_DataType.INT64)
        return { dtype: 'int64', dims: c.dims, values: Array.from(vals, (v) => (typeof v === 'number' ? Math.trunc(v) : v)) };
      return { dtype: 'float32', dims: c.dims, values: Float32Array.from(ints(node, c, 'input')) };
    }
    case 'Unsqueeze': {
      const axes = axesOf(node, ins, opset) ?? [];
      const rank = c.dims.length + axes.length;
      const at = new Set(axes.map((a) => norm(node, a, rank)));
      const dims: number[] = [];
      for (let i = 0, j = 0; i < rank; i++) dims.push(at.has(i) ? 1 : c.dims[j++]);
      return { ...c, dims };
    }
    case 'Squeeze': {
      const axes = axesOf(node, ins, opset);
      const at = new Set((axes ?? c.dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => norm(node, a, c.dims.length)));
      for (const a of at) if (c.dims[a] !== 1) throw nodeError(FN, node, `axes: expected dimensions of size 1, got ${c.dims[a]} at ${a}`);
      return { ...c, dims: c.dims.filter((_, i) => !at.has(i)) };
    }
    case 'Gather': {
      if (c.dims.length !== 1) throw nodeError(FN, node, `input data: expected a 1-D constant, got dims [${c.dims.join(', ')}]`);
      const idx = ints(node, ins[1], 'indices');
      const n = c.dims[0];
      const values = idx.map((i) => {
        if (i < -n || i >= n) throw nodeError(FN, node, `input indices: expected -${n}…${n - 1}, got ${i}`);
        return vals[i < 0 ? i + n : i];
      });
      return { dtype: c.dtype, dims: ins[1]!.dims.slice(), values: c.dtype === 'float32' ? Float32Array.from(values as number[]) : values };
    }
    case 'Slice': {
      // one axis of a constant (torch.onnx.export reverses Pad's [begin, end] rows with step −1)
      const [start, end] = [ints(node, ins[1], 'starts'), ints(node, ins[2], 'ends')];
      const axes = ins[3] === undefined ? [0] : ints(node, ins[3], 'axes');
      const step = ins[4] === undefined ? 1 : ints(node, ins[4], 'steps')[0];
      if (c.dims.length < 1 || start.length !== 1 || end.length !== 1 || step === 0)
        throw nodeError(FN, node, 'expected one slice along one axis with a non-zero step');
      const axis = norm(node, axes[0], c.dims.length);
      const n = c.dims[axis];
      // ONNX clamps a start to [0, n] and an end to [0, n] going forward, to [0, n−1] and [−1, n−1] going back
      const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v < 0 ? v + n : v));
      const first = step > 0 ? clamp(start[0], 0, n) : clamp(start[0], 0, n - 1);
      const last = step > 0 ? clamp(end[0], 0, n) : clamp(end[0], -1, n - 1);
      const picked: number[] = [];
      for (let i = first; step > 0 ? i < last : i > last; i += step) picked.push(i);
      const inner = sizeOf(c.dims.slice(axis + 1)),
        outer = sizeOf(c.dims.slice(0, axis));
      const out: OnnxDim[] = [];
      for (let o = 0; o < outer; o++) for (const i of picked) for (let k = 0; k < inner; k++) out.push(vals[(o * n + i) * inner + k]);
      const dims = c.dims.map((d, i) => (i === axis ? picked.length : d));
      return { dtype: c.dtype, dims, values: c.dtype === 'float32' ? Float32Array.from(out as number[]) : out };
    }
    case 'ConstantOfShape': {
      const dims = ints(node, c, 'input');
      if (dims.some((d) => d < 0) || sizeOf(dims) > 64)
        throw nodeError(FN, node, `input: expected a small shape (a shape subgraph's), got [${dims.join(', ')}]`);
      const v =
        node.attrs.value === undefined
          ? fromTensor({ name: '', dtype: 'float32', dims: [1], data: Float32Array.of(0) })
          : constantValue(node);
      if (v.values.length !== 1) throw nodeError(FN, node, `attribute value: expected one element, got ${v.values.length}`);
      const n = sizeOf(dims);
      return v.dtype === 'float32'
        ? { dtype: 'float32', dims, values: new Float32Array(n).fill((v.values as Float32Array)[0]) }
        : { dtype: 'int64', dims, values: new Array<OnnxDim>(n).fill((v.values as OnnxDim[])[0]) };
    }
    case 'Transpose': {
      const r = c.dims.length;
      const perm = attrInts(node, 'perm', [...Array(r).keys()].reverse());
      const dims = perm.map((p) => c.dims[p]);
      const strides = c.dims.map((_, i) => sizeOf(c.dims.slice(i + 1)));
      const out: OnnxDim[] = [];
      for (let j = 0; j < sizeOf(dims); j++) {
        let src = 0;
        for (let i = r - 1, rest = j; i >= 0; i--) {
          src += (rest % dims[i]) * strides[perm[i]];
          rest = Math.floor(rest / dims[i]);
        }
        out.push(vals[src]);
      }
      return { dtype: c.dtype, dims, values: out };
    }
    case 'Concat': {
      const parts = ins as Const[];
      if (parts.some((p) => p.dims.length !== 1)) throw nodeError(FN, node, 'expected 1-D constants to concatenate');
      const values = parts.flatMap((p) => Array.from(p.values as ArrayLike<OnnxDim>));
      return { dtype: c.dtype, dims: [values.length], values };
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
      return arith(node, c, ins[1]!);
    case 'Reshape':
    case 'Flatten': {
      const shape =
        node.op === 'Reshape'
          ? reshapeTo(node, c.dims, ints(node, ins[1], 'shape'))
          : [sizeOf(c.dims.slice(0, attrInt(node, 'axis', 1))), sizeOf(c.dims.slice(attrInt(node, 'axis', 1)))];
      return { ...c, dims: shape as number[] };
    }
    default:
      throw nodeError(FN, node, 'expected an operator of a shape subgraph');
  }
}
