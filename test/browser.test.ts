// In a browser: the runtime fetches build/*.wasm over HTTP from the dev server, and init() picks the
// SIMD build. Skipped under Node, where the runtime reads file: URLs instead.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { init, backend, simdSupported } from '../src/index';

const inBrowser = typeof window === 'object' && typeof document === 'object';

describe.runIf(inBrowser)('browser', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('fetches each .wasm over HTTP from the URL the runtime resolves', async () => {
    const seen: { url: string; status: number }[] = [];
    const realFetch = globalThis.fetch.bind(globalThis);
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, options) => {
      const res = await realFetch(input, options);
      seen.push({ url: String(input instanceof Request ? input.url : input), status: res.status });
      return res;
    });
    for (const [name, file] of [
      ['wasm', 'batchnorm.wasm'],
      ['wasm-simd', 'batchnorm-simd.wasm'],
    ] as const) {
      seen.length = 0;
      await init({ backend: name });
      expect(backend()).toBe(name);
      expect(seen).toHaveLength(1);
      const url = new URL(seen[0].url);
      expect(url.protocol).toBe('http:');
      expect(url.pathname.endsWith('/build/' + file), url.href).toBe(true);
      expect(seen[0].status).toBe(200);
    }
  });

  it("init() picks 'wasm-simd' in Chromium", async () => {
    expect(simdSupported()).toBe(true);
    await init();
    expect(backend()).toBe('wasm-simd');
  });
});
