// The module's exports: every kernel family plus the allocator. All take and return scalars only.
export * from './memory';
export * from './batchnorm';
export * from './batchnorm_nhwc';
export * from './roofline';
export * from './activations';
export * from './loss';
export * from './optim';
export * from './reduce';
export * from './gemm';
export * from './conv';
export * from './conv_infer';
export * from './pool';
export * from './elementwise';
export * from './softmax';
export * from './depthwise';
export * from './recurrent';
export * from './rownorm';
