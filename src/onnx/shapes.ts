// Output shapes of the compute operators, from their input shapes and attributes, as the ONNX
// operator docs define them. A symbolic dimension (a string) passes through where it is only carried.
// see: https://onnx.ai/onnx/operators/
import { attrInt, attrInts, attrString, nodeError, type OnnxDim, type OnnxNode } from './ir.js';

const FN = 'foldOnnx';

/** The product of dims; a symbolic factor makes a symbolic product ('N*64'). */
export function dimProduct(dims: readonly OnnxDim[]): OnnxDim {
  let n = 1;
  const syms: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') n *= d;
    else syms.push(d);
  }
  if (syms.length === 0) return n;
  return n === 1 ? syms.join('*') : `${syms.join('*')}*${n}`;
}

function normAxis(node: OnnxNode, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw nodeError(FN, node, `attribute axis: expected -${rank}…${rank - 1}, got ${axis}`);
  return a;
}

/** Numpy-style broadcast of two shapes. */
export function broadcast(node: OnnxNode, a: OnnxDim[], b: OnnxDim[]): OnnxDim[] {
  const r = Math.max(a.length, b.length);
  const out: OnnxDim[] = [];
  for (let i = 0; i < r; i++) {
    const x = a[a.length - r + i] ?? 1;
    const y = b[b.length - r + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else if (typeof x === 'string') out.push(y);
    else if (typeof y === 'string') out.push(x);
    else throw nodeError(FN, node, `expected broadcastable shapes, got [${a.join(', ')}] and [${b.join(', ')}]`);
  }
  return out;
}

function spatial(node: OnnxNode, x: OnnxDim[], kernel: number[], dilationsOk: boolean): OnnxDim[] {
  const n = kernel.length;
  if (x.length !== n + 2) throw nodeError(FN, node, `input: expected rank ${n + 2}, got [${x.join(', ')}]`);
  const strides = attrInts(node, 'strides', new Array(n).fill(1));
  const dil = dilationsOk ? attrInts(node, 'dilations', new Array(n).fill(1)) : new Array(n).fill(1);
  const pads = attrInts(node, 'pads', new Array(2 * n).fill(0));
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const ceil = attrInt(node, 'ceil_mode', 0) === 1;
  if (strides.length !== n || dil.length !== n || pads.length !== 2 * n)
    throw nodeError(FN, node, `expected ${n} strides and dilations and ${2 * n} pads, got [${strides}], [${dil}], [${pads}]`);
  const out: OnnxDim[] = x.slice(0, 2);
  for (let i = 0; i < n; i++) {
    const size = x[i + 2];
    const k = (kernel[i] - 1) * dil[i] + 1;
    // a free input size (an export's dynamic height or width) gives a free output size, named after
    // the output; the loader refuses only what needs the number (auto_pad SAME, ceil_mode)
    if (typeof size !== 'number') {
      out.push(`${node.outputs[0]}_${i + 2}`);
      continue;
    }
    let o: number;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') o = Math.ceil(size / strides[i]);
    else if (autoPad === 'VALID') o = Math.floor((size - k) / strides[i]) + 1;
    else if (autoPad === 'NOTSET') {
      const span = (size + pads[i] + pads[i + n] - k) / strides[i];
      o = (ceil ? Math.ceil(span) : Math.floor(span)) + 1;
      // ceil mode never starts a window inside the end padding
      if (ceil && (o - 1) * strides[i] >= size + pads[i]) o--;
    } else throw nodeError(FN, node, `attribute auto_pad: expected NOTSET, SAME_UPPER, SAME_LOWER or VALID, got ${autoPad}`);
    if (o < 1) throw nodeError(FN, node, `expected a window that fits the input, got input size ${size} and window ${k}`);
    out.push(o);
  }
  return out;
}

/** The shapes of a compute node's outputs (one per output, '' outputs included) from its inputs'. */
export function inferShapes(node: OnnxNode, ins: OnnxDim[][]): OnnxDim[][] {
  const x = ins[0];
  const same = (): OnnxDim[][] => node.outputs.map(() => x);
  switch (node.op) {
    case 'Relu':
    case 'Clip':
    case 'LeakyRelu':
    case 'Sigmoid':
    case 'Tanh':
    case 'HardSwish':
    case 'HardSigmoid':
    case 'Dropout':
    case 'Identity':
    case 'Softmax':
    case 'LogSoftmax':
      return same();
    case 'BatchNormalization':
      return node.outputs.map((_, i) => (i === 0 ? x : [x[1]]));
    case 'Conv': {
      const w = ins[1];
      const kernel = attrInts(node, 'kernel_shape', w.slice(2) as number[]);
      const group = attrInt(node, 'group', 1);
      if (typeof x[1] === 'number' && typeof w[1] === 'number' && x[1] !== w[1] * group)
        throw nodeError(
          FN,
          node,
          `expected ${Number(w[1]) * group} input channels (weight [${w.join(', ')}], group ${group}), got ${x[1]}`,
        );
      const out = spatial(node, x, kernel, true);
      out[1] = w[0];
      return [out];
    }
    case 'MaxPool':
    case 'AveragePool': {
      const kernel = attrInts(node, 'kernel_shape', []);
      if (kernel.length === 0) throw nodeError(FN, node, 'attribute kernel_shape: expected a list of ints, got none');
      const y = spatial(node, x, kernel, node.op === 'MaxPool');
      return node.outputs.map(() => y);
    }
    case 'GlobalAveragePool':
      return [[...x.slice(0, 2), ...x.slice(2).map(() => 1)]];
    case 'Pad': {
      // foldOnnx gave attrs.pads for every axis: [begins…, ends…]
      const pads = attrInts(node, 'pads', []);
      if (pads.length !== 2 * x.length) throw nodeError(FN, node, `pads: expected ${2 * x.length} values, got [${pads.join(', ')}]`);
      const grow = (i: number) => pads[i] + pads[i + x.length];
      return [x.map((d, i) => (typeof d === 'number' ? d + grow(i) : grow(i) === 0 ? d : `${node.outputs[0]}_${i}`))];
    }
    case 'Gemm': {
      const [m, k1] = attrInt(node, 'transA', 0) ? [x[1], x[0]] : [x[0], x[1]];
      const b = ins[1];
      const [k2, n] = attrInt(node, 'transB', 0) ? [b[1], b[0]] : [b[0], b[1]];
      if (x.length !== 2 || b.length !== 2 || (typeof k1 === 'number' && typeof k2 === 'number' && k1 !== k2))
        throw nodeError(FN, node, `expected [M, K] × [K, N], got [${x.join(', ')}] and [${b.join(', ')}]`);
      return [[m, n]];
    }
    case 'MatMul': {
      const b = ins[1];
      if (x.length < 2 || b.length < 2)
        throw nodeError(FN, node, `expected inputs of rank ≥ 2, got [${x.join(', ')}] and [${b.join(', ')}]`);
      const batch = broadcast(node, x.slice(0, -2), b.slice(0, -2));
      return [[...batch, x[x.length - 2], b[b.length - 1]]];
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
      return [broadcast(node, x, ins[1])];
    case 'Flatten': {
      const axis = attrInt(node, 'axis', 1);
      const a = axis < 0 ? axis + x.length : axis;
      if (a < 0 || a > x.length) throw nodeError(FN, node, `attribute axis: expected -${x.length}…${x.length}, got ${axis}`);
      return [[dimProduct(x.slice(0, a)), dimProduct(x.slice(a))]];
    }
    case 'Reshape':
      return [reshapeTo(node, x, attrInts(node, 'shape', []))];
    case 'Concat': {
      const a = normAxis(node, attrInt(node, 'axis', 0), x.length);
      const out = x.slice();
      const parts: OnnxDim[] = [];
      for (const s of ins) {
        if (s.length !== x.length || s.some((d, i) => i !== a && d !== x[i] && typeof d === 'number' && typeof x[i] === 'number'))
          throw nodeError(FN, node, `expected inputs equal but on axis ${a}, got [${x.join(', ')}] and [${s.join(', ')}]`);
        parts.push(s[a]);
      }
      out[a] = parts.every((p) => typeof p === 'number') ? (parts as number[]).reduce((s, p) => s + p, 0) : parts.join('+');
      return [out];
    }
    case 'Transpose': {
      const perm = attrInts(
        node,
        'perm',
        x.map((_, i) => x.length - 1 - i),
      );
      if (perm.length !== x.length || [...perm].sort((p, q) => p - q).some((p, i) => p !== i))
        throw nodeError(FN, node, `attribute perm: expected a permutation of 0…${x.length - 1}, got [${perm.join(', ')}]`);
      return [perm.map((p) => x[p])];
    }
    default:
      throw nodeError(FN, node, 'expected a compute operator, got one without shape rules');
  }
}

/** Reshape's output shape: 0 copies the input's dimension (allowzero = 0), −1 takes what is left. */
export function reshapeTo(node: OnnxNode, x: OnnxDim[], shape: number[]): OnnxDim[] {
  const allowZero = attrInt(node, 'allowzero', 0) === 1;
  const out: OnnxDim[] = shape.map((d, i) => (d === 0 && !allowZero ? x[i] : d));
  const free = out.indexOf(-1);
  if (out.some((d, i) => d === undefined || (typeof d === 'number' && d < 0 && i !== free)) || out.lastIndexOf(-1) !== free)
    throw nodeError(FN, node, `shape: expected sizes ≥ 0, 0 within the input's rank and one -1 at most, got [${shape.join(', ')}]`);
  if (free < 0) return out;
  // cancel the symbolic dimensions both sides share, then divide what remains
  const rest = x.slice();
  const known: number[] = [];
  for (let i = 0; i < out.length; i++) {
    if (i === free) continue;
    const d = out[i];
    const j = rest.indexOf(d);
    if (typeof d === 'string' && j < 0) throw nodeError(FN, node, `shape: expected '${d}' to be an input dimension, got [${x.join(', ')}]`);
    if (typeof d === 'string') rest.splice(j, 1);
    else known.push(d);
  }
  const num = dimProduct(rest);
  const den = known.reduce((s, d) => s * d, 1);
  if (typeof num === 'number') {
    if (den === 0 || num % den !== 0) throw nodeError(FN, node, `expected a shape dividing ${num} elements, got [${shape.join(', ')}]`);
    out[free] = num / den;
  } else out[free] = den === 1 ? num : `${num}/${den}`;
  return out;
}
