// What a layer's constructor and a Sequential's forward keep safe: the size cap of a layer's own
// memory, allocations freed together when a later step throws, and the movable state copied before a
// forward that may throw midway.
import type { Module } from './module';

/** WebAssembly's 32-bit memory holds 4 GiB in all; a layer's own memory must fit in it (every backend keeps that cap). */
const MAX_LAYER_BYTES = 2 ** 32;

/**
 * Throws a RangeError naming the layer and argument when a layer's parameters, gradients and state
 * (`floats` in all) cannot fit: `expr = value` says which argument made it so.
 */
export function checkLayerSize(where: string, expr: string, value: number, floats: number): void {
  const bytes = floats * 4;
  if (bytes > MAX_LAYER_BYTES) {
    throw new RangeError(
      `${where}: ${expr} = ${value}: ${bytes} bytes of parameters, gradients and state, more than WebAssembly's 4 GiB memory`,
    );
  }
}

/** What a constructor has allocated so far, freed all at once when a later step throws. */
export class Allocations {
  #made: { dispose(): void }[] = [];
  add<T extends { dispose(): void }>(t: T): T {
    this.#made.push(t);
    return t;
  }
  /** Frees everything added; returns `e` for the caller to rethrow (`throw made.free(e)`). */
  free(e: unknown): unknown {
    for (const t of this.#made) t.dispose();
    return e;
  }
}

/**
 * Copies what a forward may move (every state entry but the parameters: running statistics and
 * counters); the function returned puts them back. Sequential calls it when a layer throws midway.
 */
export function saveBuffers(m: Module, scratch: { buf: Float32Array } = { buf: new Float32Array(0) }, movable = m._movable()): () => void {
  // one copy of every movable value into `scratch` (reused by the caller across forwards)
  let total = 0;
  for (const e of movable) if ('tensor' in e) total += e.tensor.size;
  if (scratch.buf.length < total) scratch.buf = new Float32Array(total);
  const buf = scratch.buf,
    counts: number[] = [];
  let o = 0;
  for (const e of movable) {
    if ('tensor' in e) {
      buf.set(e.tensor.view(), o);
      o += e.tensor.size;
    } else counts.push(e.count());
  }
  return () => {
    let at = 0,
      k = 0;
    for (const e of movable) {
      if ('tensor' in e) {
        e.tensor.view().set(buf.subarray(at, at + e.tensor.size));
        at += e.tensor.size;
      } else e.setCount(counts[k++]);
    }
  };
}
