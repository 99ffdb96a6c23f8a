// The one module that owns WebAssembly: it picks a backend, instantiates the module, and hands out
// fresh views over linear memory. Nothing else touches `memory.buffer`; a view is never kept across
// a call that may allocate (memory.grow detaches every view over the old buffer).
// @assemblyscript/loader lives only here, so `asc --bindings raw` could replace it in one place.
import { instantiate } from '@assemblyscript/loader';
import * as jsMemory from '../js/memory';
import { jsKernels } from './js_kernels';
import type { BackendName, Kernels, Runtime, WasmBuild } from './types';
import { describe } from '../validate';
import { Pool, PART_KERNELS, parallelKernels, threadedKernels } from './threads';
import { reportedCores, threadsUnavailable } from './pool';

export type { BackendName, Kernels, Runtime, WasmBuild } from './types';

/**
 * Folder of the .wasm files relative to this module, for builds that bundle src/ directly (tests,
 * bench, demo). The package's entries leave it undefined and register a locator instead.
 */
declare const __WASM_BASE__: string | undefined;
/** The file of each build (in build/, and beside each package entry). */
export const WASM_FILES: Record<WasmBuild, string> = {
  'wasm-simd': 'batchnorm-simd.wasm',
  'wasm-relaxed': 'batchnorm-relaxed.wasm',
  wasm: 'batchnorm.wasm',
};

/** The shared-memory build: the SIMD kernels and their part kernels, for `init({ threads })`. */
export const THREADS_FILE = 'batchnorm-simd-threads.wasm';
/** A file a locator is asked for: a backend's build, or the shared-memory build of 'wasm-simd'. */
export type ModuleName = WasmBuild | 'wasm-simd-threads';

/** Where an entry finds the module of a build when `init()` is given none: a Module, bytes or a URL. */
export type ModuleLocator = (name: ModuleName) => Promise<NonNullable<InitOptions['module']>> | NonNullable<InitOptions['module']>;
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
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x08, 0x01, 0x06,
  0x00, 0x41, 0x00, 0xfd, 0x0f, 0x0b,
]);
// The same with a relaxed SIMD instruction: three i8x16.splat of 0, then f32x4.relaxed_madd (0xfd 0x105).
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x13, 0x01, 0x11,
  0x00, 0x41, 0x00, 0xfd, 0x0f, 0x41, 0x00, 0xfd, 0x0f, 0x41, 0x00, 0xfd, 0x0f, 0xfd, 0x85, 0x02, 0x0b,
]);

/** Options of init(): which backend to run and where its WebAssembly comes from. */
export interface InitOptions {
  /**
   * Which backend to run; by default SIMD where supported, else scalar WASM, else pure JS.
   * 'wasm-relaxed' (never picked by default) is the SIMD build with fused multiply-add in its matrix
   * products: faster Linear and Conv layers, results that differ in the last bits and by CPU.
   */
  backend?: BackendName;
  /** The compiled module, its bytes, or where to fetch them (edge runtimes forbid compiling from bytes). */
  module?: WebAssembly.Module | ArrayBufferView<ArrayBuffer> | ArrayBuffer | URL;
  /**
   * Threads that share each large kernel call (default 1): a number, or 'auto' for the cores the
   * runtime reports (at most 8). Results are bit-identical for every count. Threads run with the
   * 'wasm-simd' backend where the runtime has workers and SharedArrayBuffer (Node, Deno, Bun, pages
   * that are cross-origin isolated); elsewhere (workerd, other pages) one thread runs, as threads() says.
   */
  threads?: number | 'auto';
}

/** Most threads 'auto' starts. */
const AUTO_THREADS_CAP = 8;
/** Most threads a number may ask for. */
const MAX_THREADS = 64;

let active: Runtime | null = null;
let activePool: Pool | null = null; // the active runtime's threads, when it has more than one
let threadsFailure: string | null = null; // why the last init() that asked for threads runs one
let initCalls = 0;
let activeCall = 0; // the number of the init() call whose runtime is active

/** Every kernel a module must export (the JS backend has the same names; test/kernel_interface.test.ts checks each build). */
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

/** Reads a file: URL; registered by the node entry (the only one that may import node:fs). */
export type FileReader = (url: URL) => Promise<Uint8Array<ArrayBuffer>>;
let readFileUrl: FileReader | null = null;

/** Set by the node entry, so `init({ module: new URL('file:…') })` reads the file with node:fs. */
export function setFileReader(fn: FileReader): void {
  readFileUrl = fn;
}

// What a user of a bundle whose .wasm files were not emitted beside it should do.
const WASM_HINT =
  'the .wasm files of batchnorm-wasm (build/*.wasm in the package) must be served beside the bundle that imports it: copy them there, or pass init({ module }) a WebAssembly.Module, the bytes or their URL';

interface NodeProcess {
  getBuiltinModule?(id: string): { readFile(u: URL): Promise<Uint8Array<ArrayBuffer>> } | undefined;
}

