// @ts-check
// Bundles the package entries (src/entries/) into build/ beside the .wasm files, and emits .d.ts types.
// The entries share one chunk, build/core.js (code splitting), so there is one copy of the library
// and one runtime state; each entry only registers where its .wasm files come from:
//   build/workerd.js  `workerd`, `worker`  static `import … from './batchnorm-simd.wasm'` (kept external)
//   build/index.js    `browser`, `deno`, `default`  `new URL('./batchnorm-simd.wasm', import.meta.url)`
//   build/node.js     `node`  reads the files with node:fs
// build/onnx.js (`batchnorm-wasm/onnx`, every runtime) is bundled apart: src/onnx/ and its protobuf
// library, with every other src import pointed at build/internal.js (the shared chunk under stable
// names), so the default entry carries no ONNX code and the ONNX entry no second copy of the library.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';

mkdirSync('build', { recursive: true });
for (const f of ['index.js', 'index.js.map', 'index.d.ts', 'node.js', 'workerd.js', 'internal.js', 'onnx.js', 'core.js', 'wasm.d.ts'])
  rmSync(join('build', f), { force: true });
await build({
  entryPoints: {
    index: 'src/entries/index.ts',
    node: 'src/entries/node.ts',
    workerd: 'src/entries/workerd.ts',
    internal: 'src/entries/internal.ts',
  },
  bundle: true,
  splitting: true,
  chunkNames: 'core', // a second shared chunk would collide here and fail the build, which is wanted
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  outdir: 'build',
  // cli-progress: a dependency the node entry loads at run time (src/train/progress_node.ts)
  external: ['node:*', '*.wasm', 'cli-progress'],
  // every entry registers its own locator; `undefined` drops the src-relative fallback (src/runtime/index.ts)
  define: { __WASM_BASE__: 'undefined' },
  logLevel: 'warning',
});

const SRC = resolve('src');
const OWN = [join(SRC, 'onnx') + sep, join(SRC, 'entries') + sep];
await build({
  entryPoints: { onnx: 'src/entries/onnx.ts' },
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  outdir: 'build',
  logLevel: 'warning',
  plugins: [
    {
      name: 'shared-chunk',
      setup(b) {
        // a relative import that leaves src/onnx/ for the rest of the package: from the shared chunk
        b.onResolve({ filter: /^\.\.?\// }, (args) => {
          const target = resolve(args.resolveDir, args.path);
          if (!target.startsWith(SRC + sep) || OWN.some((d) => target.startsWith(d))) return undefined;
          return { path: './internal.js', external: true };
        });
      },
    },
  ],
});
// every name build/onnx.js imports must be one build/internal.js exports (src/entries/internal.ts):
// Node links the modules here and names a missing one
try {
  await import(pathToFileURL(resolve('build/onnx.js')).href);
} catch (e) {
  throw new Error(`build: build/onnx.js does not link (add the name to src/entries/internal.ts): ${/** @type {Error} */ (e).message}`);
}
const onnxCode = readFileSync('build/onnx.js', 'utf8');
if (/from\s*["']\.\.?\/(?!internal\.js)/.test(onnxCode)) throw new Error('build: build/onnx.js imports a file other than ./internal.js');

rmSync('build/types', { recursive: true, force: true });
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
// every default-entry file has the API of src/index.ts, so build/types/index.d.ts types them all;
// build/types/onnx/index.d.ts types batchnorm-wasm/onnx
rmSync('build/types/entries', { recursive: true });

// tsc (moduleResolution "Bundler") writes extensionless relative specifiers, which Node16/NodeNext
// type resolution rejects in an ESM package; give each its real file ('./x.js' or './x/index.js').
/** @param {string} dir */
function fixSpecifiers(dir) {
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (statSync(file).isDirectory()) fixSpecifiers(file);
    else if (name.endsWith('.d.ts')) {
      const text = readFileSync(file, 'utf8');
      const fixed = text.replace(/((?:from|import)\s*\(?\s*)(['"])(\.\.?\/[^'"]*)\2/g, (all, pre, q, spec) => {
        if (/\.js$/.test(spec)) return all;
        const base = join(dirname(file), spec);
        if (existsSync(`${base}.d.ts`)) return `${pre}${q}${spec}.js${q}`;
        if (existsSync(join(base, 'index.d.ts'))) return `${pre}${q}${spec}/index.js${q}`;
        throw new Error(`build: ${file}: cannot resolve ${spec}`);
      });
      if (fixed !== text) writeFileSync(file, fixed);
    }
  }
}
fixSpecifiers('build/types');

// The type of the `batchnorm-wasm/*.wasm` subpath exports: what a static import of a .wasm file
// gives where the package's workerd entry runs (workerd, wrangler): a compiled module for init().
writeFileSync(
  'build/wasm.d.ts',
  `/** A build of batchnorm-wasm's kernels, compiled by the platform (workerd, wrangler); pass it to init({ module }). */
declare const module: WebAssembly.Module;
export default module;
`,
);
