// A small DataLoader for the manual loop: batches from typed arrays, shuffled by a seeded
// generator, into one input tensor per batch size that is refilled, not reallocated, every step.
// see: https://pytorch.org/docs/stable/data.html#torch.utils.data.DataLoader
import { Tensor } from '../tensor';
import { Generator } from '../random';
import { checkOptions, describe } from '../validate';

/** What a DataLoader batches: n samples stored flat, with their labels or targets. */
export interface DataLoaderData {
  /** n samples of `shape`, stored flat. */
  x: Float32Array;
  /** n class labels (Int32Array), or n targets of `targetShape` stored flat (Float32Array). */
  y: Int32Array | Float32Array;
  /** The shape of one sample. */
  shape: readonly number[];
  /** The shape of one target when y is a Float32Array (default [1]). */
  targetShape?: readonly number[];
}

/** Options of a DataLoader (PyTorch's batch_size, shuffle, drop_last, generator). */
export interface DataLoaderOptions {
  /** Samples per batch (PyTorch's batch_size). Default 1. */
  batchSize?: number;
  /** Reshuffle at the start of every pass (default false). */
  shuffle?: boolean;
  /** Drop a last batch smaller than batchSize (default false). */
  dropLast?: boolean;
  /** The generator of the shuffles (default a new Generator(0)). */
  generator?: Generator;
}

/** Batches of [x, y]: x a Tensor [b, ...shape] owned by the loader, y labels or a target Tensor. */
export class DataLoader implements Iterable<[Tensor, Int32Array | Tensor]> {
  /** Samples per batch (the last one may be smaller unless dropLast). */
  readonly batchSize: number;
  /** Reshuffle at the start of every pass. */
  readonly shuffle: boolean;
  /** Drop a last batch smaller than batchSize. */
  readonly dropLast: boolean;
  /** Batches per pass (PyTorch's len(loader)). */
  readonly length: number;
  #data: DataLoaderData;
  #per: number;
  #tper: number;
  #gen: Generator;
  #buffers = new Map<number, [Tensor, Tensor | null]>();

  constructor(data: DataLoaderData, options: DataLoaderOptions = {}) {
    const where = 'DataLoader';
    if (data === null || typeof data !== 'object') throw new TypeError(`${where}: data: expected { x, y, shape }, got ${describe(data)}`);
    checkOptions(where, options, ['batchSize', 'shuffle', 'dropLast', 'generator']);
    const { x, y, shape } = data;
    if (!(x instanceof Float32Array)) throw new TypeError(`${where}: data.x: expected a Float32Array, got ${describe(x)}`);
    if (!(y instanceof Int32Array || y instanceof Float32Array))
      throw new TypeError(`${where}: data.y: expected an Int32Array of labels or a Float32Array of targets, got ${describe(y)}`);
    const dims = (name: string, s: unknown) => {
      if (!Array.isArray(s) || s.some((d) => !Number.isInteger(d) || d < 1))
        throw new TypeError(`${where}: data.${name}: expected an array of positive integers, got ${describe(s)}`);
      return (s as number[]).reduce((p, d) => p * d, 1);
    };
    this.#per = dims('shape', shape);
    this.#tper = y instanceof Float32Array ? dims('targetShape', data.targetShape ?? [1]) : 1;
    const n = x.length / this.#per;
    if (!Number.isInteger(n) || y.length !== n * this.#tper) {
      throw new RangeError(`${where}: data: x has ${x.length} values (${n} samples of [${shape.join(', ')}]) but y has ${y.length} values`);
    }
    const bs = options.batchSize ?? 1;
    if (!Number.isInteger(bs) || bs < 1) throw new RangeError(`${where}: batchSize: expected a positive integer, got ${describe(bs)}`);
    for (const k of ['shuffle', 'dropLast'] as const) {
      if (options[k] !== undefined && typeof options[k] !== 'boolean')
        throw new TypeError(`${where}: ${k}: expected a boolean, got ${describe(options[k])}`);
    }
    if (options.generator !== undefined && !(options.generator instanceof Generator))
      throw new TypeError(`${where}: generator: expected a Generator, got ${describe(options.generator)}`);
    this.#data = { ...data, shape: [...shape], targetShape: data.targetShape ? [...data.targetShape] : [1] };
    this.batchSize = bs;
    this.shuffle = options.shuffle ?? false;
    this.dropLast = options.dropLast ?? false;
    this.#gen = options.generator ?? new Generator(0);
    this.length = this.dropLast ? Math.floor(n / bs) : Math.ceil(n / bs);
  }

  /** The loader's tensors for a batch of b samples, made once and refilled after. */
  #tensors(b: number): [Tensor, Tensor | null] {
    let t = this.#buffers.get(b);
    if (t === undefined || t[0].disposed || (t[1] !== null && t[1].disposed)) {
      const y = this.#data.y instanceof Float32Array ? Tensor.empty([b, ...this.#data.targetShape!]).keep() : null;
      t = [Tensor.empty([b, ...this.#data.shape]).keep(), y];
      this.#buffers.set(b, t);
    }
    return t;
  }

  /** One pass over the data: [x, y] per batch; x is refilled by the next batch, so copy what you keep. */
  *[Symbol.iterator](): Iterator<[Tensor, Int32Array | Tensor]> {
    const n = this.#data.x.length / this.#per;
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    if (this.shuffle) {
      // Fisher–Yates with the loader's generator: the same seed gives the same order everywhere
      for (let i = n - 1; i > 0; i--) {
        const j = this.#gen.below(i + 1);
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
    }
    const per = this.#per,
      tper = this.#tper,
      { x, y } = this.#data;
    for (let s = 0; s < n; s += this.batchSize) {
      const b = Math.min(this.batchSize, n - s);
      if (b < this.batchSize && this.dropLast) break;
      const [xt, yt] = this.#tensors(b);
      const xv = xt.view();
      const labels = new Int32Array(yt === null ? b : 0);
      const yv = yt?.view();
      for (let i = 0; i < b; i++) {
        const k = idx[s + i];
        xv.set(x.subarray(k * per, (k + 1) * per), i * per);
        if (yv !== undefined) yv.set((y as Float32Array).subarray(k * tper, (k + 1) * tper), i * tper);
        else labels[i] = (y as Int32Array)[k];
      }
      yield [xt, yt ?? labels];
    }
  }

  /** Frees the loader's tensors. */
  dispose(): void {
    for (const [x, y] of this.#buffers.values()) {
      x.dispose();
      y?.dispose();
    }
    this.#buffers.clear();
  }
}
