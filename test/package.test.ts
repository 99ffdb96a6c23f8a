// The published package, as a user gets it: `npm pack`, install the tarball into a scratch project,
// and import it from Node under the `node`, `browser` and `workerd` conditions (the last with
// .wasm imports turned into compiled Modules and compiling from bytes forbidden, as in workerd).
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RELAXED_SIMD_FLAGS } from '../scripts/node-flags.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const dir = mkdtempSync(join(tmpdir(), 'batchnorm-wasm-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 45_000 });
  return { ok: r.status === 0, out: r.stdout, err: `${r.stderr}${r.error ? String(r.error) : ''}` };
}

// What each entry runs: BatchNorm2d on channels far from mean 0 / var 1, per-channel stats after.
const COMMON = `
import * as lib from 'batchnorm-wasm';
import { readFileSync } from 'node:fs';
export const out = { resolved: import.meta.resolve('batchnorm-wasm') };
export const scalarModule = new WebAssembly.Module(readFileSync(new URL(import.meta.resolve('batchnorm-wasm/batchnorm.wasm'))));
export function forward() {
  const [N, C, H, W] = [4, 3, 5, 5];
  const x = new Float32Array(N * C * H * W).map((_, i) => 10 * (Math.floor(i / (H * W)) % C) + 3 * Math.sin(i));
  const bn = new lib.BatchNorm2d(C);
  const y = bn.forward(lib.tensor(x, [N, C, H, W])).toArray();
  const stats = [];
  for (let c = 0; c < C; c++) {
    let s = 0, ss = 0, m = N * H * W;
    for (let n = 0; n < N; n++) for (let j = 0; j < H * W; j++) s += y[(n * C + c) * H * W + j];
    for (let n = 0; n < N; n++) for (let j = 0; j < H * W; j++) ss += (y[(n * C + c) * H * W + j] - s / m) ** 2;
    stats.push([s / m, ss / m]);
  }
  return { stats, head: Array.from(y.slice(0, 4)) };
}
/** init({ backend: 'wasm-relaxed' }) (with the module when given): the backend and the forward's head, or the error. */
export const relaxed = (module) => lib.init(module ? { backend: 'wasm-relaxed', module } : { backend: 'wasm-relaxed' })
  .then((name) => ({ name, head: forward().head }), (e) => ({ error: e.message }));
export { lib };
`;

const NODE = `
import { out, lib, forward, scalarModule, relaxed } from './common.mjs';
out.relaxed = await relaxed();
out.default = await lib.init(); out.simd = forward();
out.scalar = await lib.init({ backend: 'wasm' }); out.scalarStats = forward().stats;
out.module = await lib.init({ module: scalarModule, backend: 'wasm' }); out.moduleStats = forward().stats;
out.moduleOnly = await lib.init({ module: scalarModule }); out.moduleOnlyStats = forward().stats;
// another entry in the same process shares the one runtime (build/core.js)
const other = await import(new URL('./index.js', out.resolved).href);
out.shared = other.BatchNorm2d === lib.BatchNorm2d && other.backend() === lib.backend();
// the ONNX names live in their own entry, which makes graphs of the same classes
const onnx = await import('batchnorm-wasm/onnx');
out.onnx = typeof onnx.toOnnx === 'function' && !('loadOnnx' in lib) && (await onnx.loadOnnx(onnx.toOnnx(new lib.Sequential(new lib.Linear(2, 3))))) instanceof lib.Graph;
console.log(JSON.stringify(out));
`;

const BROWSER = `
import { readFileSync } from 'node:fs';
import { out, lib, forward, scalarModule, relaxed } from './common.mjs';
out.relaxed = await relaxed();
out.default = await lib.init(); out.simd = forward();
out.scalar = await lib.init({ backend: 'wasm' }); out.scalarStats = forward().stats;
out.module = await lib.init({ module: scalarModule, backend: 'wasm' }); out.moduleStats = forward().stats;
out.source = readFileSync(new URL(out.resolved), 'utf8');
console.log(JSON.stringify(out));
`;

// workerd: a static .wasm import gives a compiled Module; compiling from bytes is forbidden.
const WASM_HOOKS = `
export async function load(url, context, next) {
  if (!url.endsWith('.wasm')) return next(url, context);
  const source = 'import { readFileSync } from "node:fs"; export default new WebAssembly.Module(readFileSync(new URL(' + JSON.stringify(url) + ')));';
  return { format: 'module', source, shortCircuit: true };
}
`;
const WORKERD = `
import { out, lib, forward, scalarModule, relaxed } from './common.mjs';
import relaxedModule from 'batchnorm-wasm/batchnorm-relaxed.wasm';
void Response; // Node's lazily loaded fetch (undici) compiles its own WASM: load it before the guard
const forbidden = () => { throw new Error('compiling WebAssembly from bytes is forbidden'); };
const instantiate = WebAssembly.instantiate;
WebAssembly.compile = async () => forbidden();
WebAssembly.compileStreaming = WebAssembly.instantiateStreaming = async () => forbidden();
WebAssembly.instantiate = (src, imports) => src instanceof WebAssembly.Module ? instantiate(src, imports) : Promise.reject(new Error('forbidden'));
WebAssembly.Module = new Proxy(WebAssembly.Module, { construct: forbidden });
out.relaxedDefault = await relaxed(); out.relaxed = await relaxed(relaxedModule);
out.default = await lib.init(); out.simd = forward();
out.scalar = await lib.init({ backend: 'wasm' }); out.scalarStats = forward().stats;
out.module = await lib.init({ module: scalarModule, backend: 'wasm' }); out.moduleStats = forward().stats;
out.bytes = await lib.init({ module: new Uint8Array(8) }).then(() => 'compiled', (e) => e.message);
console.log(JSON.stringify(out));
`;

