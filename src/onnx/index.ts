// The ONNX format layer: parse and check a model, fold its shape subgraphs, write it back.
// Kept out of the package's default entry: `loadOnnx` imports it when a model is loaded.
export * from './ir.js';
export { parseOnnx } from './decode.js';
export { foldOnnx } from './fold.js';
export { encodeOnnx, ENCODE_OPSET } from './encode.js';
export { parseOnnxTensor } from './tensor.js';
