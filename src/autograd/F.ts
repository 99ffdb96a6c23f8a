// `F`: the functional namespace, as torch.nn.functional.
export { add, sub, mul, div, neg, sum, mean, reshape, view, flatten, relu, sigmoid, tanh, concat } from './functional';
export { hardtanh, clip, relu6, leakyRelu, hardswish, hardsigmoid } from './functional';
export { matmul, linear } from './nn_ops';
export {
  softmax,
  logSoftmax,
  nllLoss,
  crossEntropy,
  mseLoss,
  l1Loss,
  smoothL1Loss,
  huberLoss,
  binaryCrossEntropy,
  binaryCrossEntropyWithLogits,
  type CrossEntropyOptions,
  type NLLOptions,
  type Reduction,
} from './losses';
export {
  conv2d,
  maxPool2d,
  avgPool2d,
  dropout,
  type Conv2dFunctionalOptions,
  type Pool2dFunctionalOptions,
  type AvgPool2dFunctionalOptions,
} from './conv_ops';
export { adaptiveAvgPool2d, type AdaptivePool2dOptions } from './adaptive_pool';
export { batchNorm, type BatchNormFunctionalOptions } from '../nn/functional';
export { batchRenorm, type BatchRenormFunctionalOptions } from '../nn/renorm_functional';
export { layerNorm, groupNorm, instanceNorm, type NormFunctionalOptions, type InstanceNormFunctionalOptions } from '../nn/norm_functional';
export { rnn, lstm, gru, type RecurrentWeights, type RecurrentFunctionalOptions } from './recurrent_stack';
