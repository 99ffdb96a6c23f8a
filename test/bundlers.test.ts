// The browser entry through real bundlers: webpack 5 and esbuild bundle it without a warning and
// without Node-only code (node:fs, cli-progress); a bundle whose .wasm files were not copied beside it
// says what to do; the .wasm subpath exports type-check. The default entry carries no ONNX or protobuf
// code; `batchnorm-wasm/onnx` beside it adds that and no second copy of the library. Needs `npm run build` (build/).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import webpack from 'webpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, readOnnxFixture, readTensorPb } from './onnx_node_helpers';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
let dir = '';

// what a page of an app does with the package
const APP = `import { init, backend, tensor, BatchNorm1d } from 'batchnorm-wasm';
export async function main() {
  await init();
  const bn = new BatchNorm1d(2);
  const y = bn.forward(tensor([1, 2, 3, 5], [2, 2]));
  return [backend(), ...y.toArray()];
}
`;

// an app that reads an ONNX model: the default entry for init and tensors, the ONNX entry for the rest
const ONNX_APP = `import { init, backend, tensor, noGrad } from 'batchnorm-wasm';
import { loadOnnx, parseOnnx, toOnnx } from 'batchnorm-wasm/onnx';
export async function main(bytes, pixels, dims) {
  await init();
  const g = await loadOnnx(bytes);
  const y = noGrad(() => g.forward(tensor(pixels, dims)));
  const input = parseOnnx(bytes).inputs[0].name;
  const again = await loadOnnx(toOnnx(g, { inputShapes: { [input]: dims } }));
  const z = noGrad(() => again.forward(tensor(pixels, dims)));
  return { backend: backend(), y: Array.from(y.toArray()), z: Array.from(z.toArray()) };
}
`;

// protobuf's runtime (@bufbuild/protobuf: its reader and descriptor.proto) and the ONNX schema
const PROTOBUF = /google\.protobuf|BinaryReader|onnx\.ModelProto|parseOnnx/;
// the whole default entry (every export kept) minified and gzipped: 70.6 kB measured (2026-12-07),
// 85.1 kB (2026-12-08: the threads' runtime, the Graph's arena, views, ceil-mode pads); 70.3 kB before
// loadOnnx and toOnnx were merged, 106.3 kB while they were in it (protobuf: 36 kB, which this still catches)
const DEFAULT_GZIP_BUDGET = 95_000;

