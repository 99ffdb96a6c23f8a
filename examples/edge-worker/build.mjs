// @ts-check
// Bundles the edge-worker example with esbuild into examples/edge-worker/dist/:
//   node examples/edge-worker/build.mjs           dist/worker.js, the Worker (run `npm run build` first)
//   node examples/edge-worker/build.mjs --train   also bundles train.ts, runs it and rewrites model.*
// then: npx workerd serve examples/edge-worker/config.capnp
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = (/** @type {string} */ p) => fileURLToPath(new URL(p, import.meta.url));
if (!existsSync(here('../../build/workerd.js'))) {
  console.error('build/workerd.js is missing: run `npm run build` first');
  process.exit(1);
}

if (process.argv.includes('--train')) {
  await build({
    entryPoints: [here('train.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: here('dist/train.mjs'),
    // src/runtime finds the .wasm files relative to the bundle: dist/ → build/
    define: { __WASM_BASE__: '"../../../build/"' },
    packages: 'external',
    logLevel: 'warning',
  });
  const r = spawnSync(process.execPath, [here('dist/train.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

await build({
  entryPoints: [here('worker.ts')],
  bundle: true,
  platform: 'neutral',
  format: 'esm',
  target: 'es2022',
  outfile: here('dist/worker.js'),
  // `batchnorm-wasm` is this package itself: under the workerd condition it is build/workerd.js
  conditions: ['workerd', 'worker'],
  // The .wasm files (imported by build/workerd.js), the weights and the ONNX file stay separate modules of the
  // Worker: config.capnp gives workerd each one as a compiled WebAssembly.Module or an ArrayBuffer.
  external: ['*.wasm', '*.safetensors', '*.onnx'],
  logLevel: 'warning',
});
console.log(`wrote ${here('dist/worker.js')}`);
