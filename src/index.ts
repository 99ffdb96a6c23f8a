// batchnorm-wasm: Batch Normalization in WebAssembly SIMD with a PyTorch-shaped API.
export {
  init,
  backend,
  threads,
  threadsUnavailableReason,
  disposeThreads,
  memoryBytes,
  simdSupported,
  relaxedSimdSupported,
  type InitOptions,
  type BackendName,
} from './runtime/index';
export { tensor, Tensor, Parameter, noGrad } from './tensor';
export * as F from './autograd/F';
export {
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  type BatchNormOptions,
  type BatchNormState,
  type BatchNormStateInput,
} from './nn/batchnorm';
export { batchNorm, type BatchNormFunctionalOptions } from './nn/functional';
export { batchRenorm, type BatchRenormFunctionalOptions } from './nn/renorm_functional';
export { LayerNorm, GroupNorm, type LayerNormOptions, type GroupNormOptions } from './nn/norms';
export { InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, type InstanceNormOptions } from './nn/instance_norm';
export { layerNorm, groupNorm, instanceNorm, type NormFunctionalOptions, type InstanceNormFunctionalOptions } from './nn/norm_functional';
export { GhostBatchNorm1d, GhostBatchNorm2d, GhostBatchNorm3d, type GhostBatchNormOptions } from './nn/ghost';
export { BatchRenorm1d, BatchRenorm2d, BatchRenorm3d, type BatchRenormOptions, type RenormWarmup } from './nn/renorm';
export type { Layout } from './kernels/batchnorm';
export { Module, type StateDict, type StateDictInput } from './nn/module';
export { ReLU, Sigmoid, Tanh, Dropout, Flatten, Sequential } from './nn/layers';
export { ReLU6, Hardtanh, LeakyReLU, Hardswish, Hardsigmoid, Softmax, LogSoftmax } from './nn/activations';
export { AdaptiveAvgPool2d, type AdaptivePool2dLayerOptions } from './nn/adaptive_pool';
export { Linear, type LinearOptions } from './nn/linear';
export { foldBatchNorm } from './nn/fold';
export { Graph, type GraphNode, type GraphLayerOptions } from './graph/graph';
export { GRAPH_OPS, type GraphOp, type GraphOpAttrs } from './graph/ops';
export { type GraphSpec, type GraphNodeSpec, type GraphLayerSpec, type GraphOpSpec, type GraphConstantSpec } from './graph/spec';
export { Conv2d, type Conv2dOptions } from './nn/conv';
export { MaxPool2d, AvgPool2d, type Pool2dOptions, type AvgPool2dOptions } from './nn/pool';
export { ConstantPad2d, ZeroPad2d, type Padding4 } from './nn/pad';
export { Generator, manualSeed } from './random';
export { kaimingUniform, xavierUniform, uniform } from './nn/init';
export { CrossEntropyLoss, MSELoss, NLLLoss, L1Loss, SmoothL1Loss, HuberLoss, BCELoss, BCEWithLogitsLoss } from './nn/loss';
export { Optimizer, SGD, Adam, AdamW, type SGDOptions, type AdamOptions } from './optim/optimizers';
export { RMSprop, Adagrad, Adadelta, type RMSpropOptions, type AdagradOptions, type AdadeltaOptions } from './optim/adaptive';
export { StepLR, CosineAnnealingLR, MultiStepLR, ExponentialLR, LinearLR, OneCycleLR, ReduceLROnPlateau } from './optim/schedulers';
export { saveSafetensors, loadSafetensors, type LoadSafetensorsOptions } from './io/model';
export { encodeSafetensors, decodeSafetensors, type DecodeOptions } from './io/safetensors';
export { DataLoader, type DataLoaderData, type DataLoaderOptions } from './train/data';
export { clipGradNorm } from './optim/clip';
export {
  fit,
  evaluate,
  predict,
  setProgressDisplay,
  type Dataset,
  type FitOptions,
  type EvaluateOptions,
  type EvaluateAccuracyOptions,
  type EvaluateResult,
  type PredictOptions,
  type FitLoss,
  type LossName,
  type Metric,
  type MetricName,
  type MetricKey,
  type EpochLogs,
  type BatchLogs,
  type ProgressDisplay,
  type ProgressBar,
  type ProgressInfo,
} from './train/fit';
export {
  EarlyStopping,
  ModelCheckpoint,
  type Callback,
  type TrainInfo,
  type Monitor,
  type EarlyStoppingOptions,
  type ModelCheckpointOptions,
} from './train/callbacks';
export { RNN, LSTM, GRU, type RecurrentOptions, type RNNOptions, type RecurrentNorm } from './nn/recurrent';
export type { RecurrentState, RecurrentOutput, RecurrentWeights, RecurrentFunctionalOptions } from './autograd/recurrent_stack';
