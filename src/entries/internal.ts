// Not a public entry (not in package.json `exports`): the link from build/onnx.js to the shared
// chunk. It re-exports the whole API, so that every module the three public entries reach is reached
// by this entry too and esbuild keeps one shared chunk (build/core.js), plus the non-public names the
// ONNX layer imports. scripts/build.mjs bundles src/onnx/ into build/onnx.js with every other src
// import pointed here, so the ONNX entry shares the runtime state of whichever entry the user loaded.
export * from '../index';
export { BatchNorm } from '../nn/batchnorm';
export { leafLayer } from '../nn/module';
export { runtime } from '../runtime/index';
export { constantPad2d } from '../nn/pad';
export { ceilExtra } from '../graph/shape_ops';
export { checkOptions, checkTensor, describe, kindOf } from '../validate';
