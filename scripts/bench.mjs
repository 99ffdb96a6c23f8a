// @ts-check
// Bundles bench/run.ts (which imports src/ directly) into build/bench.mjs beside the .wasm files,
// then runs it with this script's arguments: `npm run bench -- --quick`. With --gemm it runs the
// matrix-multiply benchmark, bench/gemm.ts, instead; with --train the training-step one, bench/train.ts;
// with --threads the 1-against-2-threads one, bench/threads.ts; with --lstm the LSTM training step, bench/lstm.ts;
// with --models whole-model inference against onnxruntime-web and -node, bench/models.ts;
// with --norms LayerNorm, GroupNorm and InstanceNorm against BatchNorm, bench/norms.ts.
// With --runtimes it also bundles bench/kernels_portable.ts (platform neutral) into
// build/bench-kernels.mjs and runs bench/runtimes.ts, which times that bundle in Node, Chromium, Deno and Bun.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { RELAXED_SIMD_FLAGS } from './node-flags.mjs';

/** The bench a flag picks (bench/run.ts without one). @type {Record<string, string>} */
const BENCHES = {
  '--gemm': 'bench/gemm.ts',
  '--train': 'bench/train.ts',
  // --models before --threads: `--models --threads=1,2` is the models bench at those thread counts
  '--models': 'bench/models.ts',
  '--threads': 'bench/threads.ts',
  '--lstm': 'bench/lstm.ts',
  '--norms': 'bench/norms.ts',
};
const runtimes = process.argv.includes('--runtimes');
if (runtimes) {
  await build({
    entryPoints: ['bench/kernels_portable.ts'],
    bundle: true,
    platform: 'neutral',
    format: 'esm',
    target: 'es2022',
    outfile: 'build/bench-kernels.mjs',
    define: { __WASM_BASE__: '"./"' },
    // the runtime imports node:fs/promises by a computed name, only under file: URLs
    external: ['node:*'],
    logLevel: 'warning',
  });
}

await build({
  entryPoints: [
    runtimes ? 'bench/runtimes.ts' : (BENCHES[Object.keys(BENCHES).find((f) => process.argv.includes(f)) ?? ''] ?? 'bench/run.ts'),
  ],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: 'build/bench.mjs',
  // the runtime looks for the .wasm files relative to the bundle
  define: { __WASM_BASE__: '"./"' },
  // TF.js and onnxruntime stay in node_modules: they load their own .wasm (or native) files from there
  external: [
    ...builtinModules,
    ...builtinModules.map((m) => `node:${m}`),
    '@tensorflow/*',
    'playwright-core',
    'onnxruntime-node',
    'onnxruntime-web',
  ],
  sourcemap: 'inline',
  logLevel: 'warning',
});

// the benches time the opt-in relaxed build too, which needs a flag on Node 20 (node-flags.mjs)
const r = spawnSync(process.execPath, [...RELAXED_SIMD_FLAGS, '--enable-source-maps', 'build/bench.mjs', ...process.argv.slice(2)], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