async function readFileModule(url: URL): Promise<Uint8Array<ArrayBuffer> | Response> {
  if (readFileUrl !== null) return readFileUrl(url);
  // Node running another entry (a test runner that resolves the browser condition, builds of src/):
  // a function call, not an import, so no bundler sees a Node built-in (Node ≥ 20.16 and 22.3).
  const fs = (globalThis as { process?: NodeProcess }).process?.getBuiltinModule?.('node:fs/promises');
  if (fs !== undefined) return fs.readFile(url);
  return fetch(url); // Deno and Bun fetch file: URLs
}

async function fetchModule(url: URL): Promise<WebAssembly.Module> {
  let got: Uint8Array<ArrayBuffer> | Response;
  try {
    got = url.protocol === 'file:' ? await readFileModule(url) : await fetch(url);
  } catch (e) {
    throw new Error(`init: could not ${url.protocol === 'file:' ? 'read' : 'fetch'} ${url.href}: ${(e as Error).message}; ${WASM_HINT}`);
  }
  if (got instanceof Uint8Array) return WebAssembly.compile(got);
  if (!got.ok) throw new Error(`init: could not fetch ${url.href}: HTTP ${got.status}; ${WASM_HINT}`);
  return WebAssembly.compile(await got.arrayBuffer());
}

async function toModule(name: ModuleName, source: InitOptions['module']): Promise<WebAssembly.Module> {
  if (source === undefined) {
    if (locate !== null) source = await locate(name);
    else if (typeof __WASM_BASE__ === 'string')
      source = new URL(__WASM_BASE__ + (name === 'wasm-simd-threads' ? THREADS_FILE : WASM_FILES[name]), import.meta.url);
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
  const built: WasmBuild = e.simdBuild === undefined ? name : ((['wasm', 'wasm-simd', 'wasm-relaxed'] as const)[e.simdBuild()] ?? name);
  if (built !== name && !nameFromModule)
    throw new TypeError(`init: options.module: this is the '${built}' build, but backend '${name}' was asked for`);
  name = built;
  const memory = e.memory;
  return {
    name,
    k: { ...e, alloc: (bytes) => wasmAlloc(e.alloc, memory, bytes) },
    f32: (ptr, len) => new Float32Array(memory.buffer, ptr, len),
    f64: (ptr, len) => new Float64Array(memory.buffer, ptr, len),
    i32: (ptr, len) => new Int32Array(memory.buffer, ptr, len),
    memoryBytes: () => memory.buffer.byteLength,
  };
}

/**
 * The 'wasm-simd' backend on `threads` threads: the shared-memory build over a shared memory, here
 * and in threads − 1 workers. Resolves to the runtime and its pool.
 */
async function threadedRuntime(threads: number): Promise<{ rt: Runtime; pool: Pool }> {
  const mod = await toModule('wasm-simd-threads', undefined);
  // as large as WebAssembly allows (reserved, not committed, where it is 64-bit), grown on demand
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true } as WebAssembly.MemoryDescriptor);
  const inst = await instantiate<Record<string, unknown>>(mod, { env: { memory } });
  const missing = [...KERNEL_NAMES, ...PART_KERNELS].filter((k) => inst.exports[k] === undefined);
  if (missing.length > 0)
    throw new TypeError(`init: ${THREADS_FILE} is not the shared-memory build (missing exports: ${missing.join(', ')})`);
  const e = inst.exports as unknown as Parameters<typeof threadedKernels>[0];
  const pool = await Pool.start(threads, mod, memory, inst.exports, [...PART_KERNELS]);
  const alloc = (bytes: number) => wasmAlloc(e.alloc, memory, bytes);
  const rt: Runtime = {
    name: 'wasm-simd',
    k: threadedKernels(e, alloc, pool),
    par: parallelKernels(e, alloc, pool),
    // a grown shared memory leaves older views valid (not detached) over the bytes they had; these are new
    f32: (ptr, len) => new Float32Array(memory.buffer, ptr, len),
    f64: (ptr, len) => new Float64Array(memory.buffer, ptr, len),
    i32: (ptr, len) => new Int32Array(memory.buffer, ptr, len),
    memoryBytes: () => memory.buffer.byteLength,
  };
  return { rt, pool };
}

/** The threads `init()` runs for `asked` on backend `name` (1 where threads cannot run); throws on a bad value. */
function threadCount(asked: InitOptions['threads'], name: BackendName, hasModule: boolean): number {
  if (asked === undefined || asked === 1) return 1;
  if (asked !== 'auto' && !(Number.isInteger(asked) && asked >= 1 && asked <= MAX_THREADS))
    throw new TypeError(`init: options.threads: expected 'auto' or an integer from 1 to ${MAX_THREADS}, got ${describe(asked)}`);
  const auto = asked === 'auto';
  if (name !== 'wasm-simd' || hasModule) {
    if (auto) return 1;
    throw new TypeError(
      `init: options.threads: ${asked} threads run only with the 'wasm-simd' backend's own shared-memory build (backend '${name}'${hasModule ? ', options.module given' : ''})`,
    );
  }
  if (threadsUnavailable() !== null) return 1;
  return auto ? Math.max(1, Math.min(reportedCores(), AUTO_THREADS_CAP)) : asked;
}

