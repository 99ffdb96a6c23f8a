// Overlapping init() calls: the last call made among those that succeed decides the backend, a failing
// call changes nothing, and each promise resolves to the backend active when it settles.
import { describe, expect, it } from 'vitest';
import { backend, init, tensor } from '../src/index';

const NOT_WASM = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0xff]);

describe('overlapping init() calls', () => {
  // first in this file: no backend is active yet
  it('a failing call started after a successful one does not cancel it', async () => {
    const ok = init({ backend: 'wasm' });
    const bad = init({ backend: 'wasm', module: NOT_WASM });
    await expect(bad).rejects.toThrow(WebAssembly.CompileError);
    await expect(ok).resolves.toBe('wasm');
    expect(backend()).toBe('wasm');
    using t = tensor([1, 2, 3]);
    expect([...t.toArray()]).toEqual([1, 2, 3]);
  });

  it('a failing call leaves the active backend in place', async () => {
    await init({ backend: 'js' });
    await expect(init({ backend: 'wasm-simd', module: NOT_WASM })).rejects.toThrow(WebAssembly.CompileError);
    expect(backend()).toBe('js');
  });

  it('an earlier call that finishes last does not override a later one, and resolves to what is active', async () => {
    // 'js' needs no compile, so it settles first although it was called second
    const results = await Promise.all([init({ backend: 'wasm' }), init({ backend: 'js' })]);
    expect(results).toEqual(['js', 'js']);
    expect(backend()).toBe('js');
  });

  it('calls that finish in the order made each resolve to their own backend', async () => {
    const results = await Promise.all([init({ backend: 'js' }), init({ backend: 'wasm-simd' })]);
    expect(results).toEqual(['js', 'wasm-simd']);
    expect(backend()).toBe('wasm-simd');
  });
});
