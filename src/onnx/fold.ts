// foldOnnx: evaluates the shape subgraphs torch.onnx.export emits (Shape → Gather → Unsqueeze →
// Concat → Reshape, Constant, ConstantOfShape, Cast, Squeeze, Slice, integer arithmetic and
// Transpose) for the model's input shapes, and returns a model of compute operators only, whose
// constant inputs have become attributes:
//   Reshape: attrs.shape (ints, with ONNX's 0 = copy and −1 = the rest), inputs [data]
//   Clip: attrs.min / attrs.max (floats, when given), inputs [x]
//   Pad: attrs.pads (ints, [begins…, ends…] for every axis), attrs.value (float, when given), inputs [x]
//   Dropout: attrs.ratio (float), attrs.training_mode (int), inputs [x]
//   Softmax, LogSoftmax: attrs.axis ≥ 0 with opset-13 semantics (one axis)
//   BatchNormalization: attrs.training_mode set (from the outputs before opset 14)
// and with the shape of every value in `shapes`.
import { attrInt, attrInts, COMPUTE_OPS, nodeError, type OnnxDim, type OnnxModel, type OnnxNode, type OnnxTensor } from './ir.js';
import { inferShapes } from './shapes.js';
import { evalShapeOp, fromTensor, ints, type Const } from './fold_ops.js';

const FN = 'foldOnnx';

// Operators folded when every input is a constant integer tensor (integer shape arithmetic).
// (Transpose: torch.onnx.export reorders Pad's pads [[begin, end] per axis] with it)
const INT_FOLDABLE = new Set(['Concat', 'Add', 'Sub', 'Mul', 'Div', 'Identity', 'Reshape', 'Flatten', 'Transpose']);

/**
 * Folds the shape subgraphs of a parsed model for the given input shapes (default: the file's) and
 * returns a new model of compute operators only (see the list at the top of fold.ts).
 */
export function foldOnnx(model: OnnxModel, inputShapes: Record<string, OnnxDim[]> = {}): OnnxModel {
  const shapes = new Map<string, OnnxDim[]>();
  const consts = new Map<string, Const>();
  for (const v of model.inputs) {
    const shape = inputShapes[v.name] ?? v.shape;
    if (shape === null) throw new Error(`${FN}: inputShapes: expected a shape for input '${v.name}', got none (the file has none)`);
    if (v.shape !== null && shape.length !== v.shape.length)
      throw new Error(`${FN}: inputShapes.${v.name}: expected rank ${v.shape.length}, got [${shape.join(', ')}]`);
    shapes.set(v.name, shape.slice());
  }
  for (const [name, t] of model.initializers) {
    shapes.set(name, t.dims.slice());
    consts.set(name, fromTensor(t));
  }
  const nodes: OnnxNode[] = [];
  for (const node of model.nodes) {
    const ins = node.inputs.map((x) => (x === '' ? undefined : consts.get(x)));
    const allConst = node.inputs.every((x, i) => x === '' || ins[i] !== undefined);
    // torch.onnx.export writes Identity(initializer) where it merged equal initializers: a constant too
    const constIdentity = node.op === 'Identity' && allConst;
    if (
      !COMPUTE_OPS.has(node.op) ||
      constIdentity ||
      (allConst && INT_FOLDABLE.has(node.op) && ins.every((c) => c === undefined || c.dtype === 'int64'))
    ) {
      const out = evalShapeOp(node, ins, (x) => shapes.get(x), model.opset);
      consts.set(node.outputs[0], out);
      shapes.set(node.outputs[0], out.dims);
      continue;
    }
    const n = canonical(node, consts, shapes, model.opset);
    const inShapes = n.inputs.map((x) => {
      const s = shapes.get(x);
      if (s === undefined) throw nodeError(FN, node, `input '${x}': expected a known shape, got none`);
      return s;
    });
    inferShapes(n, inShapes).forEach((s, i) => n.outputs[i] !== '' && shapes.set(n.outputs[i], s));
    nodes.push(n);
  }
  // Initializers the remaining nodes read, and constants computed here that they read as data.
  const initializers = new Map<string, OnnxTensor>();
  for (const n of nodes)
    for (const x of n.inputs) {
      if (x === '' || initializers.has(x) || !consts.has(x)) continue;
      const t = model.initializers.get(x) ?? toTensor(x, consts.get(x)!, n);
      initializers.set(x, t);
    }
  // an output the shape subgraph computed (a model of Shape alone) becomes a constant initializer
  for (const o of model.outputs)
    if (consts.has(o.name) && !initializers.has(o.name))
      initializers.set(o.name, model.initializers.get(o.name) ?? toOutput(o.name, consts.get(o.name)!));
  // shapes of the values that remain: inputs, initializers, node outputs
  const kept = new Map<string, OnnxDim[]>();
  for (const name of [...model.inputs.map((v) => v.name), ...initializers.keys(), ...nodes.flatMap((n) => n.outputs)])
    if (shapes.has(name)) kept.set(name, shapes.get(name)!);
  const outputs = model.outputs.map((o) => ({ ...o, shape: shapes.get(o.name) ?? o.shape }));
  const inputs = model.inputs.map((v) => ({ ...v, shape: shapes.get(v.name)! }));
  return { ...model, inputs, outputs, initializers, nodes, shapes: kept };
}

