// The ONNX format layer in every runtime the package claims: test/onnx_runtimes/workload.ts, bundled
// with esbuild as the package's build bundles (ESM, platform neutral, minified), runs under the host
// Node, Deno, Bun and a real workerd (which forbids eval and new Function: @bufbuild/protobuf decodes
// by reflection over a descriptor). Every runtime must give the same result, encoding included.
// Then the built package's `batchnorm-wasm/onnx` entry (needs `npm run build`), resolved by each
// runtime's conditions beside the default entry, loads and runs a model to PyTorch's outputs.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, readOnnxFixture, readTensorPb } from './onnx_node_helpers';
import { runWorkerd, writeWorkerdConfig } from './workerd_helpers';

const ROOT = new URL('..', import.meta.url).pathname;
const TIMEOUT = 30_000;
// What the ONNX entry (build/onnx.js: the format layer, loadOnnx and toOnnx) adds to a bundle beside the
// default entry, minified and gzipped: measured 37.2 kB (2026-12-07; the format layer alone 31.1 kB,
// @bufbuild/protobuf 2.17 about 2/3 of it, most of that the descriptor of descriptor.proto that the
// embedded ONNX schema is decoded with). The budget leaves room for the loader, not for a second protobuf library.
const GZIP_BUDGET = 42_000;
const dir = mkdtempSync(join(tmpdir(), 'batchnorm-wasm-onnx-'));

