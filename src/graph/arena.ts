// Buffers a Graph keeps between inference runs. The first run of an input shape allocates as usual
// while every tensor made is numbered with its shape and the allocation count at which it was seen
// freed; from that, one block (the arena) is laid out so that tensors whose lifetimes overlap never
// share bytes (greedy by size: the largest first, each at the lowest offset that fits beside the
// placed tensors it lives with). Later runs of that shape take each intermediate from its place in
// the arena: no allocation, no free. A tensor the first run did not free (an output, a layer's cache)
// is allocated as before, so what the caller gets is never a reused buffer. A run that strays from
// the plan (another shape at some allocation, or a tensor still alive where the plan reuses its bytes)
// allocates as before from there on, and the next run learns again.
// A graph keeps the layouts of its last few input shapes (least recently used dropped and freed).
// see: Pisarchyk & Lee 2020, https://arxiv.org/abs/2001.03288 (greedy by size offset calculation);
//      https://github.com/tensorflow/tensorflow/blob/master/tensorflow/lite/simple_memory_arena.cc
import type { Runtime } from '../runtime/index';
import type { Tensor } from '../tensor';

/** Tensor's constructor and its allocator, passed by src/tensor.ts (this file cannot import them: tensor.ts imports it). */
type TensorClass = typeof Tensor;
type Alloc = (rt: Runtime, where: string, shape: readonly number[]) => number;

/** Offsets in the arena are multiples of this many bytes (a v128, so SIMD loads stay aligned). */
const ALIGN = 16;
/**
 * Bytes of space after each tensor: activations are often whole multiples of 4 KiB, and tensors
 * packed end to end would then sit at addresses 4 KiB apart, whose loads the CPU confuses with the
 * stores before them (4K aliasing); a cache line apart they are not.
 */
const SKEW = 64;

/** What the first run of a shape learnt, and the block laid out from it. */
interface Layout {
  key: string;
  rt: Runtime;
  /** Per allocation, in order: its shape (joined). */
  shapes: string[];
  /** Per allocation: its byte offset in the arena, or −1 for one allocated as usual. */
  offsets: number[];
  /** Per allocation: the earlier arena allocations whose bytes it reuses (each must be freed by then). */
  overlaps: number[][];
  base: number;
  bytes: number;
}

/** A run in progress: learning a layout (layout null), or using one. */
export interface ArenaRun {
  key: string;
  rt: Runtime;
  layout: Layout | null;
  made: Tensor[];
  /** Learning: the allocation count at which each tensor was first seen freed (Infinity: not yet). */
  freedAt: number[];
  /** Learning: indices of the tensors not yet seen freed. */
  live: number[];
  /** Using: the tensors placed in the arena. */
  placed: Set<Tensor>;
  strayed: boolean;
}

/**
 * @internal Switches for timing a Graph's inference with and without what this file and fuse.ts add
 * between layers, in one process (bench/models.ts): `reuse` off, runs neither use nor learn a block
 * (a block already laid out is kept); `addRelu` off, an add and its ReLU run apart.
 */
export const betweenLayers = { reuse: true, addRelu: true };

/** The run whose allocations Tensor._empty routes here (null: none); read by src/tensor.ts. */
export const arena: { run: ArenaRun | null } = { run: null };

/**
 * Allocation number `run.made.length` of a run, of `shape`: at its place in the arena (a tensor that
 * does not own its bytes), or as usual (`alloc`). Plain arguments, no closures: every allocation of a
 * graph run comes here.
 */
export function arenaEmpty(rt: Runtime, shape: readonly number[], T: TensorClass, alloc: Alloc): Tensor {
  const run = arena.run!;
  const k = run.made.length;
  const layout = run.layout;
  let t: Tensor | null = null,
    placed = false;
  if (layout === null) {
    // learning: the tensors freed since the last allocation
    for (let j = run.live.length - 1; j >= 0; j--) {
      const i = run.live[j];
      if (run.made[i]._released) {
        run.freedAt[i] = k;
        run.live[j] = run.live[run.live.length - 1];
        run.live.pop();
      }
    }
  } else if (!run.strayed && rt === run.rt) {
    if (k >= layout.shapes.length || layout.shapes[k] !== shape.join(',')) run.strayed = true;
    else if (layout.offsets[k] >= 0) {
      // the bytes are free once every earlier tensor placed over them is
      placed = layout.overlaps[k].every((i) => run.made[i]._released);
      if (placed) t = new T(rt, layout.base + layout.offsets[k], shape, false);
      else run.strayed = true;
    }
  }
  try {
    t ??= new T(rt, alloc(rt, 'Tensor.empty', shape), shape);
  } catch (e) {
    run.strayed = true; // the numbering stops here: nothing more is placed, nothing is learnt
    throw e;
  }
  run.made.push(t);
  if (layout === null) {
    run.freedAt.push(Infinity);
    run.live.push(k);
  } else if (placed) run.placed.add(t);
  return t;
}