function toOutput(name: string, c: Const): OnnxTensor {
  return toTensor(name, c, { name: name, op: 'output', inputs: [], outputs: [], attrs: {} });
}

function toTensor(name: string, c: Const, node: OnnxNode): OnnxTensor {
  // a copy: two names never share one array (an aliased initializer becomes a parameter of its own)
  if (c.dtype === 'float32') return { name, dtype: 'float32', dims: c.dims, data: Float32Array.from(c.values as Float32Array) };
  const data = new BigInt64Array(c.values.length);
  c.values.forEach((v, i) => {
    if (typeof v !== 'number') throw nodeError(FN, node, `input '${name}': expected known integers, got the symbolic dimension '${v}'`);
    data[i] = BigInt(v);
  });
  return { name, dtype: 'int64', dims: c.dims, data };
}

function constInput(node: OnnxNode, consts: Map<string, Const>, i: number, what: string): Const | undefined {
  const x = node.inputs[i];
  if (x === undefined || x === '') return undefined;
  const c = consts.get(x);
  if (c === undefined) throw nodeError(FN, node, `input ${what} '${x}': expected a constant, got a computed value`);
  return c;
}

function scalar(node: OnnxNode, c: Const, what: string): number {
  const v = c.values[0];
  if (c.values.length !== 1 || typeof v !== 'number')
    throw nodeError(FN, node, `input ${what}: expected one number, got [${[...c.values]}]`);
  return v;
}

