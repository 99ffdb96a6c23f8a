// The one module that owns WebAssembly: it picks a backend, instantiates the module, and hands out
// fresh views over linear memory. Nothing else touches `memory.buffer`; a view is never kept across
// a call that may allocate (memory.grow detaches every view over the old buffer).
// @assemblyscript/loader lives only here, so `asc --bindings raw` could replace it in one place.
import { instantiate } from '@assemblyscript/loader';
import * as jsMemory from '../js/memory';
import * as jsBatchnorm from '../js/batchnorm';
import * as jsRoofline from '../js/roofline';
import * as jsActivations from '../js/activations';
import * as jsLoss from '../js/loss';
import * as jsOptim from '../js/optim';
import * as jsReduce from '../js/reduce';
import * as jsGemm from '../js/gemm';
import * as jsConv from '../js/conv';
import * as jsPool from '../js/pool';
import * as jsElementwise from '../js/elementwise';
import * as jsSoftmax from '../js/softmax';
import type { BackendName, Kernels, Runtime, WasmBuild } from './types';
import { describe } from '../validate';

export type { BackendName, Kernels, Runtime, WasmBuild } from './types';

/**
 * Folder of the .wasm files relative to this module, for builds that bundle src/ directly (tests,
 * bench, demo). The package's entries leave it undefined and register a locator instead.
 */
declare const __WASM_BASE__: string | undefined;
/** The file of each build (in build/, and beside each package entry). */
export const WASM_FILES: Record<WasmBuild, string> = { 'wasm-simd': 'batchnorm-simd.wasm', 'wasm-relaxed': 'batchnorm-relaxed.wasm', wasm: 'batchnorm.wasm' };

/** Where an entry finds the module of a build when `init()` is given none: a Module, bytes or a URL. */
export type ModuleLocator = (name: WasmBuild) => Promise<NonNullable<InitOptions['module']>> | NonNullable<InitOptions['module']>;
let locate: ModuleLocator | null = null;

/**
 * Set by each package entry (src/entries/): the workerd entry hands out statically imported
 * Modules, the browser entry `new URL` literals that bundlers see, the node entry file bytes.
 */
export function setModuleLocator(fn: ModuleLocator): void {
  locate = fn;
}

// The smallest module with a v128 instruction (i32.const 0; i8x16.splat): valid only where SIMD is.
// see: https://github.com/GoogleChromeLabs/wasm-feature-detect (the same probe idea)
const SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03,
  0x02, 0x01, 0x00, 0x0a, 0x08, 0x01, 0x06, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0x0b,
]);
// The same with a relaxed SIMD instruction: three i8x16.splat of 0, then f32x4.relaxed_madd (0xfd 0x105).
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03,
  0x02, 0x01, 0x00, 0x0a, 0x13, 0x01, 0x11, 0x00, 0x41, 0x00, 0xfd, 0x0f, 0x41, 0x00, 0xfd, 0x0f,
  0x41, 0x00, 0xfd, 0x0f, 0xfd, 0x85, 0x02, 0x0b,
]);

export interface InitOptions {
  /**
   * Which backend to run; by default SIMD where supported, else scalar WASM, else pure JS.
   * 'wasm-relaxed' (never picked by default) is the SIMD build with fused multiply-add in its matrix
   * products: faster Linear and Conv layers, results that differ in the last bits and by CPU.
   */
  backend?: BackendName;
  /** The compiled module, its bytes, or where to fetch them (edge runtimes forbid compiling from bytes). */
  module?: WebAssembly.Module | BufferSource | URL;
}

let active: Runtime | null = null;
let initCalls = 0;

/** Every kernel a module must export (the JS backend has the same names). */
// one entry per kernel family, in the order of assembly/index.ts (memory apart: the runtime owns it);
// test/kernel_interface.test.ts checks these, each build's exports and the Kernels type agree
const jsKernels = { ...jsBatchnorm, ...jsRoofline, ...jsActivations, ...jsLoss, ...jsOptim, ...jsReduce, ...jsGemm, ...jsConv, ...jsPool, ...jsElementwise, ...jsSoftmax };
const KERNEL_NAMES = Object.keys(jsKernels).concat('alloc', 'free');

/** True where WebAssembly exists and validates a SIMD instruction. */
export function simdSupported(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

/** True where WebAssembly validates a relaxed SIMD instruction (the 'wasm-relaxed' backend runs). */
export function relaxedSimdSupported(): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(RELAXED_PROBE);
}

function defaultBackend(): BackendName {
  if (typeof WebAssembly !== 'object') return 'js';
  return simdSupported() ? 'wasm-simd' : 'wasm';
}

async function fetchModule(url: URL): Promise<WebAssembly.Module> {
  if (url.protocol === 'file:') {
    // A computed specifier keeps bundlers for the browser from resolving a Node built-in.
    const spec = 'node:fs/promises';
    const fs = (await import(/* @vite-ignore */ spec)) as { readFile(u: URL): Promise<Uint8Array<ArrayBuffer>> };
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = await fs.readFile(url);
    } catch (e) {
      throw new Error(`init: could not read ${url.href}: ${(e as Error).message}`);
    }
    return WebAssembly.compile(bytes);
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`init: could not fetch ${url.href}: HTTP ${res.status}`);
  return WebAssembly.compile(await res.arrayBuffer());
}

