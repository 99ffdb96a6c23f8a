// Shared test helpers: the backends every numeric test runs on, a layer for any layout, seeded
// tensors, error assertions and layout permutations. The float64 references, the seeded inputs they
// are fed and the distances they are compared by live in reference.ts.
import { expect } from 'vitest';
import {
  tensor,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  Generator,
  Linear,
  ReLU,
  Sequential,
  type BatchNormOptions,
  type Tensor,
} from '../src/index';
import type { Layout } from './reference';

export const BACKENDS = ['wasm-simd', 'wasm-relaxed', 'wasm', 'js'] as const;

/** The layer class and layout option that take an input of `layout`. */
export function makeLayer(layout: Layout, c: number, options: BatchNormOptions<never> = {}): BatchNorm1d | BatchNorm2d | BatchNorm3d {
  switch (layout) {
    case 'NC':
      return new BatchNorm1d(c, options);
    case 'NCL':
    case 'NLC':
      return new BatchNorm1d(c, { ...options, layout });
    case 'NCHW':
    case 'NHWC':
      return new BatchNorm2d(c, { ...options, layout });
    case 'NCDHW':
    case 'NDHWC':
      return new BatchNorm3d(c, { ...options, layout });
  }
}

/** A shape of `layout` with batch n, c channels and the given spatial sizes. */
export function shapeOf(layout: Layout, n: number, c: number, spatial: number[]): number[] {
  return layout === 'NC' || layout.startsWith('NC') ? [n, c, ...spatial] : [n, ...spatial, c];
}

/** Deterministic values in [-2, 2) from a seeded LCG. */
export function values(n: number, seed = 1): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 4 - 2);
}

/** A tensor of `shape` holding values(size, seed). */
export function filled(shape: readonly number[], seed = 1): Tensor {
  return tensor(
    values(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );
}

/** The bit patterns of f32 values, so that -0 and NaN payloads count as changes too. */
export const bits = (a: Float32Array | undefined) => (a ? Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length)) : a);

export type ErrorClass = new (...args: never[]) => Error;

/** The error `fn` throws; fails when it returns. */
export function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected the call to throw, but it returned');
}

/** fn throws exactly an instance of `cls` whose message matches `re`. */
export function throwsLike(fn: () => unknown, cls: ErrorClass, re: RegExp): void {
  const e = caught(fn);
  expect(e.constructor).toBe(cls);
  expect(e.message).toMatch(re);
}

/** p rejects with exactly an instance of `cls` whose message matches `re`. */
export async function rejectsLike(p: Promise<unknown>, cls: ErrorClass, re: RegExp): Promise<void> {
  let e: Error | undefined;
  try {
    await p;
  } catch (err) {
    e = err as Error;
  }
  if (!e) throw new Error('expected a rejection, but the promise resolved');
  expect(e.constructor).toBe(cls);
  expect(e.message).toMatch(re);
}

type Arr = ArrayLike<number>;
/** Permutes a 4-D array of `shape` by `perm` (NCHW → NHWC: [0, 2, 3, 1]; back: [0, 3, 1, 2]). */
export function permute(a: Arr, shape: readonly number[], perm: readonly number[]): Float32Array {
  const out = new Float32Array(a.length),
    to = perm.map((d) => shape[d]);
  const st = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
  let j = 0;
  for (let i0 = 0; i0 < to[0]; i0++)
    for (let i1 = 0; i1 < to[1]; i1++)
      for (let i2 = 0; i2 < to[2]; i2++)
        for (let i3 = 0; i3 < to[3]; i3++) {
          out[j++] = a[i0 * st[perm[0]] + i1 * st[perm[1]] + i2 * st[perm[2]] + i3 * st[perm[3]]];
        }
  return out;
}
export const toNHWC = (a: Arr, s: readonly number[]) => permute(a, s, [0, 2, 3, 1]);
export const toNCHW = (a: Arr, nhwc: readonly number[]) => permute(a, nhwc, [0, 3, 1, 2]);
/** A shape of `layout` as NCHW. */
export const nchwShape = (s: readonly number[], layout: 'NCHW' | 'NHWC') => (layout === 'NCHW' ? [...s] : [s[0], s[3], s[1], s[2]]);

/** The small classifier the training-loop tests share: Linear(6, 8)-BN-ReLU-Linear(8, 4), seeded. */
export function fitModel(): Sequential {
  const gen = new Generator(3);
  return new Sequential(new Linear(6, 8, { generator: gen }), new BatchNorm1d(8), new ReLU(), new Linear(8, 4, { generator: gen }));
}
