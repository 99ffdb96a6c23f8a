// The shared-memory build's exports (asconfig target simd-threads): every kernel of index.ts, and
// the part kernels the runtime's threads run (parts*.ts).
export * from './index';
export * from './parts';
export * from './parts_bn';
export * from './parts_bn_rows';
export * from './parts_bn_virtual';
export * from './parts_conv';
export * from './parts_pool';
export * from './parts_optim';
export * from './parts_roofline';
export * from './parts_elementwise';
export * from './parts_recurrent';
export * from './parts_infer';
export * from './parts_depthwise';
