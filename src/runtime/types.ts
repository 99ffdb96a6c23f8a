// The kernel interface: the WASM module's exports and the pure-JS backend implement it alike.
// Every entry takes and returns scalars; pointers are byte addresses (WASM) or block handles (JS).
import type { jsKernels } from './js_kernels';
import type * as jsMemory from '../js/memory';

/** The WebAssembly builds: SIMD (the default), relaxed SIMD (opt-in: FMA in matrix products), scalar. */
export type WasmBuild = 'wasm-simd' | 'wasm-relaxed' | 'wasm';
/** A backend init() can pick: one of the WebAssembly builds, or 'js' (pure JavaScript, no WebAssembly needed). */
export type BackendName = WasmBuild | 'js';

/**
 * Every kernel, with `alloc` and `free`: the type of the pure-JS backend's functions, so each
 * signature is written once (src/js/<family>.ts). The WASM builds export the same functions with
 * the same arities (test/kernel_interface.test.ts), and the runtime casts their exports to this type.
 */
export type Kernels = typeof jsKernels & Pick<typeof jsMemory, 'alloc' | 'free'>;

/** An initialised backend: its kernels and the views over its memory. */
export interface Runtime {
  readonly name: BackendName;
  readonly k: Kernels;
  /** A fresh Float32Array over `len` floats at `ptr`; valid until the next call that may allocate. */
  f32(ptr: number, len: number): Float32Array;
  /** A fresh Float64Array over `len` doubles at `ptr`; valid until the next call that may allocate. */
  f64(ptr: number, len: number): Float64Array;
  /** A fresh Int32Array over `len` integers at `ptr`; valid until the next call that may allocate. */
  i32(ptr: number, len: number): Int32Array;
  /** Bytes of memory the backend holds (WASM: linear memory size). */
  memoryBytes(): number;
  /** Loops of several kernel calls that threads share (only on `init({ threads })` with more than one). */
  readonly par?: ParallelKernels;
}

/**
 * Whole per-image loops run by the threaded runtime's pool, each with the bits of the loop it
 * replaces. Each returns false, having done nothing, when the call stays on one thread (too small).
 */
export interface ParallelKernels extends ParallelInferKernels {
  /** y[n][o][oh·ow] = w ⋆ x[n][c][h][wd] (+ bias[o] when bias ≠ 0), im2col + GEMM per image. */
  convForwardNCHW(
    x: number,
    w: number,
    y: number,
    bias: number,
    n: number,
    c: number,
    h: number,
    wd: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
    o: number,
  ): boolean;
  /** dw += Σ dy[i]·im2col(x[i])ᵀ in image order, and dx[i] = col2im(wᵀ·dy[i]) when dx ≠ 0. */
  convBackwardNCHW(
    x: number,
    w: number,
    dy: number,
    dx: number,
    dw: number,
    n: number,
    c: number,
    h: number,
    wd: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
    o: number,
  ): boolean;
}

/** The inference convolution's loop over images (src/kernels/conv_infer.ts) shared by the threaded runtime's pool. */
export interface ParallelInferKernels {
  /** y[n][o][oh·ow] = clamp(wt ⋆ x[n][c][h][w] + b, lo, hi) (b = 0: no bias), as convInferNCHW per image; false: not split. */
  convInferNCHW(
    x: number,
    wt: number,
    b: number,
    y: number,
    n: number,
    c: number,
    h: number,
    w: number,
    o: number,
    kh: number,
    kw: number,
    sh: number,
    sw: number,
    ph: number,
    pw: number,
    oh: number,
    ow: number,
    lo: number,
    hi: number,
  ): boolean;
}

// The few platform types the public declarations name, declared so that they compile with only the
// ES2022 library (no DOM or Node types): each merges with the platform's fuller declaration when present.
// see: https://www.typescriptlang.org/docs/handbook/declaration-merging.html
declare global {
  interface SymbolConstructor {
    readonly dispose: unique symbol;
  }
  interface URL {
    href: string;
  }
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace WebAssembly {
    interface Module {}
  }
}