/** WebAssembly's 32-bit memory: 65 536 pages of 64 KiB. */
const WASM_MAX_BYTES = 2 ** 32;

/**
 * Refuses a block larger than the allocator's largest (before an i32 wraps it), and turns the trap
 * (`unreachable`) of a memory.grow that fails into an out-of-memory error saying how much was asked
 * and held. A failed grow changes no heap state, so the module stays usable.
 */
function wasmAlloc(alloc: (bytes: number) => number, memory: WebAssembly.Memory, bytes: number): number {
  if (!(Number.isSafeInteger(bytes) && bytes >= 0 && bytes <= jsMemory.MAX_BLOCK_BYTES)) {
    throw new RangeError(
      `out of memory: could not allocate ${bytes} bytes (one block holds at most ${jsMemory.MAX_BLOCK_BYTES} bytes on every backend)`,
    );
  }
  try {
    return alloc(bytes) >>> 0; // usize comes back as i32
  } catch (e) {
    if (!(e instanceof WebAssembly.RuntimeError)) throw e;
    throw new RangeError(
      `out of memory: could not allocate ${bytes} bytes (WebAssembly memory holds ${memory.buffer.byteLength} of at most ${WASM_MAX_BYTES} bytes): ${e.message}`,
    );
  }
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
 * Resolves to the backend active when it settles (a later call may have finished first).
 */
export async function init(options: InitOptions = {}): Promise<BackendName> {
  if (options === null || typeof options !== 'object') throw new TypeError(`init: options: expected an object, got ${describe(options)}`);
  for (const key of Object.keys(options)) {
    if (key !== 'backend' && key !== 'module' && key !== 'threads')
      throw new TypeError(`init: options.${key}: unknown option (expected backend, module, threads)`);
  }
  const name = options.backend === undefined ? defaultBackend() : options.backend;
  if (!(name === 'js' || (typeof name === 'string' && Object.hasOwn(WASM_FILES, name)))) {
    throw new TypeError(`init: options.backend: expected 'wasm-simd', 'wasm-relaxed', 'wasm' or 'js', got ${describe(name)}`);
  }
  if (name !== 'js' && typeof WebAssembly !== 'object')
    throw new Error(`init: backend '${name}' needs WebAssembly, which this runtime does not have`);
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
  const threads = threadCount(options.threads, name, options.module !== undefined);
  threadsFailure = threads > 1 || options.threads === undefined || options.threads === 1 ? null : (threadsUnavailable() ?? null);
  const call = ++initCalls;
  const fromModule = options.backend === undefined && options.module !== undefined;
  let rt: Runtime,
    pool: Pool | null = null;
  let started: { rt: Runtime; pool: Pool } | null = null;
  if (threads > 1) {
    try {
      started = await threadedRuntime(threads);
    } catch (e) {
      // workers that cannot start here (a platform that has the API but refuses it): one thread, as threads() says
      threadsFailure = (e as Error).message;
    }
  }
  if (started !== null) ({ rt, pool } = started);
  else rt = name === 'js' ? jsRuntime() : await wasmRuntime(name, options.module, fromModule);
  // When calls overlap, the last one made among those that succeed decides, whichever finishes
  // first: a failing call changes nothing, and an older one finishing late does not override.
  if (call > activeCall) {
    activePool?.terminate();
    active = rt;
    activePool = pool;
    activeCall = call;
  } else pool?.terminate();
  return active!.name;
}

/** The active runtime; throws if `init()` has not finished. */
export function runtime(): Runtime {
  if (active === null) throw new Error('batchnorm-wasm: call `await init()` first');
  return active;
}

/** How many threads share the active backend's kernel calls (1 unless `init({ threads })` started more). */
export function threads(): number {
  runtime();
  return activePool === null || activePool.broken !== null ? 1 : activePool.size;
}

/**
 * Stops the active backend's worker threads (a new `init()` does too); its kernels then run on the
 * calling thread, with the same results. Idle workers never keep a Node process alive, so this is
 * needed only to free them early.
 */
export function disposeThreads(): void {
  activePool?.terminate('disposed');
}

/**
 * Why the active backend runs one thread although `init({ threads })` asked for more (no
 * SharedArrayBuffer, a page that is not cross-origin isolated, no workers, a worker that failed
 * to start or died), or null.
 */
export function threadsUnavailableReason(): string | null {
  runtime();
  return activePool?.broken ?? threadsFailure;
}

/** The active backend's pool, or null (for tests and benchmarks). */
export function threadPool(): Pool | null {
  return activePool;
}

/** Name of the active backend: 'wasm-simd', 'wasm-relaxed', 'wasm' or 'js'. */
export function backend(): BackendName {
  return runtime().name;
}

/** Bytes of memory held by the active backend (WASM: linear memory size, which never shrinks). */
export function memoryBytes(): number {
  return runtime().memoryBytes();
}