/** Lays out the arena for the allocations of a learning run: greedy by size. Returns each offset (−1: not placed) and the block size. */
function layOut(sizes: readonly number[], freedAt: readonly number[]): { offsets: number[]; bytes: number } {
  const offsets = sizes.map(() => -1);
  const order = sizes
    .map((_, i) => i)
    .filter((i) => freedAt[i] !== Infinity)
    .sort((a, b) => sizes[b] - sizes[a] || a - b);
  const placed: number[] = [];
  let bytes = 0;
  for (const i of order) {
    // the placed tensors that live at the same time as i, by offset
    const beside = placed.filter((j) => j < freedAt[i] && i < freedAt[j]).sort((a, b) => offsets[a] - offsets[b]);
    let at = 0;
    for (const j of beside) {
      if (at + sizes[i] <= offsets[j]) break;
      at = Math.max(at, offsets[j] + sizes[j]);
    }
    offsets[i] = at;
    placed.push(i);
    bytes = Math.max(bytes, at + sizes[i]);
  }
  return { offsets, bytes };
}

/** Rounds a tensor's bytes up to the arena's alignment (one float at least, as Tensor.empty allocates). */
const aligned = (size: number) => Math.ceil((Math.max(size, 1) * 4) / ALIGN) * ALIGN + SKEW;

/** How many input shapes a Graph keeps a block for: `predict`'s last, smaller batch does not relay out the full batches' one. */
export const KEPT_LAYOUTS = 4;

/** The arenas a Graph keeps: one layout per input shapes, for the last KEPT_LAYOUTS shapes it ran (least recently used dropped). */
export class Arena {
  /** Most recently used last. */
  #layouts: Layout[] = [];
  /** Blocks of layouts given up while a tensor placed in them was still alive: freed with the graph. */
  #retired: { rt: Runtime; ptr: number }[] = [];

  /** Routes the allocations of an inference run with input shapes `key` here until end(); returns the run. */
  begin(rt: Runtime, key: string): { run: ArenaRun; prev: ArenaRun | null } {
    const prev = arena.run;
    const i = this.#layouts.findIndex((l) => l.key === key && l.rt === rt);
    let layout: Layout | null = null;
    if (i >= 0) {
      layout = this.#layouts[i];
      this.#layouts.splice(i, 1);
      this.#layouts.push(layout);
    }
    const run: ArenaRun = { key, rt, layout, made: [], freedAt: [], live: [], placed: new Set(), strayed: false };
    arena.run = run;
    return { run, prev };
  }

  /** Stops routing allocations here (the run's own allocations are over). */
  end(prev: ArenaRun | null): void {
    arena.run = prev;
  }

  /**
   * After the run has freed its intermediates: learns a layout from a first run that ran through
   * (`ok`), or gives up a layout the run strayed from.
   */
  finish(run: ArenaRun, ok: boolean): void {
    const layout = run.layout;
    if (layout !== null) {
      // a placed tensor still alive (kept by a layer): its bytes stay reserved until the graph is disposed
      if ([...run.placed].some((t) => !t._released)) this.#drop(layout, true);
      else if (run.strayed || run.made.length !== layout.shapes.length) this.#drop(layout);
      return;
    }
    if (!ok || run.strayed || run.made.length === 0) return;
    for (const i of run.live) if (run.made[i]._released) run.freedAt[i] = run.made.length;
    const sizes = run.made.map((t) => aligned(t.size));
    const { offsets, bytes } = layOut(sizes, run.freedAt);
    if (bytes === 0) return;
    // a nested run of the same shapes may have learnt one meanwhile: this one replaces it
    const same = this.#layouts.find((l) => l.key === run.key && l.rt === run.rt);
    if (same !== undefined) this.#drop(same);
    // the least recently used goes first, so that the new block may take its bytes
    while (this.#layouts.length >= KEPT_LAYOUTS) this.#drop(this.#layouts[0]);
    let base: number;
    try {
      base = run.rt.k.alloc(bytes);
    } catch {
      return; // no room for the arena: later runs allocate as this one did
    }
    const overlaps = offsets.map((o, k) =>
      o < 0 ? [] : offsets.flatMap((p, i) => (i < k && p >= 0 && p < o + sizes[k] && o < p + sizes[i] ? [i] : [])),
    );
    const shapes = run.made.map((t) => t.shape.join(','));
    this.#layouts.push({ key: run.key, rt: run.rt, shapes, offsets, overlaps, base, bytes });
  }

  /** Bytes of the arena blocks kept (0: none). */
  get bytes(): number {
    let n = 0;
    for (const l of this.#layouts) n += l.bytes;
    return n;
  }

  /** Number of layouts kept (one per input shapes). */
  get count(): number {
    return this.#layouts.length;
  }

  /** Frees every arena and any retired block. */
  dispose(): void {
    while (this.#layouts.length > 0) this.#drop(this.#layouts[0]);
    for (const r of this.#retired) r.rt.k.free(r.ptr);
    this.#retired = [];
  }

  #drop(l: Layout, retire = false): void {
    const i = this.#layouts.indexOf(l);
    if (i < 0) return;
    this.#layouts.splice(i, 1);
    if (retire) this.#retired.push({ rt: l.rt, ptr: l.base });
    else l.rt.k.free(l.base);
  }
}
