import { defineConfig } from 'vitest/config';

// The 'wasm-relaxed' backend needs relaxed SIMD: Node 20 has it behind a V8 flag, which Node ≥ 22
// (where it is on) rejects as a bad option.
const relaxedFlag = Number(process.versions.node.split('.')[0]) < 22 ? ['--experimental-wasm-relaxed-simd'] : [];

export default defineConfig({
  // the runtime finds the .wasm files relative to src/runtime/ (npm test builds them first)
  define: { __WASM_BASE__: JSON.stringify('../../build/') },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    execArgv: relaxedFlag,
  },
});