function exec(cmd: string, args: string[], cwd = dir): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd, timeout: TIMEOUT, killSignal: 'SIGKILL', env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' } },
      (err, out, stderr) => (err === null ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`))),
    );
  });
}

const serveWorkerd = (cwd = dir) => runWorkerd(join(ROOT, 'node_modules/.bin/workerd'), cwd, TIMEOUT);

let bundle = '';
beforeAll(async () => {
  await build({
    entryPoints: [join(ROOT, 'test/onnx_runtimes/workload.ts')],
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    minify: true,
    loader: { '.onnx': 'binary' },
    outfile: join(dir, 'workload.mjs'),
    logLevel: 'warning',
  });
  bundle = readFileSync(join(dir, 'workload.mjs'), 'utf8');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(join(dir, 'main.mjs'), "import { run } from './workload.mjs';\nconsole.log(JSON.stringify(run()));\n");
  writeFileSync(join(dir, 'worker.mjs'), "import { run } from './workload.mjs';\nexport default { fetch: () => Response.json(run()) };\n");
  writeWorkerdConfig(dir, [
    { name: 'worker.mjs', esModule: 'worker.mjs' },
    { name: 'workload.mjs', esModule: 'workload.mjs' },
  ]);
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the ONNX layer in every runtime', () => {
  it('the bundle generates no code at run time', () => {
    expect(bundle).not.toMatch(/\beval\(|new Function\b|\bFunction\(/);
  });

  it(`the ONNX entry minified and gzipped stays under ${GZIP_BUDGET} bytes`, async () => {
    const out = await build({
      entryPoints: [join(ROOT, 'build/onnx.js')],
      bundle: true,
      external: ['./internal.js'],
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      minify: true,
      write: false,
      logLevel: 'warning',
    });
    const code = out.outputFiles[0].contents;
    const gz = gzipSync(code, { level: 9 }).length;
    console.log(`build/onnx.js: ${code.length} bytes minified, ${gz} gzipped`);
    expect(gz).toBeLessThan(GZIP_BUDGET);
  });

  it('Node, Deno, Bun and workerd parse, fold and re-encode alike', async () => {
    const [node, deno, bun, workerd] = await Promise.all([
      exec(process.execPath, ['main.mjs']),
      exec(join(ROOT, 'node_modules/.bin/deno'), ['run', '--no-prompt', 'main.mjs']),
      exec(join(ROOT, 'node_modules/.bin/bun'), ['run', 'main.mjs']),
      serveWorkerd(),
    ]);
    const result = JSON.parse(node) as { ops: string[]; output: number[]; refused: string };
    expect(result.ops).toEqual([
      'Conv',
      'BatchNormalization',
      'Relu',
      'MaxPool',
      'Conv',
      'BatchNormalization',
      'Relu',
      'MaxPool',
      'Reshape',
      'Gemm',
    ]);
    expect(result.output).toEqual([3, 10]);
    expect(result.refused).toBe('parseOnnx: bytes: expected an ONNX ModelProto, got a truncated or malformed protobuf');
    expect(JSON.parse(deno)).toEqual(result);
    expect(JSON.parse(bun)).toEqual(result);
    expect(JSON.parse(workerd)).toEqual(result);
  }, 120_000);
});

describe('the batchnorm-wasm/onnx entry in every runtime', () => {
  it('Node, Deno, Bun and workerd resolve it beside the default entry, share one runtime and run a PyTorch export', async () => {
    const app = join(dir, 'app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    symlinkSync(ROOT, join(app, 'node_modules', 'batchnorm-wasm'), 'dir');
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    copyFileSync(join(ROOT, 'test/onnx_runtimes/entry.mjs'), join(app, 'entry.mjs'));
    const x = readTensorPb('conv_bn_relu.input.pb');
    writeFileSync(
      join(app, 'model.mjs'),
      `export const model = new Uint8Array(${JSON.stringify(Array.from(readOnnxFixture('conv_bn_relu.onnx')))});
export const pixels = new Float32Array(${JSON.stringify(Array.from(x.data as Float32Array))});
export const dims = ${JSON.stringify(x.dims)};
`,
    );
    writeFileSync(
      join(app, 'main.mjs'),
      `import { run } from './entry.mjs';
import { dims, model, pixels } from './model.mjs';
const resolved = [import.meta.resolve('batchnorm-wasm'), import.meta.resolve('batchnorm-wasm/onnx')];
console.log(JSON.stringify({ ...(await run(model, pixels, dims)), resolved }));
`,
    );
    // workerd resolves no node_modules: the Worker is bundled as wrangler does, by the workerd condition
    writeFileSync(
      join(app, 'worker.mjs'),
      "import { run } from './entry.mjs';\nimport { dims, model, pixels } from './model.mjs';\n" +
        'export default { fetch: async () => Response.json(await run(model, pixels, dims)) };\n',
    );
    await build({
      entryPoints: [join(app, 'worker.mjs')],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      conditions: ['workerd', 'worker'],
      external: ['*.wasm'],
      outfile: join(app, 'dist/worker.js'),
      logLevel: 'warning',
    });
    for (const f of ['batchnorm-simd.wasm', 'batchnorm.wasm']) copyFileSync(join(ROOT, 'build', f), join(app, 'dist', f));
    writeWorkerdConfig(app, [
      { name: 'worker.js', esModule: 'dist/worker.js' },
      { name: 'batchnorm-simd.wasm', wasm: 'dist/batchnorm-simd.wasm' },
      { name: 'batchnorm.wasm', wasm: 'dist/batchnorm.wasm' },
    ]);
    const [node, deno, bun, workerd] = await Promise.all([
      exec(process.execPath, ['main.mjs'], app),
      exec(join(ROOT, 'node_modules/.bin/deno'), ['run', '--allow-read', '--no-prompt', 'main.mjs'], app),
      exec(join(ROOT, 'node_modules/.bin/bun'), ['run', 'main.mjs'], app),
      serveWorkerd(app),
    ]);
    type Out = { backend: string; y: number[]; z: number[]; resolved?: string[] };
    const results = { node, deno, bun, workerd } as Record<string, string | Out>;
    for (const k of Object.keys(results)) results[k] = JSON.parse(results[k] as string) as Out;
    const want = readTensorPb('conv_bn_relu.output.pb').data as Float32Array;
    const built = (f: string) => new RegExp(`/build/${f.replace('.', '\\.')}$`);
    const entries = { node: ['node.js', 'onnx.js'], deno: ['index.js', 'onnx.js'], bun: ['node.js', 'onnx.js'] } as Record<
      string,
      string[]
    >;
    for (const [name, r] of Object.entries(results as Record<string, Out>)) {
      expect(r.backend, name).toBe('wasm-simd');
      // 1e-4: PyTorch's f32 output of a small Conv-BN-ReLU net (test/onnx_load.test.ts, SMALL_TOL)
      expect(maxAbsDiff(r.y, want), name).toBeLessThanOrEqual(1e-4);
      expect(r.z, `${name}: toOnnx then loadOnnx`).toEqual(r.y);
      expect(r.y, `${name} against node`).toEqual((results.node as Out).y);
      if (name !== 'workerd') r.resolved!.forEach((u, i) => expect(u, name).toMatch(built(entries[name][i])));
    }
  }, 120_000);
});
