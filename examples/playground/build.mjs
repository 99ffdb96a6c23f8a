// @ts-check
// Builds the browser playground into examples/playground/dist/ (git-ignored):
//   index.html, main.js (the page), worker.js (training in a Web Worker), the two .wasm builds
//   (copied from build/: run `npm run build` first) and mnist.bin, the fixed 8 000 / 2 000 split of
//   examples/mnist/data.ts as bytes: u32 nTrain, u32 nTest (little-endian), then train pixels
//   (u8 0..255, n×784), train labels (u8), test pixels, test labels.
// `npm run playground` builds and serves it (serve.mjs).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = (/** @type {string} */ p) => fileURLToPath(new URL(p, import.meta.url));
const dist = here('dist/');

export async function buildPlayground({ log = true } = {}) {
  for (const f of ['batchnorm-simd.wasm', 'batchnorm.wasm']) {
    if (!existsSync(here(`../../build/${f}`))) throw new Error(`build/${f} is missing: run \`npm run build\` first`);
  }
  mkdirSync(dist, { recursive: true });
  /** @type {import('esbuild').BuildOptions} */
  const common = { bundle: true, format: 'esm', target: 'es2022', logLevel: 'warning' };
  await build({ ...common, entryPoints: [here('main.ts')], platform: 'browser', outfile: here('dist/main.js') });
  // The worker bundles the library's sources; src/runtime fetches the .wasm files beside the bundle.
  await build({
    ...common,
    entryPoints: [here('worker.ts')],
    platform: 'browser',
    outfile: here('dist/worker.js'),
    define: { __WASM_BASE__: '"./"' },
    external: ['node:*'],
  });
  copyFileSync(here('index.html'), here('dist/index.html'));
  for (const f of ['batchnorm-simd.wasm', 'batchnorm.wasm']) copyFileSync(here(`../../build/${f}`), here(`dist/${f}`));

  // data.ts reads the mnist package with node:fs: bundle it for Node, then call loadMnist.
  await build({
    ...common,
    entryPoints: [here('../mnist/data.ts')],
    platform: 'node',
    outfile: here('dist/mnist-data.mjs'),
    packages: 'external',
  });
  const { loadMnist } = await import(pathToFileURL(here('dist/mnist-data.mjs')).href);
  const { train, test } = loadMnist();
  const bytes = new Uint8Array(8 + (train.n + test.n) * 785);
  new DataView(bytes.buffer).setUint32(0, train.n, true);
  new DataView(bytes.buffer).setUint32(4, test.n, true);
  let o = 8;
  for (const s of [train, test]) {
    for (let i = 0; i < s.x.length; i++) bytes[o + i] = Math.round(s.x[i] * 255);
    o += s.x.length;
    bytes.set(s.y, o);
    o += s.n;
  }
  writeFileSync(here('dist/mnist.bin'), bytes);
  if (log) console.log(`wrote ${dist} (mnist.bin: ${train.n} + ${test.n} digits, ${(bytes.length / 1e6).toFixed(1)} MB)`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await buildPlayground();
