// The kernel interface, checked rather than listed: every WASM export of each build, its pure-JS
// twin and the `Kernels` type (src/runtime/types.ts, read with the TypeScript parser) name the same
// functions with the same number of arguments; and every kernel family has its three faces,
// assembly/<family>.ts, src/kernels/<family>.ts and src/js/<family>.ts, exporting the same names.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { init, relaxedSimdSupported, runtime, WASM_FILES, type WasmBuild } from '../src/runtime/index';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

/** Arity of each method of `interface Kernels`, from the source text (no type-checker needed). */
function typeArities(): Map<string, number> {
  const src = ts.createSourceFile('types.ts', read('src/runtime/types.ts'), ts.ScriptTarget.Latest, true);
  const out = new Map<string, number>();
  src.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== 'Kernels') return;
    for (const m of node.members) {
      if (!ts.isMethodSignature(m) && !ts.isPropertySignature(m)) throw new Error(`Kernels: unexpected member ${m.getText(src)}`);
      const fn = ts.isMethodSignature(m) ? m : m.type && ts.isFunctionTypeNode(m.type) ? m.type : null;
      if (fn === null) throw new Error(`Kernels: ${m.name.getText(src)} is not a function`);
      out.set(m.name.getText(src), fn.parameters.length);
    }
  });
  if (out.size === 0) throw new Error('src/runtime/types.ts: no interface Kernels');
  return out;
}

/** Arity of each function a build exports, from a fresh instance (not the runtime's wrapped `k`). */
async function wasmArities(build: WasmBuild): Promise<Map<string, number>> {
  const bytes = readFileSync(new URL(`build/${WASM_FILES[build]}`, root));
  const { instance } = await WebAssembly.instantiate(bytes, {
    env: {
      abort: () => {
        throw new Error('abort');
      },
    },
  });
  const out = new Map<string, number>();
  for (const [name, v] of Object.entries(instance.exports)) if (typeof v === 'function') out.set(name, v.length);
  return out;
}

/** Arity of each kernel of the pure-JS backend, as the runtime hands them out. */
async function jsArities(): Promise<Map<string, number>> {
  await init({ backend: 'js' });
  return new Map(Object.entries(runtime().k).map(([name, f]) => [name, (f as (...a: number[]) => unknown).length]));
}

const sorted = (m: Map<string, number>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
/** Exports of the WASM module that are not kernels (the runtime reads them apart). */
const WASM_ONLY = ['simdBuild'];

describe('the kernel interface', () => {
  it('the Kernels type lists every kernel once, each with at least one argument', () => {
    const t = typeArities();
    expect(t.size).toBeGreaterThan(30);
    for (const [name, n] of t) expect(n, name).toBeGreaterThan(0);
  });

  it("the pure-JS backend has exactly the Kernels type's functions, with its arities", async () => {
    expect(sorted(await jsArities())).toEqual(sorted(typeArities()));
  });

  for (const build of Object.keys(WASM_FILES) as WasmBuild[]) {
    const run = build !== 'wasm-relaxed' || relaxedSimdSupported();
    it.runIf(run)(`${build}: the module exports exactly the Kernels type's functions, with its arities`, async () => {
      const w = await wasmArities(build);
      for (const name of WASM_ONLY) w.delete(name);
      expect(sorted(w)).toEqual(sorted(typeArities()));
    });
  }
});

/** The assembly modules the WASM module re-exports (assembly/index.ts), by file name. */
function assemblyModules(): string[] {
  return [...read('assembly/index.ts').matchAll(/^export \* from '\.\/(\w+)';$/gm)].map((m) => m[1]);
}

/** The family of an assembly module: the file name less a layout suffix (batchnorm_nhwc → batchnorm). */
const familyOf = (mod: string) => mod.replace(/_nhwc$/, '');

/** Names of the functions an AssemblyScript file exports. */
const assemblyExports = (mod: string) => [...read(`assembly/${mod}.ts`).matchAll(/^export function (\w+)/gm)].map((m) => m[1]);

describe('one face per kernel family', () => {
  const families = [...new Set(assemblyModules().map(familyOf))];

  it('assembly/index.ts re-exports every family', () => {
    expect(families).toEqual(
      expect.arrayContaining(['memory', 'batchnorm', 'roofline', 'activations', 'loss', 'optim', 'reduce', 'gemm', 'conv', 'pool']),
    );
  });

  for (const family of families) {
    // memory has no src/kernels/ face: the runtime owns allocation (src/runtime/index.ts)
    it(`${family}: the assembly and src/js faces export the same functions${family === 'memory' ? '' : `, beside src/kernels/${family}.ts`}`, async () => {
      const wasm = assemblyModules()
        .filter((m) => familyOf(m) === family)
        .flatMap(assemblyExports)
        .filter((n) => !WASM_ONLY.includes(n));
      const js = Object.entries(await import(`../src/js/${family}.ts`))
        .filter(([, v]) => typeof v === 'function')
        .map(([n]) => n);
      // src/js/memory.ts also makes the views (f32, f64, i32) and counts bytes: runtime services, not kernels
      const services = family === 'memory' ? ['f32', 'f64', 'i32', 'heldBytes'] : [];
      expect(js.filter((n) => !services.includes(n)).sort()).toEqual(wasm.sort());
      expect(existsSync(new URL(`src/kernels/${family}.ts`, root))).toBe(family !== 'memory');
    });
  }

  it('no file in src/js/ or src/kernels/ without its assembly family', () => {
    for (const dir of ['src/js/', 'src/kernels/']) {
      for (const f of readdirSync(new URL(dir, root))) expect(families, dir + f).toContain(f.replace(/\.ts$/, ''));
    }
  });
});
