// @ts-check
// What a Worker that serves resnet.onnx uploads, raw and gzipped (zlib level 9), with this package
// and with onnxruntime-web's WebAssembly backend (the devDependency, measured from node_modules):
//   node examples/edge-worker/sizes.mjs        (after `npm run build`)
// This package: the Worker (worker.ts bundled as build.mjs does, minified as onnxruntime-web's JS
// is) with its two .wasm builds. onnxruntime-web: `onnxruntime-web/wasm` as a bundler resolves it
// (dist/ort.wasm.bundle.min.mjs, its JS with the Emscripten glue inlined) and the one .wasm it
// loads, dist/ort-wasm-simd-threaded.wasm. The model file, the same for both, is counted apart.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const here = (/** @type {string} */ p) => fileURLToPath(new URL(p, import.meta.url));
// onnxruntime-web exports no ./package.json: find its folder from the CommonJS build `require` resolves
const ortDir = dirname(createRequire(import.meta.url).resolve('onnxruntime-web/wasm'));
const ortVersion = JSON.parse(readFileSync(join(ortDir, '..', 'package.json'), 'utf8')).version;

const worker = await build({
  entryPoints: [here('worker.ts')],
  bundle: true,
  platform: 'neutral',
  format: 'esm',
  target: 'es2022',
  conditions: ['workerd', 'worker'],
  external: ['*.wasm', '*.safetensors', '*.onnx'],
  minify: true,
  write: false,
  logLevel: 'warning',
});

/** @typedef {{ name: string, bytes: Uint8Array }} Part */
/** @type {Record<string, Part[]>} */
const sets = {
  'batchnorm-wasm': [
    { name: 'worker.js (minified)', bytes: worker.outputFiles[0].contents },
    { name: 'batchnorm-simd.wasm', bytes: readFileSync(here('../../build/batchnorm-simd.wasm')) },
    { name: 'batchnorm.wasm', bytes: readFileSync(here('../../build/batchnorm.wasm')) },
  ],
  [`onnxruntime-web ${ortVersion}`]: [
    { name: 'ort.wasm.bundle.min.mjs', bytes: readFileSync(join(ortDir, 'ort.wasm.bundle.min.mjs')) },
    { name: 'ort-wasm-simd-threaded.wasm', bytes: readFileSync(join(ortDir, 'ort-wasm-simd-threaded.wasm')) },
  ],
};
const model = readFileSync(here('resnet.onnx'));

const kB = (/** @type {number} */ n) => `${(n / 1000).toFixed(1)} kB`;
const size = (/** @type {Uint8Array} */ b) => ({ raw: b.byteLength, gz: gzipSync(b, { level: 9 }).byteLength });
for (const [name, parts] of Object.entries(sets)) {
  let raw = 0,
    gz = 0;
  for (const p of parts) {
    const s = size(p.bytes);
    raw += s.raw;
    gz += s.gz;
    console.log(`${name.padEnd(22)} ${p.name.padEnd(30)} ${kB(s.raw).padStart(12)} ${kB(s.gz).padStart(12)} gzipped`);
  }
  console.log(`${name.padEnd(22)} ${'total'.padEnd(30)} ${kB(raw).padStart(12)} ${kB(gz).padStart(12)} gzipped`);
}
const m = size(model);
console.log(`${'the model (both)'.padEnd(22)} ${'resnet.onnx'.padEnd(30)} ${kB(m.raw).padStart(12)} ${kB(m.gz).padStart(12)} gzipped`);
