// Bundles src/ into build/index.js (ESM) beside the .wasm files, and emits .d.ts types.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';

mkdirSync('build', { recursive: true });
await build({
  entryPoints: ['src/index.ts'],
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  outfile: 'build/index.js',
  external: ['node:*'],
  define: { __WASM_BASE__: '"./"' },
  sourcemap: true,
  logLevel: 'warning',
});
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
// one entry for the types, matching the bundle
copyFileSync('build/types/index.d.ts', 'build/index.d.ts');
