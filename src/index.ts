// batchnorm-wasm: Batch Normalization in WebAssembly SIMD with a PyTorch-shaped API.
export { init, backend, memoryBytes, simdSupported, type InitOptions, type BackendName } from './runtime/index';
export { tensor, Tensor, Parameter } from './tensor';
export { BatchNorm1d, BatchNorm2d, BatchNorm3d, type BatchNormOptions, type BatchNormState, type BatchNormStateInput } from './nn/batchnorm';
export { batchNorm, type BatchNormFunctionalOptions } from './nn/functional';
export type { Layout } from './kernels/batchnorm';
export { Module, type StateDict, type StateDictInput } from './nn/module';
export { ReLU, Sigmoid, Tanh, Dropout, Flatten, Sequential } from './nn/layers';
export { Linear, type LinearOptions } from './nn/linear';
export { foldBatchNorm } from './nn/fold';
export { Generator, manualSeed } from './random';
export { kaimingUniform, xavierUniform, uniform } from './nn/init';
export { CrossEntropyLoss, MSELoss } from './nn/loss';
export { Optimizer, SGD, Adam, AdamW, type SGDOptions, type AdamOptions } from './optim/optimizers';
export { StepLR, CosineAnnealingLR } from './optim/schedulers';
export { saveSafetensors, loadSafetensors } from './io/model';
export { encodeSafetensors, decodeSafetensors } from './io/safetensors';
export { fit, evaluate, predict, type Dataset, type FitOptions, type EpochLogs, type BatchLogs } from './train/fit';
