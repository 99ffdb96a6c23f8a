import { describe, expect, it } from 'vitest';
import { init, backend, tensor, BatchNorm2d } from '../src/index';

describe('smoke', () => {
  it('initialises SIMD by default and normalizes', async () => {
    await init();
    expect(backend()).toBe('wasm-simd');
    const bn = new BatchNorm2d(2);
    using x = tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2, 1]);
    using y = bn.forward(x);
    expect(y.shape).toEqual([2, 2, 2, 1]);
  });
});
