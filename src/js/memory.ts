// The pure-JS backend's memory: every allocation is its own ArrayBuffer. A pointer is
// block id · 2³² + byte offset, so JS kernels take the same scalar arguments (and the same
// pointer arithmetic) as the WASM exports. Ids of freed blocks are reused.

const SPAN = 2 ** 32;
const blocks: (ArrayBuffer | null)[] = [null]; // id 0 is the null pointer
const freeIds: number[] = [];
let held = 0;

/**
 * The largest block any backend hands out: AssemblyScript's TLSF allocator (the WASM backends)
 * aborts above 2³⁰ bytes, and this backend keeps the same cap so every backend fails alike.
 * see: https://github.com/AssemblyScript/assemblyscript/blob/main/std/assembly/rt/tlsf.ts (BLOCK_MAXSIZE)
 */
export const MAX_BLOCK_BYTES = 2 ** 30 - 64;

/** Allocates `bytes` (zero-filled); returns a non-zero pointer. */
export function alloc(bytes: number): number {
  if (!(Number.isSafeInteger(bytes) && bytes >= 0 && bytes <= MAX_BLOCK_BYTES)) {
    throw new RangeError(
      `out of memory: could not allocate ${bytes} bytes (one block holds at most ${MAX_BLOCK_BYTES} bytes on every backend)`,
    );
  }
  const id = freeIds.pop() ?? blocks.length;
  blocks[id] = new ArrayBuffer(bytes);
  held += bytes;
  return id * SPAN;
}

/** Frees a pointer returned by `alloc`. */
export function free(ptr: number): void {
  const id = Math.floor(ptr / SPAN);
  const b = blocks[id];
  if (!b || ptr % SPAN !== 0) return;
  held -= b.byteLength;
  blocks[id] = null;
  freeIds.push(id);
}

function block(ptr: number): ArrayBuffer {
  const b = blocks[Math.floor(ptr / SPAN)];
  if (!b) throw new Error(`js backend: no live block at pointer ${ptr}`);
  return b;
}

/** Float32Array over `len` floats at `ptr`. */
export function f32(ptr: number, len?: number): Float32Array {
  return new Float32Array(block(ptr), ptr % SPAN, len);
}

/** Float64Array over `len` doubles at `ptr`. */
export function f64(ptr: number, len?: number): Float64Array {
  return new Float64Array(block(ptr), ptr % SPAN, len);
}

/** Bytes held by live blocks. */
export function heldBytes(): number {
  return held;
}

/** Int32Array over `len` integers at `ptr`. */
export function i32(ptr: number, len?: number): Int32Array {
  return new Int32Array(block(ptr), ptr % SPAN, len);
}
