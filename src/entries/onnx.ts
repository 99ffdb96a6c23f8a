// The `batchnorm-wasm/onnx` entry, one file for every runtime: it registers nothing (the default
// entry of the runtime does) and imports the rest of the package from build/internal.js.
export * from '../onnx/index';
