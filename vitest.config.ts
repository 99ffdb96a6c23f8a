import { defineConfig } from 'vitest/config';
import { RELAXED_SIMD_FLAGS } from './scripts/node-flags.mjs';

export default defineConfig({
  // the runtime finds the .wasm files relative to src/runtime/ (npm test builds them first)
  define: { __WASM_BASE__: JSON.stringify('../../build/') },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // the 'wasm-relaxed' backend's tests need relaxed SIMD (a flag on Node 20); memory.test.ts calls
    // gc() to see a dropped tensor freed
    execArgv: [...RELAXED_SIMD_FLAGS, '--expose-gc'],
  },
});
