// The kernel interface, checked rather than listed: every WASM export of each build, its pure-JS
// twin and the `Kernels` type (src/runtime/types.ts, read with the TypeScript checker) name the same
// functions with the same number of arguments; and every kernel family has its three faces,
// assembly/<family>.ts, src/kernels/<family>.ts and src/js/<family>.ts, exporting the same names.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { init, relaxedSimdSupported, runtime, WASM_FILES, type WasmBuild } from '../src/runtime/index';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

/**
 * Arity of each function of the `Kernels` type, from the type checker: the type is derived from the
 * pure-JS twins (src/runtime/types.ts), so this reads what TypeScript makes of it, not the runtime object.
 */
function typeArities(): Map<string, number> {
  if (typeCache !== null) return typeCache;
  const file = fileURLToPath(new URL('src/runtime/types.ts', root));
  const program = ts.createProgram([file], {
    target: ts.ScriptTarget.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file)!;
  const sym = checker.getExportsOfModule(checker.getSymbolAtLocation(source)!).find((s) => s.name === 'Kernels');
  if (sym === undefined) throw new Error('src/runtime/types.ts: no type Kernels');
  const out = new Map<string, number>();
  for (const p of checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(sym))) {
    const sigs = checker.getTypeOfSymbol(p).getCallSignatures();
    if (sigs.length !== 1) throw new Error(`Kernels: ${p.name} is not one function`);
    out.set(p.name, sigs[0].parameters.length);
  }
  return (typeCache = out);
}
let typeCache: Map<string, number> | null = null; // one program is enough for every build

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

/** Loops that several src/js/ families share (as assembly/'s helper modules, not re-exported, share theirs). */
const JS_HELPERS = ['windows'];

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

  it('no file in src/js/ or src/kernels/ without its assembly family, but the shared loops of the JS twins', () => {
    for (const dir of ['src/js/', 'src/kernels/']) {
      for (const f of readdirSync(new URL(dir, root))) {
        if (dir === 'src/js/' && JS_HELPERS.includes(f.replace(/\.ts$/, ''))) continue;
        expect(families, dir + f).toContain(f.replace(/\.ts$/, ''));
      }
    }
  });

  it('the shared loops of the JS twins export no kernel', async () => {
    const kernels = new Set(assemblyModules().flatMap(assemblyExports));
    for (const f of JS_HELPERS) {
      for (const name of Object.keys(await import(`../src/js/${f}.ts`))) expect(kernels.has(name), `src/js/${f}: ${name}`).toBe(false);
    }
  });
});
