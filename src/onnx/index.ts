// The `batchnorm-wasm/onnx` entry: loadOnnx and toOnnx, and the format layer under them (parse and
// check a model, fold its shape subgraphs, write it back). Kept out of the default entry so that a
// program that never reads ONNX carries no protobuf code (scripts/build.mjs, test/bundlers.test.ts).
export { loadOnnx, type LoadOnnxOptions } from './load.js';
export { toOnnx, type ToOnnxOptions } from './export.js';
export {
  COMPUTE_OPS,
  SHAPE_OPS,
  OPSET_MIN,
  OPSET_MAX,
  type OnnxDim,
  type OnnxDType,
  type OnnxTensor,
  type OnnxValueInfo,
  type OnnxAttribute,
  type OnnxNode,
  type OnnxModel,
} from './ir.js';
export { parseOnnx } from './decode.js';
export { foldOnnx } from './fold.js';
export { encodeOnnx, ENCODE_OPSET } from './encode.js';
export { parseOnnxTensor } from './tensor.js';
