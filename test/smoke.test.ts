import { describe, expect, it } from 'vitest';
import { init, backend, tensor, BatchNorm2d } from '../src/index';
import { channelIndices } from './reference';

// Each channel here holds 4 values of variance 4.25 (channel 0: 1, 2, 5, 6; channel 1: 3, 4, 7, 8).
// Mean: f32 roundings of O(1) values, averaged: 1e-6. Variance: σ²/(σ² + eps) = 1 − 2.4e-6 for
// eps = 1e-5, plus roundings: 1e-5.
const TOL_MEAN = 1e-6;
const TOL_VAR = 1e-5;

describe('smoke', () => {
  it('initialises SIMD by default and normalizes', async () => {
    await init();
    expect(backend()).toBe('wasm-simd');
    const bn = new BatchNorm2d(2);
    using x = tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2, 1]);
    using y = bn.forward(x);
    expect(y.shape).toEqual([2, 2, 2, 1]);
    const v = y.toArray();
    for (const ix of channelIndices('NCHW', y.shape)) {
      const mean = ix.reduce((s, i) => s + v[i], 0) / ix.length;
      const variance = ix.reduce((s, i) => s + (v[i] - mean) ** 2, 0) / ix.length;
      expect(Math.abs(mean)).toBeLessThanOrEqual(TOL_MEAN);
      expect(Math.abs(variance - 1)).toBeLessThanOrEqual(TOL_VAR);
    }
    bn.dispose();
  });
});
