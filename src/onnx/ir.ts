// The typed intermediate form of an ONNX model that parseOnnx produces, foldOnnx simplifies and
// encodeOnnx writes back: plain objects and typed arrays, no protobuf classes.
// see: https://onnx.ai/onnx/repo-docs/IR.html

/** A dimension: a size, or the name of a symbolic one (ONNX `dim_param`, e.g. `'batch'`). */
export type OnnxDim = number | string;

/** Element types the package reads: float32 for data, int64 for shapes and indices. */
export type OnnxDType = 'float32' | 'int64';

/** A constant tensor (an initializer, or a Constant node's value) in row-major order. */
export interface OnnxTensor {
  /** Its name in the graph ('' for an attribute's anonymous tensor). */
  name: string;
  /** Element type. */
  dtype: OnnxDType;
  /** Sizes, outermost first; [] for a scalar. */
  dims: number[];
  /** The elements: Float32Array for float32, BigInt64Array for int64. */
  data: Float32Array | BigInt64Array;
}

/** A graph input or output: name, element type and shape (null where the file gives none). */
export interface OnnxValueInfo {
  /** Value name. */
  name: string;
  /** Element type. */
  dtype: OnnxDType;
  /** Shape, or null when unknown. */
  shape: OnnxDim[] | null;
}

/** One attribute, tagged with its ONNX type so that it is written back as it was read. */
export type OnnxAttribute =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: OnnxTensor }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] };

/** One node: an operator applied to named values. */
export interface OnnxNode {
  /** Node name (ONNX allows '', parseOnnx then names it `<op>_<index>`). */
  name: string;
  /** Operator type in the default ONNX domain, e.g. 'Conv'. */
  op: string;
  /** Input value names; '' marks an omitted optional input. */
  inputs: string[];
  /** Output value names; '' marks an omitted optional output. */
  outputs: string[];
  /** Attributes by name. */
  attrs: Record<string, OnnxAttribute>;
}

/** A whole model: one graph in topological order, its initializers and its opset. */
export interface OnnxModel {
  /** ONNX IR version of the file (ModelProto.ir_version). */
  irVersion: number;
  /** Version of the default domain's operator set (11–21). */
  opset: number;
  /** producer_name of the file, e.g. 'pytorch'. */
  producer: string;
  /** The graph's name. */
  graphName: string;
  /** Graph inputs that are not initializers, in file order. */
  inputs: OnnxValueInfo[];
  /** Graph outputs, in file order. */
  outputs: OnnxValueInfo[];
  /** Constant tensors by name. */
  initializers: Map<string, OnnxTensor>;
  /** Nodes, each after every node that produces one of its inputs. */
  nodes: OnnxNode[];
  /** Shape of every value, filled in by foldOnnx (empty after parseOnnx). */
  shapes: Map<string, OnnxDim[]>;
}

/** Operators that compute on data and remain after folding; the package's Graph runs these. */
export const COMPUTE_OPS: ReadonlySet<string> = new Set([
  'Conv',
  'Pad',
  'BatchNormalization',
  'Relu',
  'Clip',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
  'HardSwish',
  'HardSigmoid',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'Gemm',
  'MatMul',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Flatten',
  'Reshape',
  'Concat',
  'Transpose',
  'Dropout',
  'Identity',
  'Softmax',
  'LogSoftmax',
]);

/** Operators of the shape subgraphs torch.onnx.export emits; foldOnnx evaluates them at load time. */
export const SHAPE_OPS: ReadonlySet<string> = new Set([
  'Constant',
  'Shape',
  'Gather',
  'Unsqueeze',
  'Squeeze',
  'Cast',
  'Slice',
  'ConstantOfShape',
]);

/** The opset versions of the default domain that parseOnnx accepts. */
export const OPSET_MIN = 11;
/** The newest accepted opset version. */
export const OPSET_MAX = 21;

/** The product of `dims` (1 for a scalar). */
export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** An attribute's integer value, or `fallback` when the node does not set it. */
export function attrInt(node: OnnxNode, name: string, fallback: number): number {
  const a = node.attrs[name];
  if (a === undefined) return fallback;
  if (a.type !== 'int') throw attrTypeError(node, name, 'an int', a.type);
  return a.value;
}

/** An attribute's float value, or `fallback` when the node does not set it. */
export function attrFloat(node: OnnxNode, name: string, fallback: number): number {
  const a = node.attrs[name];
  if (a === undefined) return fallback;
  if (a.type !== 'float') throw attrTypeError(node, name, 'a float', a.type);
  return a.value;
}

/** An attribute's integer list, or `fallback` when the node does not set it. */
export function attrInts(node: OnnxNode, name: string, fallback: number[]): number[] {
  const a = node.attrs[name];
  if (a === undefined) return fallback;
  if (a.type !== 'ints') throw attrTypeError(node, name, 'a list of ints', a.type);
  return a.value;
}

/** An attribute's string value, or `fallback` when the node does not set it. */
export function attrString(node: OnnxNode, name: string, fallback: string): string {
  const a = node.attrs[name];
  if (a === undefined) return fallback;
  if (a.type !== 'string') throw attrTypeError(node, name, 'a string', a.type);
  return a.value;
}

function attrTypeError(node: OnnxNode, name: string, expected: string, got: string): Error {
  return nodeError('onnx', node, `attribute ${name}: expected ${expected}, got ${got}`);
}

/** An error that names the function, the node and its operator, then says why. */
export function nodeError(fn: string, node: Pick<OnnxNode, 'name' | 'op'>, why: string): Error {
  return new Error(`${fn}: node '${node.name}' (${node.op}): ${why}`);
}
