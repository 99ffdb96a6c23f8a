// TensorProto → OnnxTensor: every check first (type, dims, where the data lives, its length), so
// that a hostile tensor is refused before its elements are allocated.
import { fromBinary } from '@bufbuild/protobuf';
import { TensorProto_DataLocation, TensorProto_DataType, TensorProtoSchema, type TensorProto } from './onnx_pb.js';
import type { OnnxDType, OnnxTensor } from './ir.js';

// The largest element count accepted: 2^32 elements would already be 16 GiB of float32.
const MAX_ELEMENTS = 2 ** 32;

/** What checkTensor learnt about a tensor: enough to convert it without another check. */
export interface CheckedTensor {
  /** The protobuf message. */
  proto: TensorProto;
  /** Element type. */
  dtype: OnnxDType;
  /** Sizes as numbers. */
  dims: number[];
  /** Element count. */
  count: number;
}

/** ONNX's name of a TensorProto data type, for messages. */
export function dataTypeName(t: number): string {
  return TensorProto_DataType[t] ?? `unknown (${t})`;
}

/** Checks a TensorProto's type, dims and data length; `where` starts the error message. */
export function checkTensor(proto: TensorProto, where: string): CheckedTensor {
  if (proto.dataLocation === TensorProto_DataLocation.EXTERNAL || proto.externalData.length > 0) {
    const loc = proto.externalData.find((e) => e.key === 'location')?.value ?? '';
    throw new Error(`${where}: expected its data inside the file, got a reference to external data '${loc}' (refused: no file access)`);
  }
  if (proto.segment !== undefined) throw new Error(`${where}: expected one tensor, got a segment of a split tensor`);
  let dtype: OnnxDType;
  if (proto.dataType === TensorProto_DataType.FLOAT) dtype = 'float32';
  else if (proto.dataType === TensorProto_DataType.INT64) dtype = 'int64';
  else throw new Error(`${where}: expected data type FLOAT or INT64, got ${dataTypeName(proto.dataType)}`);
  const dims: number[] = [];
  let count = 1;
  for (const d of proto.dims) {
    if (d < 0n) throw new Error(`${where}: expected dims ≥ 0, got [${proto.dims.join(', ')}]`);
    count *= Number(d);
    if (count > MAX_ELEMENTS) throw new Error(`${where}: expected at most 2^32 elements, got dims [${proto.dims.join(', ')}]`);
    dims.push(Number(d));
  }
  const bytes = dtype === 'float32' ? 4 : 8;
  const listed = dtype === 'float32' ? proto.floatData.length : proto.int64Data.length;
  const have = proto.rawData.length > 0 ? proto.rawData.length / bytes : listed;
  if (have !== count) {
    const what = proto.rawData.length > 0 ? `${proto.rawData.length} bytes of raw_data` : `${listed} listed elements`;
    throw new Error(`${where}: expected ${count} ${dtype} elements for dims [${dims.join(', ')}], got ${what}`);
  }
  return { proto, dtype, dims, count };
}

/** Copies a checked tensor's elements into a typed array of their own. */
export function convertTensor(c: CheckedTensor, name: string): OnnxTensor {
  const { proto, dtype, dims, count } = c;
  const data = dtype === 'float32' ? new Float32Array(count) : new BigInt64Array(count);
  if (proto.rawData.length > 0) {
    // raw_data is little-endian; a DataView reads it whatever the alignment and the host's order
    const view = new DataView(proto.rawData.buffer, proto.rawData.byteOffset, proto.rawData.byteLength);
    if (data instanceof Float32Array) for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
    else for (let i = 0; i < count; i++) data[i] = view.getBigInt64(8 * i, true);
  } else if (data instanceof Float32Array) data.set(proto.floatData);
  else for (let i = 0; i < count; i++) data[i] = proto.int64Data[i];
  return { name, dtype, dims, data };
}

/**
 * Reads a serialized TensorProto (the `.pb` files of ONNX's node tests). float32 and int64 only.
 */
export function parseOnnxTensor(bytes: Uint8Array): OnnxTensor {
  let proto: TensorProto;
  try {
    proto = fromBinary(TensorProtoSchema, bytes);
  } catch (e) {
    throw new Error(`parseOnnxTensor: bytes: expected a TensorProto, got a malformed protobuf (${(e as Error).message})`);
  }
  return convertTensor(checkTensor(proto, `parseOnnxTensor: tensor '${proto.name}'`), proto.name);
}
