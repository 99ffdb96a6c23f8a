// parseOnnx: bytes → a checked OnnxModel. The protobuf is decoded by @bufbuild/protobuf (reflection
// over the schema in onnx_pb.ts, no generated code at run time); everything is then checked (opsets,
// operators, attributes, tensors, names, order) before any tensor's elements are copied out.
import { fromBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AT,
  ModelProtoSchema,
  TensorProto_DataType,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type ValueInfoProto,
} from './onnx_pb.js';
import { schemaProblem } from './schema.js';
import { checkTensor, convertTensor, dataTypeName, type CheckedTensor } from './tensor.js';
import {
  COMPUTE_OPS,
  nodeError,
  OPSET_MAX,
  OPSET_MIN,
  SHAPE_OPS,
  type OnnxAttribute,
  type OnnxDim,
  type OnnxModel,
  type OnnxNode,
  type OnnxTensor,
  type OnnxValueInfo,
} from './ir.js';

const FN = 'parseOnnx';

/**
 * Decodes and checks an ONNX model (opsets 11–21 of the default domain, float32 data, the operators
 * of COMPUTE_OPS and SHAPE_OPS). A file outside that is refused with an error naming the node, the
 * operator and why, before any tensor is copied.
 */
export function parseOnnx(bytes: Uint8Array): OnnxModel {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${FN}: bytes: expected a Uint8Array, got ${typeof bytes}`);
  let proto: ModelProto;
  try {
    proto = fromBinary(ModelProtoSchema, bytes);
  } catch (e) {
    throw new Error(`${FN}: bytes: expected an ONNX ModelProto, got a truncated or malformed protobuf (${(e as Error).message})`);
  }
  const graph = proto.graph;
  if (graph === undefined || (graph.node.length === 0 && graph.output.length === 0))
    throw new Error(`${FN}: bytes: expected an ONNX model with a graph, got none`);
  const opset = checkOpsets(proto);
  if (graph.sparseInitializer.length > 0) throw new Error(`${FN}: graph: expected dense initializers, got sparse ones`);
  if (proto.functions.length > 0) throw new Error(`${FN}: model: expected no model-local functions, got ${proto.functions.length}`);

  // Check every initializer and node before copying anything out.
  const checked = new Map<string, CheckedTensor>();
  for (const t of graph.initializer) {
    if (t.name === '') throw new Error(`${FN}: initializer: expected a name, got ''`);
    if (checked.has(t.name)) throw new Error(`${FN}: initializer '${t.name}': expected unique names, got it twice`);
    checked.set(t.name, checkTensor(t, `${FN}: initializer '${t.name}'`));
  }
  const nodes = graph.node.map((n, i) => checkNode(n, i));
  const inputs = graph.input.filter((v) => !checked.has(v.name)).map((v) => valueInfo(v, 'input'));
  const outputs = graph.output.map((v) => valueInfo(v, 'output'));
  const order = topologicalOrder(
    nodes.map((n) => n.node),
    new Set([...checked.keys(), ...inputs.map((v) => v.name)]),
    outputs,
  );

  const initializers = new Map<string, OnnxTensor>();
  for (const [name, c] of checked) initializers.set(name, convertTensor(c, name));
  return {
    irVersion: Number(proto.irVersion),
    opset,
    producer: proto.producerName,
    graphName: graph.name,
    inputs,
    outputs,
    initializers,
    nodes: order.map((i) => finishNode(nodes[i])),
    shapes: new Map(),
  };
}

function checkOpsets(proto: ModelProto): number {
  let opset = -1;
  for (const o of proto.opsetImport) {
    if (o.domain !== '' && o.domain !== 'ai.onnx')
      throw new Error(`${FN}: opset_import: expected only the default ONNX domain, got domain '${o.domain}'`);
    const v = Number(o.version);
    if (v < OPSET_MIN || v > OPSET_MAX) throw new Error(`${FN}: opset_import: expected opset ${OPSET_MIN}–${OPSET_MAX}, got ${v}`);
    opset = v;
  }
  if (opset < 0) throw new Error(`${FN}: opset_import: expected the default ONNX domain's opset, got none`);
  return opset;
}

interface PendingNode {
  node: OnnxNode;
  // attribute tensors, checked but not yet copied out
  tensors: Map<string, CheckedTensor>;
}

function checkNode(n: NodeProto, index: number): PendingNode {
  const node: OnnxNode = { name: n.name || `${n.opType}_${index}`, op: n.opType, inputs: n.input, outputs: n.output, attrs: {} };
  if (n.domain !== '' && n.domain !== 'ai.onnx') throw nodeError(FN, node, `expected the default ONNX domain, got domain '${n.domain}'`);
  if (!COMPUTE_OPS.has(n.opType) && !SHAPE_OPS.has(n.opType))
    throw nodeError(FN, node, 'unsupported operator (supported: ' + [...COMPUTE_OPS, ...SHAPE_OPS].join(', ') + ')');
  if (n.output.length === 0 || n.output.every((o) => o === '')) throw nodeError(FN, node, 'expected at least one output, got none');
  const tensors = new Map<string, CheckedTensor>();
  for (const a of n.attribute) {
    if (a.refAttrName !== '') throw nodeError(FN, node, `attribute ${a.name}: expected a value, got a reference to '${a.refAttrName}'`);
    const attr = readAttribute(a, node);
    if (a.type === AT.TENSOR) tensors.set(a.name, checkTensor(a.t!, `${FN}: node '${node.name}' (${node.op}): attribute ${a.name}`));
    else node.attrs[a.name] = attr!;
  }
  const types = Object.fromEntries(n.attribute.map((a) => [a.name, a.type === AT.TENSOR ? 'tensor' : node.attrs[a.name].type] as const));
  const problem = schemaProblem(n.opType, n.input, types);
  if (problem !== null) throw nodeError(FN, node, problem);
  if (n.opType === 'Cast') {
    const to = node.attrs.to;
    if (to?.type !== 'int' || (to.value !== TensorProto_DataType.FLOAT && to.value !== TensorProto_DataType.INT64))
      throw nodeError(FN, node, `attribute to: expected FLOAT or INT64, got ${to?.type === 'int' ? dataTypeName(to.value) : 'none'}`);
  }
  return { node, tensors };
}

