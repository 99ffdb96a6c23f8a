// encodeOnnx: an OnnxModel → ONNX protobuf bytes at opset 17. The attributes foldOnnx made of
// constant inputs (Reshape.shape, Clip.min/max, Dropout.ratio/training_mode) become initializers
// again, as opset 17 wants them.
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AT,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProto_DataType as DT,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './onnx_pb.js';
import { type OnnxAttribute, type OnnxModel, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './ir.js';

const FN = 'encodeOnnx';
/** The opset encodeOnnx writes. */
export const ENCODE_OPSET = 17;
// IR version 8 goes with opset 17 (ONNX 1.12). see: https://onnx.ai/onnx/repo-docs/Versioning.html
const IR_VERSION = 8n;

function tensorProto(t: OnnxTensor | { name: string; dtype: 'bool'; dims: number[]; data: Uint8Array }): TensorProto {
  const n = t.data.length;
  let raw: Uint8Array;
  if (t.data instanceof Float32Array) {
    raw = new Uint8Array(4 * n);
    const v = new DataView(raw.buffer);
    for (let i = 0; i < n; i++) v.setFloat32(4 * i, t.data[i], true);
  } else if (t.data instanceof BigInt64Array) {
    raw = new Uint8Array(8 * n);
    const v = new DataView(raw.buffer);
    for (let i = 0; i < n; i++) v.setBigInt64(8 * i, t.data[i], true);
  } else raw = t.data.slice();
  const dataType = t.dtype === 'float32' ? DT.FLOAT : t.dtype === 'int64' ? DT.INT64 : DT.BOOL;
  return create(TensorProtoSchema, { name: t.name, dims: t.dims.map(BigInt), dataType, rawData: raw });
}

function attribute(name: string, a: OnnxAttribute): AttributeProto {
  const enc = new TextEncoder();
  const p = create(AttributeProtoSchema, { name });
  switch (a.type) {
    case 'float':
      Object.assign(p, { type: AT.FLOAT, f: a.value });
      break;
    case 'int':
      Object.assign(p, { type: AT.INT, i: BigInt(a.value) });
      break;
    case 'string':
      Object.assign(p, { type: AT.STRING, s: enc.encode(a.value) });
      break;
    case 'tensor':
      Object.assign(p, { type: AT.TENSOR, t: tensorProto(a.value) });
      break;
    case 'floats':
      Object.assign(p, { type: AT.FLOATS, floats: a.value.slice() });
      break;
    case 'ints':
      Object.assign(p, { type: AT.INTS, ints: a.value.map(BigInt) });
      break;
    case 'strings':
      Object.assign(p, { type: AT.STRINGS, strings: a.value.map((s) => enc.encode(s)) });
      break;
  }
  return p;
}

function valueInfo(v: OnnxValueInfo): ValueInfoProto {
  const dims = (v.shape ?? []).map((d) =>
    create(TensorShapeProto_DimensionSchema, {
      value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
    }),
  );
  const tensorType = { elemType: v.dtype === 'float32' ? DT.FLOAT : DT.INT64, shape: v.shape === null ? undefined : { dim: dims } };
  return create(ValueInfoProtoSchema, {
    name: v.name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }),
  });
}

/**
 * Writes a model as ONNX protobuf bytes (opset 17, IR version 8). Takes foldOnnx's output, or a parsed
 * model of opset ≥ 13 (whose operators mean the same at 17).
 */
export function encodeOnnx(model: OnnxModel): Uint8Array {
  // operators changed meaning at opset 13 (Softmax's axis, Squeeze's axes); foldOnnx writes them in 13's terms
  if (model.opset < 13 && model.shapes.size === 0)
    throw new Error(`${FN}: model: expected opset ≥ 13 or a folded model (foldOnnx), got an unfolded model of opset ${model.opset}`);
  const taken = new Set<string>([...model.initializers.keys(), ...model.inputs.map((v) => v.name)]);
  for (const n of model.nodes) for (const o of n.outputs) taken.add(o);
  const extra: TensorProto[] = [];
  // a constant initializer under a name no value has yet
  const addConst = (
    node: OnnxNode,
    what: string,
    t: Omit<OnnxTensor, 'name'> | { dtype: 'bool'; dims: number[]; data: Uint8Array },
  ): string => {
    let name = `${node.name}.${what}`;
    for (let i = 1; taken.has(name); i++) name = `${node.name}.${what}_${i}`;
    taken.add(name);
    extra.push(tensorProto({ ...t, name } as OnnxTensor));
    return name;
  };
  const nodes: NodeProto[] = model.nodes.map((node) => {
    const attrs = { ...node.attrs };
    const inputs = node.inputs.slice();
    const take = (k: string): OnnxAttribute | undefined => {
      const a = attrs[k];
      delete attrs[k];
      return a;
    };
    if (node.op === 'Reshape' && attrs.shape?.type === 'ints') {
      const s = take('shape')!.value as number[];
      inputs[1] = addConst(node, 'shape', { dtype: 'int64', dims: [s.length], data: BigInt64Array.from(s, BigInt) });
    } else if (node.op === 'Clip') {
      const lo = take('min');
      const hi = take('max');
      if (lo !== undefined) inputs[1] = addConst(node, 'min', { dtype: 'float32', dims: [], data: Float32Array.of(lo.value as number) });
      if (hi !== undefined) inputs[2] = addConst(node, 'max', { dtype: 'float32', dims: [], data: Float32Array.of(hi.value as number) });
      for (let i = 1; i < inputs.length; i++) inputs[i] ??= '';
    } else if (node.op === 'Pad' && attrs.pads?.type === 'ints') {
      const pads = take('pads')!.value as number[];
      const value = take('value');
      inputs[1] = addConst(node, 'pads', { dtype: 'int64', dims: [pads.length], data: BigInt64Array.from(pads, BigInt) });
      if (value !== undefined)
        inputs[2] = addConst(node, 'value', { dtype: 'float32', dims: [], data: Float32Array.of(value.value as number) });
    } else if (node.op === 'Dropout') {
      const ratio = take('ratio');
      const training = take('training_mode');
      if (ratio !== undefined)
        inputs[1] = addConst(node, 'ratio', { dtype: 'float32', dims: [], data: Float32Array.of(ratio.value as number) });
      if (training !== undefined && training.value !== 0) {
        inputs[1] ??= '';
        inputs[2] = addConst(node, 'training_mode', { dtype: 'bool', dims: [], data: Uint8Array.of(1) });
      }
    }
    return create(NodeProtoSchema, {
      name: node.name,
      opType: node.op,
      input: inputs,
      output: node.outputs.slice(),
      attribute: Object.entries(attrs).map(([k, a]) => attribute(k, a)),
    });
  });
  const graph = create(GraphProtoSchema, {
    name: model.graphName,
    node: nodes,
    initializer: [...[...model.initializers.values()].map(tensorProto), ...extra],
    input: model.inputs.map(valueInfo),
    output: model.outputs.map(valueInfo),
  });
  const proto = create(ModelProtoSchema, {
    irVersion: IR_VERSION,
    producerName: 'batchnorm-wasm',
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(ENCODE_OPSET) })],
    graph,
  });
  return toBinary(ModelProtoSchema, proto);
}