async function toModule(name: WasmBuild, source: InitOptions['module']): Promise<WebAssembly.Module> {
  if (source === undefined) {
    if (locate !== null) source = await locate(name);
    else if (typeof __WASM_BASE__ === 'string') source = new URL(__WASM_BASE__ + WASM_FILES[name], import.meta.url);
    else throw new Error(`init: no default location for the '${name}' module in this build; pass options.module`);
  }
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof URL) return fetchModule(source);
  if (ArrayBuffer.isView(source) || source instanceof ArrayBuffer) return WebAssembly.compile(source);
  throw new TypeError(`init: options.module: expected a WebAssembly.Module, bytes or a URL, got ${describe(source)}`);
}

async function wasmRuntime(name: WasmBuild, source: InitOptions['module'], nameFromModule = false): Promise<Runtime> {
  const mod = await toModule(name, source);
  const inst = await instantiate<Record<string, unknown>>(mod, {});
  const missing = [...KERNEL_NAMES, 'memory'].filter((k) => inst.exports[k] === undefined);
  if (missing.length > 0) throw new TypeError(`init: options.module: not a batchnorm-wasm module (missing exports: ${missing.join(', ')})`);
  const e = inst.exports as unknown as Kernels & { memory: WebAssembly.Memory; simdBuild?: () => number };
  // a module passed by the user names its own build; one asked for by name must be that build
  const built: WasmBuild = e.simdBuild === undefined ? name : (['wasm', 'wasm-simd', 'wasm-relaxed'] as const)[e.simdBuild()] ?? name;
  if (built !== name && !nameFromModule) throw new TypeError(`init: options.module: this is the '${built}' build, but backend '${name}' was asked for`);
  name = built;
  const memory = e.memory;
  return {
    name,
    k: { ...e, alloc: (bytes) => e.alloc(bytes) >>> 0 }, // usize comes back as i32
    f32: (ptr, len) => new Float32Array(memory.buffer, ptr, len),
    f64: (ptr, len) => new Float64Array(memory.buffer, ptr, len),
    i32: (ptr, len) => new Int32Array(memory.buffer, ptr, len),
    memoryBytes: () => memory.buffer.byteLength,
  };
}

function jsRuntime(): Runtime {
  return {
    name: 'js',
    k: { ...jsKernels, alloc: jsMemory.alloc, free: jsMemory.free },
    f32: jsMemory.f32,
    f64: jsMemory.f64,
    i32: jsMemory.i32,
    memoryBytes: jsMemory.heldBytes,
  };
}

/**
 * Loads a backend and makes it the active one. Without options: SIMD WASM where the runtime
 * validates a v128 probe, scalar WASM otherwise, pure JS where `WebAssembly` does not exist.
 * Calling it again switches backends; tensors and layers made under another backend then throw.
 */
export async function init(options: InitOptions = {}): Promise<BackendName> {
  if (options === null || typeof options !== 'object') throw new TypeError(`init: options: expected an object, got ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (key !== 'backend' && key !== 'module') throw new TypeError(`init: options.${key}: unknown option (expected backend, module)`);
  }
  const name = options.backend === undefined ? defaultBackend() : options.backend;
  if (!(name === 'js' || (typeof name === 'string' && Object.hasOwn(WASM_FILES, name)))) {
    throw new TypeError(`init: options.backend: expected 'wasm-simd', 'wasm-relaxed', 'wasm' or 'js', got ${describe(name)}`);
  }
  if (name !== 'js' && typeof WebAssembly !== 'object') throw new Error(`init: backend '${name}' needs WebAssembly, which this runtime does not have`);
  if (name === 'wasm-simd' && options.module === undefined && !simdSupported()) {
    throw new Error(`init: backend 'wasm-simd' needs WebAssembly SIMD, which this runtime does not support; use 'wasm'`);
  }
  if (name === 'wasm-relaxed' && !relaxedSimdSupported()) {
    throw new Error(
      "init: backend 'wasm-relaxed' needs WebAssembly relaxed SIMD, which this runtime does not support " +
        "(Node 20 has it behind --experimental-wasm-relaxed-simd; Node ≥ 22, Chromium ≥ 114, Deno and Bun have it); use 'wasm-simd'",
    );
  }
  if (name === 'js' && options.module !== undefined) throw new TypeError(`init: options.module: the 'js' backend takes no module`);
  const call = ++initCalls;
  const fromModule = options.backend === undefined && options.module !== undefined;
  const rt = name === 'js' ? jsRuntime() : await wasmRuntime(name, options.module, fromModule);
  // when calls overlap, the last one made decides, whichever finishes first
  if (call === initCalls) active = rt;
  return rt.name;
}

/** The active runtime; throws if `init()` has not finished. */
export function runtime(): Runtime {
  if (active === null) throw new Error('batchnorm-wasm: call `await init()` first');
  return active;
}

/** Name of the active backend: 'wasm-simd', 'wasm-relaxed', 'wasm' or 'js'. */
export function backend(): BackendName {
  return runtime().name;
}

/** Bytes of memory held by the active backend (WASM: linear memory size, which never shrinks). */
export function memoryBytes(): number {
  return runtime().memoryBytes();
}
