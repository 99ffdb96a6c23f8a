import { defineConfig } from 'vitest/config';

export default defineConfig({
  // the runtime finds the .wasm files relative to src/runtime/ (npm test builds them first)
  define: { __WASM_BASE__: JSON.stringify('../../build/') },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
  },
});
