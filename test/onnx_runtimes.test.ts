// The ONNX format layer in every runtime the package claims: test/onnx_runtimes/workload.ts, bundled
// with esbuild as the package's build bundles (ESM, platform neutral, minified), runs under the host
// Node, Deno, Bun and a real workerd (which forbids eval and new Function: @bufbuild/protobuf decodes
// by reflection over a descriptor). Every runtime must give the same result, encoding included.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = new URL('..', import.meta.url).pathname;
const TIMEOUT = 30_000;
// What the ONNX layer may add to a browser bundle, gzipped: measured 31.1 kB (2026-12, @bufbuild/protobuf
// 2.17: its runtime about 2/3 of it, most of that the descriptor of descriptor.proto that the embedded
// ONNX schema is decoded with). The budget leaves room for the loader, not for a second protobuf library.
const GZIP_BUDGET = 36_000;
const dir = mkdtempSync(join(tmpdir(), 'batchnorm-wasm-onnx-'));

function exec(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd: dir, timeout: TIMEOUT, killSignal: 'SIGKILL', env: { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' } },
      (err, out, stderr) => (err === null ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`))),
    );
  });
}

// workerd on a free port (reported on fd 3); the worker answers the workload's result as JSON.
async function runWorkerd(): Promise<string> {
  const child = spawn(join(ROOT, 'node_modules/.bin/workerd'), ['serve', 'config.capnp', '--control-fd=3'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`workerd did not listen within ${TIMEOUT} ms: ${stderr}`)), TIMEOUT);
      child.stdio[3]!.on('data', (d) => {
        for (const line of String(d).split('\n').filter(Boolean)) {
          const msg = JSON.parse(line) as { event?: string; port?: number };
          if (msg.event === 'listen' && typeof msg.port === 'number') {
            clearTimeout(timer);
            resolve(msg.port);
          }
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`workerd exited (${code}): ${stderr}`));
      });
    });
    const res = await fetch(`http://127.0.0.1:${port}/`);
    const body = await res.text();
    if (!res.ok) throw new Error(`workerd answered HTTP ${res.status}: ${body}\n${stderr}`);
    return body;
  } finally {
    child.kill('SIGKILL');
  }
}

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
  writeFileSync(
    join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ (name = "worker.mjs", esModule = embed "worker.mjs"), (name = "workload.mjs", esModule = embed "workload.mjs") ],
  compatibilityDate = "2026-11-01",
);
`,
  );
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the ONNX layer in every runtime', () => {
  it('the bundle generates no code at run time', () => {
    expect(bundle).not.toMatch(/\beval\(|new Function\b|\bFunction\(/);
  });

  it(`the layer minified and gzipped stays under ${GZIP_BUDGET} bytes`, async () => {
    const out = await build({
      entryPoints: [join(ROOT, 'src/onnx/index.ts')],
      bundle: true,
      format: 'esm',
      platform: 'neutral',
      target: 'es2022',
      minify: true,
      write: false,
      logLevel: 'warning',
    });
    const code = out.outputFiles[0].contents;
    const gz = gzipSync(code, { level: 9 }).length;
    console.log(`src/onnx bundle: ${code.length} bytes minified, ${gz} gzipped`);
    expect(gz).toBeLessThan(GZIP_BUDGET);
  });

  it('Node, Deno, Bun and workerd parse, fold and re-encode alike', async () => {
    const [node, deno, bun, workerd] = await Promise.all([
      exec(process.execPath, ['main.mjs']),
      exec(join(ROOT, 'node_modules/.bin/deno'), ['run', '--no-prompt', 'main.mjs']),
      exec(join(ROOT, 'node_modules/.bin/bun'), ['run', 'main.mjs']),
      runWorkerd(),
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