function expectNormalized(stats: number[][]) {
  // 1e-5: f32 outputs of O(1), summed over 100 values per channel
  for (const [mean, variance] of stats) {
    expect(Math.abs(mean)).toBeLessThan(1e-5);
    expect(Math.abs(variance - 1)).toBeLessThan(1e-4); // biased var / (var + eps), var ≈ 4.5: 1 − 2e-6
  }
}

describe('the packed package', () => {
  it('installs from its tarball and works under the node, browser and workerd conditions', async (ctx) => {
    const pack = run(NPM, ['pack', '--json', '--pack-destination', dir], ROOT);
    expect(pack.ok, pack.err).toBe(true);
    const [info] = JSON.parse(pack.out) as { filename: string; size: number; files: { path: string }[] }[];
    const files = info.files.map((f) => f.path).sort();
    expect(files.filter((f) => !f.startsWith('build/types/'))).toEqual([
      'README.md',
      'build/batchnorm-relaxed.wasm',
      'build/batchnorm-simd-threads.wasm',
      'build/batchnorm-simd.wasm',
      'build/batchnorm.wasm',
      'build/core.js',
      'build/index.js',
      'build/internal.js',
      'build/node.js',
      'build/onnx.js',
      'build/wasm.d.ts',
      'build/workerd.js',
      'package.json',
    ]);
    expect(files.filter((f) => f.startsWith('build/types/')).every((f) => f.endsWith('.d.ts'))).toBe(true);

    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    const install = run(NPM, ['install', join(dir, info.filename), '--no-audit', '--no-fund', '--ignore-scripts'], app);
    if (!install.ok && /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|network/i.test(install.err)) {
      ctx.skip(`the npm registry is unreachable, so the tarball's dependencies cannot be installed: ${install.err.split('\n')[0]}`);
    }
    expect(install.ok, install.err).toBe(true);

    writeFileSync(join(app, 'common.mjs'), COMMON);
    writeFileSync(join(app, 'node.mjs'), NODE);
    writeFileSync(join(app, 'browser.mjs'), BROWSER);
    writeFileSync(join(app, 'workerd.mjs'), WORKERD);
    writeFileSync(join(app, 'wasm-hooks.mjs'), WASM_HOOKS);
    writeFileSync(join(app, 'register.mjs'), `import { register } from 'node:module'; register('./wasm-hooks.mjs', import.meta.url);`);
    const node = (args: string[]) => {
      const r = run(process.execPath, [...RELAXED_SIMD_FLAGS, ...args], app);
      expect(r.ok, r.err).toBe(true);
      return JSON.parse(r.out);
    };
    const viaNode = node(['node.mjs']);
    const viaBrowser = node(['--conditions=browser', 'browser.mjs']);
    const viaWorkerd = node(['--conditions=workerd', '--import', './register.mjs', 'workerd.mjs']);

    expect(viaNode.resolved).toMatch(/\/node_modules\/batchnorm-wasm\/build\/node\.js$/);
    expect(viaBrowser.resolved).toMatch(/\/node_modules\/batchnorm-wasm\/build\/index\.js$/);
    expect(viaWorkerd.resolved).toMatch(/\/node_modules\/batchnorm-wasm\/build\/workerd\.js$/);
    for (const r of [viaNode, viaBrowser, viaWorkerd]) {
      expect([r.default, r.scalar, r.module]).toEqual(['wasm-simd', 'wasm', 'wasm']);
      for (const s of [r.simd.stats, r.scalarStats, r.moduleStats]) expectNormalized(s);
      // the same SIMD module on the same input: bit-identical in every entry
      expect(r.simd.head).toEqual(viaNode.simd.head);
      // the relaxed build differs only in its matrix products: BatchNorm bit-identical to SIMD
      expect(r.relaxed).toEqual({ name: 'wasm-relaxed', head: viaNode.simd.head });
    }
    expect(viaWorkerd.relaxedDefault.error).toMatch(
      /^init: the workerd entry bundles no 'wasm-relaxed' module; import 'batchnorm-wasm\/batchnorm-relaxed\.wasm'/,
    );
    expectNormalized(viaNode.moduleOnlyStats);
    expect(viaNode.shared).toBe(true);
    expect(viaNode.onnx).toBe(true);
    // bundlers find the .wasm files only through these literal forms
    expect(viaBrowser.source).toContain('new URL("./batchnorm-simd.wasm", import.meta.url)');
    expect(viaBrowser.source).toContain('new URL("./batchnorm.wasm", import.meta.url)');
    expect(viaBrowser.source).toContain('new URL("./batchnorm-relaxed.wasm", import.meta.url)');
    expect(viaBrowser.source).toContain('new URL("./batchnorm-simd-threads.wasm", import.meta.url)');
    // the emulation is real: bytes cannot be compiled there, yet init() worked from the imports
    expect(viaWorkerd.bytes).toMatch(/forbidden/);
    const workerdSource = readFileSync(join(app, 'node_modules/batchnorm-wasm/build/workerd.js'), 'utf8');
    expect(workerdSource).toMatch(/^import \w+ from "\.\/batchnorm-simd\.wasm";$/m);
  }, 60_000);
});
