// What each supported operator takes in opsets 11–21: its attributes with their types, and how many
// inputs. parseOnnx checks every node against it, so that later stages can trust a node's form.
// see: https://onnx.ai/onnx/operators/
import type { OnnxAttribute } from './ir.js';

type AttrType = OnnxAttribute['type'];

interface OpSchema {
  /** Attribute name → type. */
  attrs: Record<string, AttrType>;
  /** Fewest and most inputs (trailing optional ones may be omitted). */
  inputs: [number, number];
}

const POOL = { auto_pad: 'string', kernel_shape: 'ints', pads: 'ints', strides: 'ints', ceil_mode: 'int' } as const;
const UNARY: OpSchema = { attrs: {}, inputs: [1, 1] };
const BINARY: OpSchema = { attrs: {}, inputs: [2, 2] };

/** The schema of every operator parseOnnx accepts. */
export const SCHEMAS: Readonly<Record<string, OpSchema>> = {
  Conv: {
    attrs: { auto_pad: 'string', dilations: 'ints', group: 'int', kernel_shape: 'ints', pads: 'ints', strides: 'ints' },
    inputs: [2, 3],
  },
  BatchNormalization: { attrs: { epsilon: 'float', momentum: 'float', training_mode: 'int' }, inputs: [5, 5] },
  Relu: UNARY,
  Clip: { attrs: {}, inputs: [1, 3] },
  LeakyRelu: { attrs: { alpha: 'float' }, inputs: [1, 1] },
  Sigmoid: UNARY,
  Tanh: UNARY,
  HardSwish: UNARY,
  HardSigmoid: { attrs: { alpha: 'float', beta: 'float' }, inputs: [1, 1] },
  MaxPool: { attrs: { ...POOL, dilations: 'ints', storage_order: 'int' }, inputs: [1, 1] },
  AveragePool: { attrs: { ...POOL, dilations: 'ints', count_include_pad: 'int' }, inputs: [1, 1] },
  GlobalAveragePool: UNARY,
  // opset 11 on: pads, constant_value and (18) axes are inputs
  Pad: { attrs: { mode: 'string' }, inputs: [2, 4] },
  Gemm: { attrs: { alpha: 'float', beta: 'float', transA: 'int', transB: 'int' }, inputs: [2, 3] },
  MatMul: BINARY,
  Add: BINARY,
  Sub: BINARY,
  Mul: BINARY,
  Div: BINARY,
  Flatten: { attrs: { axis: 'int' }, inputs: [1, 1] },
  Reshape: { attrs: { allowzero: 'int' }, inputs: [2, 2] },
  Concat: { attrs: { axis: 'int' }, inputs: [1, Infinity] },
  Transpose: { attrs: { perm: 'ints' }, inputs: [1, 1] },
  Dropout: { attrs: { seed: 'int' }, inputs: [1, 3] },
  Identity: UNARY,
  Softmax: { attrs: { axis: 'int' }, inputs: [1, 1] },
  LogSoftmax: { attrs: { axis: 'int' }, inputs: [1, 1] },
  Constant: {
    attrs: { value: 'tensor', value_float: 'float', value_floats: 'floats', value_int: 'int', value_ints: 'ints' },
    inputs: [0, 0],
  },
  Shape: { attrs: { start: 'int', end: 'int' }, inputs: [1, 1] },
  Gather: { attrs: { axis: 'int' }, inputs: [2, 2] },
  Unsqueeze: { attrs: { axes: 'ints' }, inputs: [1, 2] },
  Squeeze: { attrs: { axes: 'ints' }, inputs: [1, 2] },
  Cast: { attrs: { to: 'int', saturate: 'int' }, inputs: [1, 1] },
  Slice: { attrs: {}, inputs: [3, 5] },
  ConstantOfShape: { attrs: { value: 'tensor' }, inputs: [1, 1] },
};

/** Why a node does not fit its operator's schema, or null when it does. */
export function schemaProblem(op: string, inputs: readonly string[], attrs: Readonly<Record<string, AttrType>>): string | null {
  const s = SCHEMAS[op];
  if (s === undefined) return 'unsupported operator';
  let n = inputs.length;
  while (n > 0 && inputs[n - 1] === '') n--; // omitted trailing optional inputs
  const [lo, hi] = s.inputs;
  if (n < lo || n > hi) return `expected ${lo === hi ? lo : hi === Infinity ? `${lo} or more` : `${lo}–${hi}`} inputs, got ${n}`;
  for (const [name, type] of Object.entries(attrs)) {
    const want = s.attrs[name];
    if (want === undefined) {
      const known = Object.keys(s.attrs);
      return `attribute ${name}: expected ${known.length === 0 ? 'no attributes' : `one of ${known.join(', ')}`}, got an unknown attribute`;
    }
    if (want !== type) return `attribute ${name}: expected type ${want}, got ${type}`;
  }
  return null;
}
