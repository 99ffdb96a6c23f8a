// The shipped artifacts: the scalar build contains no SIMD instruction, the SIMD build does, and
// the esbuild bundle finds its .wasm files by itself and computes what the sources compute.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import binaryen from 'binaryen';
import { describe, expect, it } from 'vitest';
import { maxAbsDiff, randn, refForwardTrain } from './reference';

/** A build's module as WebAssembly text (binaryen, every feature enabled). */
function wasmText(file: string): string {
  const m = binaryen.readBinary(readFileSync(new URL(`../build/${file}`, import.meta.url)));
  m.setFeatures(binaryen.Features.All);
  const text = m.emitText();
  m.dispose();
  return text;
}

function simdOps(file: string): number {
  return (wasmText(file).match(/\b(v128|[fi](8x16|16x8|32x4|64x2))\./g) ?? []).length;
}

/** Relaxed SIMD instructions in a build, by name. */
function relaxedOps(file: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const op of wasmText(file).match(/\b[fi](8x16|16x8|32x4|64x2)\.relaxed_\w+/g) ?? []) counts[op] = (counts[op] ?? 0) + 1;
  return counts;
}

describe('build artifacts', () => {
  it('the scalar build has no v128 instruction; the SIMD build has many', () => {
    expect(simdOps('batchnorm.wasm')).toBe(0);
    expect(simdOps('batchnorm-simd.wasm')).toBeGreaterThan(100);
  });

  it('only the relaxed build has relaxed SIMD: f32x4.relaxed_madd, in the GEMM tile alone', () => {
    expect(relaxedOps('batchnorm-simd.wasm')).toEqual({});
    expect(relaxedOps('batchnorm.wasm')).toEqual({});
    const ops = relaxedOps('batchnorm-relaxed.wasm');
    expect(Object.keys(ops)).toEqual(['f32x4.relaxed_madd']);
    // the 4×8 tile has 8 accumulators; its copies for each R × W × LANES and the row tails hold the rest
    expect(ops['f32x4.relaxed_madd']).toBeGreaterThanOrEqual(8);
  });

  it('the bundle picks SIMD, loads its .wasm beside it, and normalizes like the reference', async () => {
    const lib = await import('../build/index.js');
    expect(await lib.init()).toBe('wasm-simd');
    const x = randn(2 * 3 * 25, 1, 4, 2);
    const bn = new lib.BatchNorm2d(3);
    const xt = lib.tensor(x, [2, 3, 5, 5]);
    const y = bn.forward(xt);
    // 2e-5: f32 output of O(1) values (see batchnorm_forward.test.ts)
    expect(maxAbsDiff(y.toArray(), refForwardTrain(x, 'NCHW', [2, 3, 5, 5], 1e-5).y)).toBeLessThan(2e-5);
    const scalar = readFileSync(new URL('../build/batchnorm.wasm', import.meta.url));
    expect(await lib.init({ backend: 'wasm', module: scalar })).toBe('wasm');
    expect(lib.backend()).toBe('wasm');
    // a module without a backend names its own build; a mismatch is refused and changes nothing
    expect(await lib.init({ module: scalar })).toBe('wasm');
    await expect(lib.init({ backend: 'wasm-simd', module: scalar })).rejects.toThrow(
      /^init: options\.module: this is the 'wasm' build, but backend 'wasm-simd' was asked for$/,
    );
    expect(lib.backend()).toBe('wasm');
  });

  it('where WebAssembly does not exist, init() falls back to the pure-JS backend and says so', () => {
    // a child process with WebAssembly deleted before the package is imported
    const script = `delete globalThis.WebAssembly;
      const lib = await import(${JSON.stringify(new URL('../build/node.js', import.meta.url).href)});
      const name = await lib.init();
      const x = lib.tensor([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2, 1]);
      const y = new lib.BatchNorm2d(2).forward(x).toArray();
      let err = '';
      try { await lib.init({ backend: 'wasm' }); } catch (e) { err = e.message; }
      console.log(JSON.stringify({ name, backend: lib.backend(), y: Array.from(y), err }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
    expect(out.name).toBe('js');
    expect(out.backend).toBe('js');
    // 2e-5: f32 output of O(1) values (see batchnorm_forward.test.ts)
    expect(maxAbsDiff(out.y, refForwardTrain([1, 2, 3, 4, 5, 6, 7, 8], 'NCHW', [2, 2, 2, 1], 1e-5).y)).toBeLessThan(2e-5);
    expect(out.err).toBe("init: backend 'wasm' needs WebAssembly, which this runtime does not have");
  });

  it("where relaxed SIMD is missing, init({ backend: 'wasm-relaxed' }) says so and changes nothing", () => {
    // a child Node without the flag vitest.config.ts gives the tests: Node 20 lacks relaxed SIMD there
    const script = `const lib = await import(${JSON.stringify(new URL('../build/node.js', import.meta.url).href)});
      await lib.init();
      let err = '';
      try { await lib.init({ backend: 'wasm-relaxed' }); } catch (e) { err = e.message; }
      console.log(JSON.stringify({ supported: lib.relaxedSimdSupported(), backend: lib.backend(), err }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
    if (out.supported) {
      // Node ≥ 22: relaxed SIMD is on without a flag
      expect(out).toEqual({ supported: true, backend: 'wasm-simd', err: '' });
      return;
    }
    expect(out.err).toBe(
      "init: backend 'wasm-relaxed' needs WebAssembly relaxed SIMD, which this runtime does not support " +
        "(Node 20 has it behind --experimental-wasm-relaxed-simd; Node ≥ 22, Chromium ≥ 114, Deno and Bun have it); use 'wasm-simd'",
    );
    expect(out.backend).toBe('wasm-simd');
  });
});
