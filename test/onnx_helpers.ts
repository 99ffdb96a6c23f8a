// ONNX test helpers: fill the stripped fixtures' weights from a seeded generator, make seeded inputs,
// and build small models in memory. Reading files and running onnxruntime-node live in
// onnx_node_helpers.ts (Node only).
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Generator } from '../src/random';
import {
  AttributeProto_AttributeType,
  ModelProtoSchema,
  NodeProtoSchema,
  TensorProto_DataType,
  TensorProtoSchema,
  ValueInfoProtoSchema,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../src/onnx/onnx_pb';

/** The doc_string scripts/gen_onnx_fixtures.py puts on an initializer whose data it removed. */
export const STRIPPED = 'batchnorm-wasm:stripped';

// Values a stripped initializer gets, by what its PyTorch name says it is: BN variances positive and
// near 1, scales near 1, shifts and means small, weights uniform in ±1/√fan_in (PyTorch's default).
function range(name: string, dims: number[]): [number, number] {
  if (/running_var$/.test(name)) return [0.5, 1.5];
  if (/running_mean$|bias$/.test(name)) return [-0.2, 0.2];
  if (dims.length === 1) return [0.7, 1.3];
  const fanIn = dims.slice(1).reduce((s, d) => s * d, 1);
  const b = 1 / Math.sqrt(fanIn);
  return [-b, b];
}

/** Fills the data of every stripped initializer of an ONNX file from a seeded generator. */
export function fillStripped(bytes: Uint8Array, seed: number): Uint8Array {
  const model = fromBinary(ModelProtoSchema, bytes);
  const g = new Generator(seed);
  for (const t of model.graph!.initializer) {
    if (t.docString !== STRIPPED) continue;
    const dims = t.dims.map(Number);
    const n = dims.reduce((s, d) => s * d, 1);
    if (t.dataType === TensorProto_DataType.FLOAT) {
      const [lo, hi] = range(t.name, dims);
      t.rawData = new Uint8Array(g.fillUniform(new Float32Array(n), lo, hi).buffer);
    } else if (t.dataType === TensorProto_DataType.INT64) {
      // num_batches_tracked: a count
      t.rawData = new Uint8Array(BigInt64Array.from({ length: n }, () => 1n).buffer);
    } else throw new Error(`fillStripped: initializer '${t.name}': unexpected data type ${t.dataType}`);
    t.docString = '';
  }
  return toBinary(ModelProtoSchema, model);
}

/** A seeded float32 tensor of `dims` with values in [-1, 1). */
export function seededInput(dims: number[], seed: number): Float32Array {
  return new Generator(seed).fillUniform(new Float32Array(dims.reduce((s, d) => s * d, 1)), -1, 1);
}

/** A float32 TensorProto with raw data, for building models in tests. */
export function floatTensor(name: string, dims: number[], values?: ArrayLike<number>): TensorProto {
  const data = Float32Array.from(values ?? new Float32Array(dims.reduce((s, d) => s * d, 1)));
  return create(TensorProtoSchema, {
    name,
    dims: dims.map(BigInt),
    dataType: TensorProto_DataType.FLOAT,
    rawData: new Uint8Array(data.buffer),
  });
}

/** A value's type: a float32 tensor of `dims`. */
export function floatValue(name: string, dims: number[]): ValueInfoProto {
  const dim = dims.map((d) => ({ value: { case: 'dimValue' as const, value: BigInt(d) } }));
  return create(ValueInfoProtoSchema, {
    name,
    type: { value: { case: 'tensorType', value: { elemType: TensorProto_DataType.FLOAT, shape: { dim } } } },
  });
}

/** An int64 TensorProto (Pad's pads, Reshape's shape), for building models in tests. */
export function int64Tensor(name: string, values: readonly number[]): TensorProto {
  return create(TensorProtoSchema, {
    name,
    dims: [BigInt(values.length)],
    dataType: TensorProto_DataType.INT64,
    rawData: new Uint8Array(BigInt64Array.from(values, BigInt).buffer),
  });
}

/** A node: op, inputs, outputs, and int / ints / float / string attributes. */
export function node(
  op: string,
  input: string[],
  output: string[],
  attrs: Record<string, number | number[] | string> = {},
  name = '',
): NodeProto {
  const attribute = Object.entries(attrs).map(([k, v]) =>
    typeof v === 'string'
      ? { name: k, type: AttributeProto_AttributeType.STRING, s: new TextEncoder().encode(v) }
      : Array.isArray(v)
        ? { name: k, type: AttributeProto_AttributeType.INTS, ints: v.map(BigInt) }
        : Number.isInteger(v)
          ? { name: k, type: AttributeProto_AttributeType.INT, i: BigInt(v) }
          : { name: k, type: AttributeProto_AttributeType.FLOAT, f: v },
  );
  return create(NodeProtoSchema, { opType: op, input, output, name: name || `${op.toLowerCase()}0`, attribute });
}

/** A model protobuf (opset 17 unless given) of one graph, as a message to change before encoding. */
export function modelProto(parts: {
  nodes: NodeProto[];
  initializers?: TensorProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  opset?: number;
}): ModelProto {
  return create(ModelProtoSchema, {
    irVersion: 8n,
    opsetImport: [{ domain: '', version: BigInt(parts.opset ?? 17) }],
    graph: { name: 'g', node: parts.nodes, initializer: parts.initializers ?? [], input: parts.inputs, output: parts.outputs },
  });
}

/** The bytes of a model protobuf. */
export function encodeProto(m: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, m);
}
