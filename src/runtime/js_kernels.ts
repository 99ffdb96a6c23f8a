// The pure-JS backend's kernels, gathered from their families (src/js/<family>.ts). Each kernel's
// signature is written once, by its JS twin: the `Kernels` type (./types.ts) is this object's type,
// and test/kernel_interface.test.ts checks that every WASM build exports the same functions.
import * as jsBatchnorm from '../js/batchnorm';
import * as jsRoofline from '../js/roofline';
import * as jsActivations from '../js/activations';
import * as jsLoss from '../js/loss';
import * as jsOptim from '../js/optim';
import * as jsReduce from '../js/reduce';
import * as jsGemm from '../js/gemm';
import * as jsConv from '../js/conv';
import * as jsConvInfer from '../js/conv_infer';
import * as jsPool from '../js/pool';
import * as jsDepthwise from '../js/depthwise';
import * as jsPoolInfer from '../js/pool_infer';
import * as jsDepthwiseInfer from '../js/depthwise_infer';
import * as jsElementwise from '../js/elementwise';
import * as jsSoftmax from '../js/softmax';
import * as jsRecurrent from '../js/recurrent';
import * as jsRownorm from '../js/rownorm';

/** Every kernel but alloc and free, one spread per family in the order of assembly/index.ts (memory apart: the runtime owns it). */
export const jsKernels = {
  ...jsBatchnorm,
  ...jsRoofline,
  ...jsActivations,
  ...jsLoss,
  ...jsOptim,
  ...jsReduce,
  ...jsGemm,
  ...jsConv,
  ...jsConvInfer,
  ...jsPool,
  ...jsPoolInfer,
  ...jsDepthwise,
  ...jsDepthwiseInfer,
  ...jsElementwise,
  ...jsSoftmax,
  ...jsRecurrent,
  ...jsRownorm,
};
