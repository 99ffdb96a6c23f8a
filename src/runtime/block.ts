// Typed blocks: f64 or i32 data in the active backend's memory, for what is not an f32 Tensor
// (BatchNorm's saved statistics, MaxPool's argmax, class labels). A handle as a Tensor is: a
// pointer, a length, the backend that holds it, and dispose(); views are made fresh on each call.
import { runtime, type Runtime } from './index';
import { describe } from '../validate';

export type BlockDtype = 'f64' | 'i32';
const BYTES: Record<BlockDtype, number> = { f64: 8, i32: 4 };
/** WebAssembly's 32-bit memory holds at most 4 GiB; one block must stay below that (as tensor.ts). */
const MAX_BYTES = 2 ** 32 - 64;

const disposeSymbol: typeof Symbol.dispose =
  (Symbol as { dispose?: typeof Symbol.dispose }).dispose ?? (Symbol.for('Symbol.dispose') as typeof Symbol.dispose);

interface Held {
  rt: Runtime;
  ptr: number;
}
// Frees the memory of blocks that are garbage-collected without dispose(); registered without an
// unregister token (dispose() zeroes the held pointer), as tensors are: a token costs a map entry
// per register and a lookup per unregister, on every loss call and recorded BatchNorm forward.
// Registered in batches, as tensors are (tensor.ts): a new block waits in `pending` until 64 have
// been made or the current task ends, and only those still live then cost V8 a weak cell (a
// recorded BatchNorm forward's statistics are mostly freed by the next forward, in the same task).
const registry =
  typeof FinalizationRegistry === 'function'
    ? new FinalizationRegistry<Held>((h) => {
        if (h.ptr !== 0) h.rt.k.free(h.ptr);
      })
    : null;
const PENDING_MAX = 64;
const pending: Held[] = [];
const owners: Block[] = [];
/** A registration of `pending` is queued for the end of the current task (one at a time). */
let queued = false;
const later: (fn: () => void) => void = typeof queueMicrotask === 'function' ? queueMicrotask : (fn) => void Promise.resolve().then(fn);

/** Registers the pending blocks that are still live with the finalizer. */
function registerPending(): void {
  for (let i = 0; i < pending.length; i++) if (pending[i].ptr !== 0) registry!.register(owners[i], pending[i]);
  pending.length = 0;
  owners.length = 0;
}

/** `length` values of one dtype in the active backend (at least one value's bytes are allocated). */
export abstract class Block {
  readonly dtype: BlockDtype;
  readonly length: number;
  #rt: Runtime;
  #ptr: number;
  #held: Held;

  protected constructor(dtype: BlockDtype, length: number) {
    const where = `${dtype} block`;
    if (!Number.isInteger(length) || length < 0)
      throw new RangeError(`${where}: length: expected a non-negative integer, got ${describe(length)}`);
    const rt = runtime(),
      bytes = Math.max(length, 1) * BYTES[dtype];
    if (rt.name !== 'js' && bytes > MAX_BYTES)
      throw new RangeError(`${where}: length ${length} needs ${bytes} bytes, more than WebAssembly's 4 GiB memory`);
    let ptr: number;
    try {
      ptr = rt.k.alloc(bytes);
    } catch (e) {
      throw new RangeError(`${where}: could not allocate ${bytes} bytes for length ${length}: ${(e as Error).message}`);
    }
    this.dtype = dtype;
    this.length = length;
    this.#rt = rt;
    this.#ptr = ptr;
    this.#held = { rt, ptr };
    if (registry) {
      owners.push(this);
      if (pending.push(this.#held) >= PENDING_MAX) registerPending();
      else if (!queued) {
        queued = true;
        later(() => {
          queued = false;
          registerPending();
        });
      }
    }
  }

  get disposed(): boolean {
    return this.#ptr === 0;
  }

  /** The backend that holds this block. */
  get runtime(): Runtime {
    return this.#rt;
  }

  /** Address (WASM) or handle (JS) of the data; throws if disposed or from another backend. */
  get ptr(): number {
    this.check(null, null);
    return this.#ptr;
  }

  /** Throws, prefixed with `where: name: ` when given, unless the block is live in the active backend. */
  check(where: string | null, name: string | null): void {
    const at = where === null ? '' : `${where}: ${name}: `;
    if (this.#ptr === 0) throw new Error(`${at}${this.dtype} block [${this.length}] was disposed and cannot be used`);
    const rt = runtime();
    if (rt !== this.#rt)
      throw new Error(
        `${at}${this.dtype} block [${this.length}] belongs to backend '${this.#rt.name}', but the active backend is '${rt.name}'`,
      );
  }

  /** Frees the memory; later use throws. Safe to call twice. */
  dispose(): void {
    if (this.#ptr === 0) return;
    this.#held.ptr = 0;
    this.#rt.k.free(this.#ptr);
    this.#ptr = 0;
  }

  [disposeSymbol](): void {
    this.dispose();
  }

  toString(): string {
    return `${this.dtype === 'f64' ? 'F64Block' : 'I32Block'}([${this.length}]${this.disposed ? ', disposed' : ''})`;
  }
}

/** A block of f64 values. */
export class F64Block extends Block {
  constructor(length: number) {
    super('f64', length);
  }

  /** A fresh Float64Array over the values; valid only until the next call that may allocate. */
  f64(): Float64Array {
    return this.runtime.f64(this.ptr, this.length);
  }
}

/** A block of i32 values. */
export class I32Block extends Block {
  constructor(length: number) {
    super('i32', length);
  }

  /** A fresh Int32Array over the values; valid only until the next call that may allocate. */
  i32(): Int32Array {
    return this.runtime.i32(this.ptr, this.length);
  }
}