function finishNode(p: PendingNode): OnnxNode {
  for (const [name, c] of p.tensors) p.node.attrs[name] = { type: 'tensor', value: convertTensor(c, '') };
  return p.node;
}

function toInt(v: bigint, node: OnnxNode, name: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
    throw nodeError(FN, node, `attribute ${name}: expected an integer within ±2^53, got ${v}`);
  return Number(v);
}

// Returns the attribute's value; a tensor attribute (checked by the caller) returns null.
function readAttribute(a: AttributeProto, node: OnnxNode): OnnxAttribute | null {
  const dec = new TextDecoder();
  switch (a.type) {
    case AT.FLOAT:
      return { type: 'float', value: a.f };
    case AT.INT:
      return { type: 'int', value: toInt(a.i, node, a.name) };
    case AT.STRING:
      return { type: 'string', value: dec.decode(a.s) };
    case AT.FLOATS:
      return { type: 'floats', value: a.floats.slice() };
    case AT.INTS:
      return { type: 'ints', value: a.ints.map((v) => toInt(v, node, a.name)) };
    case AT.STRINGS:
      return { type: 'strings', value: a.strings.map((s) => dec.decode(s)) };
    case AT.TENSOR:
      if (a.t === undefined) throw nodeError(FN, node, `attribute ${a.name}: expected a tensor, got none`);
      return null;
    default:
      throw nodeError(
        FN,
        node,
        `attribute ${a.name}: expected a float, int, string, tensor or list of them, got type ${AT[a.type] ?? a.type}`,
      );
  }
}

function valueInfo(v: ValueInfoProto, what: 'input' | 'output'): OnnxValueInfo {
  const where = `${FN}: graph ${what} '${v.name}'`;
  if (v.name === '') throw new Error(`${FN}: graph ${what}: expected a name, got ''`);
  const t = v.type?.value;
  if (v.type === undefined || v.type.value.case === undefined) return { name: v.name, dtype: 'float32', shape: null };
  if (t?.case !== 'tensorType') throw new Error(`${where}: expected a tensor, got a ${t?.case}`);
  const elem = t.value.elemType;
  if (elem !== TensorProto_DataType.FLOAT && elem !== TensorProto_DataType.INT64)
    throw new Error(`${where}: expected element type FLOAT or INT64, got ${dataTypeName(elem)}`);
  let shape: OnnxDim[] | null = null;
  if (t.value.shape !== undefined) {
    shape = t.value.shape.dim.map((d, i): OnnxDim => {
      if (d.value.case === 'dimValue') {
        if (d.value.value < 0n || d.value.value > 2n ** 32n) throw new Error(`${where}: expected dims in 0…2^32, got ${d.value.value}`);
        return Number(d.value.value);
      }
      return d.value.case === 'dimParam' && d.value.value !== '' ? d.value.value : `${v.name}_${i}`;
    });
  }
  return { name: v.name, dtype: elem === TensorProto_DataType.FLOAT ? 'float32' : 'int64', shape };
}

// Kahn's algorithm: returns node indices in an order where producers come first; refuses a value
// produced twice, a node input nothing produces (a dangling name), a cycle, an output never produced.
// see: https://en.wikipedia.org/wiki/Topological_sorting#Kahn's_algorithm
function topologicalOrder(nodes: OnnxNode[], sources: Set<string>, outputs: OnnxValueInfo[]): number[] {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.outputs) {
      if (o === '') continue;
      if (sources.has(o) || producer.has(o)) throw nodeError(FN, n, `output '${o}': expected a new name, got one already defined`);
      producer.set(o, i);
    }
  });
  const pending = new Array<number>(nodes.length).fill(0);
  const consumers: number[][] = nodes.map(() => []);
  nodes.forEach((n, i) => {
    for (const x of n.inputs) {
      if (x === '' || sources.has(x)) continue;
      const p = producer.get(x);
      if (p === undefined) throw nodeError(FN, n, `input '${x}': expected a graph input, initializer or node output, got a dangling name`);
      pending[i]++;
      consumers[p].push(i);
    }
  });
  const ready = nodes.map((_, i) => i).filter((i) => pending[i] === 0);
  const order: number[] = [];
  while (ready.length > 0) {
    const i = ready.shift()!;
    order.push(i);
    for (const c of consumers[i]) if (--pending[c] === 0) ready.push(c);
  }
  if (order.length < nodes.length) {
    const stuck = nodes.find((_, i) => pending[i] > 0)!;
    throw nodeError(FN, stuck, 'expected an acyclic graph, got a cycle through this node');
  }
  for (const o of outputs)
    if (!sources.has(o.name) && !producer.has(o.name))
      throw new Error(`${FN}: graph output '${o.name}': expected a value the graph computes, got a dangling name`);
  return order;
}
