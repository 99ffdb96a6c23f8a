// `F`: the functional namespace, as torch.nn.functional.
export { add, sub, mul, div, neg, sum, mean, reshape, view, flatten, relu, sigmoid, tanh } from './functional';
export { matmul, linear, crossEntropy, mseLoss, type CrossEntropyOptions } from './nn_ops';
