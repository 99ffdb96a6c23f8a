// Threads: the SGD and Adam/AdamW updates of a large parameter, split into slices, give the bits of
// the single-threaded SIMD build (the build every other test checks against PyTorch) at 1, 2, 3
// and 4 threads, with a length that is not a multiple of the slices' 16 elements.
import { afterAll, describe, expect, it } from 'vitest';
import { init, runtime, threadPool } from '../src/runtime/index';
import { elementParts, OPTIM_MIN_ELEMENTS } from '../src/runtime/threads';
import { adamStep, sgdStep } from '../src/kernels/optim';
import { values, bits, firstDiff } from './threads_helpers';

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
