// Shared test helpers: a layer for any layout, and the backends every numeric test runs on.
import { BatchNorm1d, BatchNorm2d, BatchNorm3d, type BatchNormOptions } from '../src/index';
import type { Layout } from './reference';

export const BACKENDS = ['wasm-simd', 'wasm-relaxed', 'wasm', 'js'] as const;

/** The layer class and layout option that take an input of `layout`. */
export function makeLayer(layout: Layout, c: number, options: BatchNormOptions = {}): BatchNorm1d | BatchNorm2d | BatchNorm3d {
  switch (layout) {
    case 'NC': return new BatchNorm1d(c, options);
    case 'NCL': case 'NLC': return new BatchNorm1d(c, { ...options, layout });
    case 'NCHW': case 'NHWC': return new BatchNorm2d(c, { ...options, layout });
    case 'NCDHW': case 'NDHWC': return new BatchNorm3d(c, { ...options, layout });
  }
}

/** A shape of `layout` with batch n, c channels and the given spatial sizes. */
export function shapeOf(layout: Layout, n: number, c: number, spatial: number[]): number[] {
  return layout === 'NC' || layout.startsWith('NC') ? [n, c, ...spatial] : [n, ...spatial, c];
}
