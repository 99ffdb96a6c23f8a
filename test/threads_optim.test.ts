// Threads: the SGD and Adam/AdamW updates of a large parameter, split into slices, give the bits of
// the single-threaded SIMD build (the build every other test checks against PyTorch) at 1, 2, 3
// and 4 threads, with a length that is not a multiple of the slices' 16 elements.
import { afterAll, describe, expect, it } from 'vitest';
import { init, runtime, threadPool } from '../src/runtime/index';
import { elementParts, OPTIM_MIN_ELEMENTS } from '../src/runtime/threads';
import { adamStep, sgdStep } from '../src/kernels/optim';

/** Deterministic values in [-1, 1) (a 32-bit LCG), exact in f32. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 8) * 2 ** -23 - 1;
  }
  return out;
}

/** The bits of a Float32Array (a copy). */
const bits = (a: Float32Array) => new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/** Index of the first element where two results differ, −1 when they are bit-identical. */
function firstDiff(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

const N = 100_003;

/** p and its state after three SGD (Nesterov momentum, weight decay) steps, then after three Adam and three AdamW steps. */
function optimResults(): Uint32Array[] {
  const rt = runtime();
  const [p, g, a, b] = [0, 1, 2, 3].map(() => rt.k.alloc(4 * N));
  const read = (q: number) => bits(rt.f32(q, N).slice());
  rt.f32(p, N).set(values(N, 1));
  rt.f32(a, N).fill(0);
  for (let t = 1; t <= 3; t++) {
    rt.f32(g, N).set(values(N, 10 + t));
    sgdStep(p, g, a, N, 0.05, 0.9, 0, 1e-4, true, t === 1);
  }
  const out = [read(p), read(a)];
  for (const decoupled of [false, true]) {
    rt.f32(a, N).fill(0);
    rt.f32(b, N).fill(0);
    for (let t = 1; t <= 3; t++) {
      rt.f32(g, N).set(values(N, 20 + t));
      adamStep(p, g, a, b, N, 1e-3, 0.9, 0.999, 1e-8, 0.01, decoupled, t);
    }
    out.push(read(p), read(a), read(b));
  }
  for (const q of [p, g, a, b]) rt.k.free(q);
  return out;
}

afterAll(async () => {
  await init();
});

describe('threads: optimizer updates', () => {
  it('SGD, Adam and AdamW on a large parameter at 1, 2, 3 and 4 threads equal the single-threaded SIMD build, bit for bit', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = optimResults();
    for (const n of [1, 2, 3, 4]) {
      await init({ threads: n });
      // really split (one thread runs the SIMD build itself); a smaller parameter is not
      if (n > 1) {
        expect(elementParts(N, OPTIM_MIN_ELEMENTS, threadPool()!)).toBe(4 * n);
        expect(elementParts(OPTIM_MIN_ELEMENTS - 1, OPTIM_MIN_ELEMENTS, threadPool()!)).toBe(1);
      }
      const got = optimResults();
      for (let i = 0; i < got.length; i++) expect(firstDiff(got[i], reference[i]), `${n} threads, result ${i}`).toBe(-1);
    }
  });
});