// A copy of a compute node with its constant configuration inputs moved into attributes.
function canonical(node: OnnxNode, consts: Map<string, Const>, shapes: Map<string, OnnxDim[]>, opset: number): OnnxNode {
  const n: OnnxNode = { ...node, inputs: node.inputs.slice(), outputs: node.outputs.slice(), attrs: { ...node.attrs } };
  const rank = shapes.get(node.inputs[0])?.length ?? 0;
  switch (node.op) {
    case 'Reshape': {
      const c = constInput(node, consts, 1, 'shape');
      if (c === undefined) throw nodeError(FN, node, 'input shape: expected a constant, got none');
      const x = shapes.get(node.inputs[0]) ?? [];
      const allowZero = attrInt(node, 'allowzero', 0) === 1;
      // a symbolic size stays symbolic only as "copy the input's dimension here" (0)
      const shape = Array.from(c.values, (v, i) => {
        if (typeof v === 'number') return v;
        if (x[i] === v && !allowZero) return 0;
        throw nodeError(FN, node, `input shape: expected sizes known for these input shapes, got '${v}' at ${i}`);
      });
      n.attrs.shape = { type: 'ints', value: shape };
      n.inputs = [node.inputs[0]];
      break;
    }
    case 'Clip': {
      const lo = constInput(node, consts, 1, 'min');
      const hi = constInput(node, consts, 2, 'max');
      if (lo !== undefined) n.attrs.min = { type: 'float', value: scalar(node, lo, 'min') };
      if (hi !== undefined) n.attrs.max = { type: 'float', value: scalar(node, hi, 'max') };
      n.inputs = [node.inputs[0]];
      break;
    }
    case 'Dropout': {
      const ratio = constInput(node, consts, 1, 'ratio');
      const training = constInput(node, consts, 2, 'training_mode');
      n.attrs.ratio = { type: 'float', value: ratio === undefined ? 0.5 : scalar(node, ratio, 'ratio') };
      n.attrs.training_mode = { type: 'int', value: training === undefined ? 0 : scalar(node, training, 'training_mode') };
      n.inputs = [node.inputs[0]];
      break;
    }
    case 'Softmax':
    case 'LogSoftmax': {
      const axis = attrInt(node, 'axis', opset < 13 ? 1 : -1);
      const a = axis < 0 ? axis + rank : axis;
      if (a < 0 || a >= rank) throw nodeError(FN, node, `attribute axis: expected -${rank}…${rank - 1}, got ${axis}`);
      // before opset 13 the input is flattened to 2-D at axis: the same as one axis only for the last
      if (opset < 13 && a !== rank - 1)
        throw nodeError(
          FN,
          node,
          `attribute axis: expected the last axis under opset ${opset} (the 2-D coercion is not supported), got ${axis}`,
        );
      n.attrs.axis = { type: 'int', value: a };
      break;
    }
    case 'BatchNormalization':
      if (opset < 14) n.attrs.training_mode = { type: 'int', value: node.outputs.filter((o) => o !== '').length > 1 ? 1 : 0 };
      break;
    case 'Pad': {
      // pads for every axis [begins…, ends…] (the axes input, opset 18, picks the axes they are for)
      const pads = ints(node, constInput(node, consts, 1, 'pads'), 'pads');
      const value = constInput(node, consts, 2, 'constant_value');
      const axesIn = constInput(node, consts, 3, 'axes');
      const axes = axesIn === undefined ? [...Array(rank).keys()] : ints(node, axesIn, 'axes').map((a) => (a < 0 ? a + rank : a));
      if (pads.length !== 2 * axes.length || axes.some((a) => a < 0 || a >= rank))
        throw nodeError(
          FN,
          node,
          `input pads: expected 2 × ${axes.length} values for axes [${axes.join(', ')}] of rank ${rank}, got [${pads.join(', ')}]`,
        );
      const full = new Array<number>(2 * rank).fill(0);
      axes.forEach((a, i) => {
        full[a] = pads[i];
        full[a + rank] = pads[i + axes.length];
      });
      n.attrs.pads = { type: 'ints', value: full };
      if (value !== undefined) {
        if (value.dtype !== 'float32') throw nodeError(FN, node, `input constant_value: expected float32, got ${value.dtype}`);
        n.attrs.value = { type: 'float', value: scalar(node, value, 'constant_value') };
      }
      n.inputs = [node.inputs[0]];
      break;
    }
    case 'Transpose':
      if (node.attrs.perm === undefined) n.attrs.perm = { type: 'ints', value: attrInts(node, 'perm', [...Array(rank).keys()].reverse()) };
      break;
  }
  // every remaining input is data: a computed value, an initializer, or a float constant
  for (const x of n.inputs) {
    const c = x === '' ? undefined : consts.get(x);
    if (c !== undefined && c.dtype !== 'float32') throw nodeError(FN, node, `input '${x}': expected float32 data, got an int64 constant`);
  }
  return n;
}