/** Node-only code in a browser bundle: the progress bar's package, or a dynamic import (of node:fs). */
function nodeOnly(code: string): string[] {
  return [/cli-progress/, /\bimport\s*\(/, /from\s*["']node:/].filter((re) => re.test(code)).map(String);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bn-bundlers-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', 'batchnorm-wasm'), 'dir');
  writeFileSync(join(dir, 'app.js'), APP);
  writeFileSync(join(dir, 'onnx_app.js'), ONNX_APP);
  writeFileSync(join(dir, 'whole.js'), "export * from 'batchnorm-wasm';\n");
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs an ES module `script` in a child Node process from `cwd`; returns its last stdout line as JSON. */
function runNode(script: string, cwd: string): unknown {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

describe('bundling the browser entry', () => {
  it('webpack 5 builds it without a warning, emits the .wasm files and keeps Node-only code out', async () => {
    const out = join(dir, 'webpack');
    const stats = await new Promise<webpack.Stats>((resolve, reject) => {
      webpack(
        {
          mode: 'production',
          target: 'web',
          context: dir,
          entry: './app.js',
          output: { path: out, filename: 'app.js', library: { type: 'module' } },
          experiments: { outputModule: true },
        },
        (err, s) => (err ? reject(err) : resolve(s!)),
      );
    });
    const info = stats.toJson({ all: false, warnings: true, errors: true, assets: true });
    expect(info.errors).toEqual([]);
    expect(info.warnings).toEqual([]); // was: twice "Critical dependency: the request of a dependency is an expression"
    const files = readdirSync(out);
    expect(files.filter((f) => f.endsWith('.wasm'))).toHaveLength(4);
    const code = files
      .filter((f) => f.endsWith('.js'))
      .map((f) => readFileSync(join(out, f), 'utf8'))
      .join('\n');
    expect(nodeOnly(code)).toEqual([]);
    // the entry's side effect (where the .wasm files are) survives tree shaking: the bundle runs
    const ran = runNode(`const { main } = await import('./app.js'); console.log(JSON.stringify(await main()));`, out) as (
      | string
      | number
    )[];
    expect(ran[0]).toBe('wasm-simd');
    expect(ran.slice(1).map((v) => Math.round((v as number) * 1e3) / 1e3)).toEqual([-1, -1, 1, 1]);
  }, 120_000);

  it('esbuild builds it without a warning; without the .wasm beside it, init() says to copy them or pass module', async () => {
    const out = join(dir, 'esbuild');
    const result = await build({
      entryPoints: [join(dir, 'app.js')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      outdir: out,
      write: true,
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    const code = readFileSync(join(out, 'app.js'), 'utf8');
    expect(nodeOnly(code)).toEqual([]);
    // esbuild leaves `new URL('./batchnorm-simd.wasm', import.meta.url)` as is and copies nothing
    expect(readdirSync(out).filter((f) => f.endsWith('.wasm'))).toEqual([]);
    const HINT =
      'the .wasm files of batchnorm-wasm (build/*.wasm in the package) must be served beside the bundle that imports it: copy them there, or pass init({ module }) a WebAssembly.Module, the bytes or their URL';
    // as a page sees it: the server answers 404
    const page = runNode(
      `
      process.getBuiltinModule = undefined; // a page has no Node
      globalThis.fetch = async () => new Response('not found', { status: 404 });
      const { main } = await import('./app.js');
      try { await main(); console.log(JSON.stringify('no error')); } catch (e) { console.log(JSON.stringify(e.message)); }`,
      out,
    );
    const url = new URL('batchnorm-simd.wasm', `file://${out}/`).href;
    expect(page).toBe(`init: could not fetch ${url}: HTTP 404; ${HINT}`);
    // in Node (a test runner resolving the browser condition) the missing file is named likewise
    const node = runNode(
      `
      const { main } = await import('./app.js');
      try { await main(); console.log(JSON.stringify('no error')); } catch (e) { console.log(JSON.stringify(e.message)); }`,
      out,
    );
    expect(node).toMatch(
      new RegExp(`^init: could not read ${url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*ENOENT.*; the \\.wasm files of batchnorm-wasm`),
    );
    // with the files copied beside it, the same bundle runs
    for (const f of ['batchnorm-simd.wasm', 'batchnorm.wasm', 'batchnorm-relaxed.wasm'])
      writeFileSync(join(out, f), readFileSync(join(ROOT, 'build', f)));
    const ran = runNode(`const { main } = await import('./app.js'); console.log(JSON.stringify(await main()));`, out) as (
      | string
      | number
    )[];
    expect(ran[0]).toBe('wasm-simd');
    // (x − mean) / sqrt(var + 1e-5) per column: ±1 up to eps
    expect(ran.slice(1).map((v) => Math.round((v as number) * 1e3) / 1e3)).toEqual([-1, -1, 1, 1]);
  }, 120_000);

  it('the .wasm and onnx subpath exports have types: a static import is a WebAssembly.Module init() takes; loadOnnx gives a Graph', () => {
    const project = join(dir, 'types');
    mkdirSync(project);
    symlinkSync(join(dir, 'node_modules'), join(project, 'node_modules'), 'dir');
    writeFileSync(
      join(project, 'worker.ts'),
      `import simd from 'batchnorm-wasm/batchnorm-simd.wasm';
import relaxed from 'batchnorm-wasm/batchnorm-relaxed.wasm';
import scalar from 'batchnorm-wasm/batchnorm.wasm';
import { init, type Graph } from 'batchnorm-wasm';
import { loadOnnx, toOnnx } from 'batchnorm-wasm/onnx';
const m: WebAssembly.Module = simd;
export const ready = Promise.all([init({ module: m }), init({ module: relaxed }), init({ module: scalar })]);
// the ONNX entry's Graph is the default entry's (one declaration: a class with private fields)
export const roundTrip = async (g: Graph): Promise<Graph> => loadOnnx(toOnnx(g));
`,
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          module: 'esnext',
          moduleResolution: 'bundler',
          lib: ['esnext', 'dom'],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        files: ['worker.ts'],
      }),
    );
    let output = '';
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', project], { encoding: 'utf8' });
    } catch (e) {
      output = (e as { stdout: string }).stdout;
    }
    expect(output).toBe(''); // was: TS2307 Cannot find module 'batchnorm-wasm/batchnorm-simd.wasm'
  }, 60_000);
});

describe('the ONNX entry apart from the default one', () => {
  it(`the whole default entry has no protobuf or ONNX code and stays under ${DEFAULT_GZIP_BUDGET} bytes gzipped`, async () => {
    const out = await build({
      entryPoints: [join(dir, 'whole.js')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      minify: true,
      write: false,
      logLevel: 'silent',
    });
    const code = out.outputFiles[0].text;
    expect(code).not.toMatch(PROTOBUF);
    const gz = gzipSync(code, { level: 9 }).length;
    console.log(`default entry: ${code.length} bytes minified, ${gz} gzipped`);
    expect(gz).toBeLessThan(DEFAULT_GZIP_BUDGET);
    // the package's own build: the shared chunk has none either, the ONNX entry has it
    expect(readFileSync(join(ROOT, 'build/core.js'), 'utf8')).not.toMatch(PROTOBUF);
    expect(readFileSync(join(ROOT, 'build/onnx.js'), 'utf8')).toMatch(PROTOBUF);
  }, 60_000);

  for (const platform of ['browser', 'node'] as const) {
    it(`esbuild (${platform}) bundles both entries with one copy of the library; the bundle loads a PyTorch export and runs it`, async () => {
      const out = join(dir, `onnx-${platform}`);
      const result = await build({
        entryPoints: [join(dir, 'onnx_app.js')],
        bundle: true,
        platform,
        format: 'esm',
        outdir: out,
        write: true,
        external: platform === 'node' ? ['cli-progress'] : [],
        logLevel: 'silent',
      });
      expect(result.errors).toEqual([]);
      expect(result.warnings).toEqual([]);
      const code = readFileSync(join(out, 'onnx_app.js'), 'utf8');
      if (platform === 'browser') expect(nodeOnly(code)).toEqual([]);
      // one runtime: the message of a call before init() is in the bundle once
      expect(code.split('call `await init()` first').length - 1).toBe(1);
      for (const f of ['batchnorm-simd.wasm', 'batchnorm.wasm', 'batchnorm-relaxed.wasm'])
        writeFileSync(join(out, f), readFileSync(join(ROOT, 'build', f)));
      const x = readTensorPb('conv_bn_relu.input.pb');
      const want = readTensorPb('conv_bn_relu.output.pb').data as Float32Array;
      const model = Array.from(readOnnxFixture('conv_bn_relu.onnx'));
      const ran = runNode(
        `const { main } = await import('./onnx_app.js');
        const r = await main(new Uint8Array(${JSON.stringify(model)}), new Float32Array(${JSON.stringify(Array.from(x.data as Float32Array))}), ${JSON.stringify(x.dims)});
        console.log(JSON.stringify(r));`,
        out,
      ) as { backend: string; y: number[]; z: number[] };
      expect(ran.backend).toBe('wasm-simd');
      // 1e-4: PyTorch's f32 output of a small Conv-BN-ReLU net (test/onnx_load.test.ts, SMALL_TOL)
      expect(maxAbsDiff(ran.y, want)).toBeLessThanOrEqual(1e-4);
      // toOnnx then loadOnnx gives the same outputs bit for bit
      expect(ran.z).toEqual(ran.y);
    }, 120_000);
  }
});
