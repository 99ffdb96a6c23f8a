// Threads: the channel-first convolution's per-image loops (forward, input gradient, weight gradient
// summed over the images) and pooling split between threads give the bits of the single-threaded
// SIMD build (the build every other test checks against float64 and PyTorch) at 1, 2, 3 and 4
// threads, with uneven blocks of images, a pointwise kernel and strides.
import { afterAll, describe, expect, it } from 'vitest';
import { init, runtime, threadPool, threads } from '../src/runtime/index';
import { counts, poolParts } from '../src/runtime/threads';
import { slidingWindow } from '../src/kernels/conv';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from '../src/kernels/pool';
import { cnn } from '../examples/demo/cnn';
import { Conv2d, Generator, tensor } from '../src/index';
import { values, bits, firstDiff, trainedBits } from './threads_helpers';

interface ConvCase {
  /** Input [n, c, h, w]. */
  x: [number, number, number, number];
  out: number;
  kernel: number;
  stride: number;
  padding: number;
  /** Whether the backward computes dx (else only the parameters' gradients). */
  dx: boolean;
}

// 7 and 5 images split unevenly on 2, 3 and 4 threads; the demo's two convolutions; a pointwise
// kernel; stride 2 with padding; a larger batch; one channel in (dw split by rows, not channels)
const CASES: ConvCase[] = [
  { x: [7, 5, 13, 11], out: 12, kernel: 3, stride: 1, padding: 1, dx: true },
  { x: [5, 1, 28, 28], out: 32, kernel: 3, stride: 1, padding: 1, dx: false },
  { x: [6, 32, 14, 14], out: 64, kernel: 3, stride: 1, padding: 1, dx: true },
  { x: [9, 24, 10, 10], out: 20, kernel: 1, stride: 1, padding: 0, dx: true },
  { x: [4, 6, 17, 15], out: 10, kernel: 5, stride: 2, padding: 2, dx: true },
  { x: [30, 16, 32, 32], out: 8, kernel: 3, stride: 1, padding: 1, dx: true },
];

/** y, dx (when asked), dW and db of a forward and two backward calls (dW, db accumulate) per case. */
function convResults(): Uint32Array[] {
  return CASES.flatMap((k, i) => {
    const conv = new Conv2d(k.x[1], k.out, k.kernel, { stride: k.stride, padding: k.padding, generator: new Generator(11 + i) });
    const x = tensor(
      values(
        k.x.reduce((a, b) => a * b),
        21 + i,
      ),
      k.x,
    );
    const y = conv.forward(x);
    const dy = tensor(values(y.size, 41 + i), y.shape);
    const out = [bits(y.toArray())];
    for (let round = 0; round < 2; round++) {
      if (k.dx) {
        const dx = conv.backward(dy);
        out.push(bits(dx.toArray()));
        dx.dispose();
      } else conv.backwardParams(dy);
    }
    out.push(bits(conv.weight.grad.toArray()), bits(conv.bias!.grad.toArray()));
    for (const t of [dy, y, x]) t.dispose();
    conv.dispose();
    return out;
  });
}

// pooled inputs [n, h, w, c] (channels last; NCHW pools as n·c images of one channel) with windows
// [k, stride, pad]: 192 images of one channel, 2×2; 9 images of 40 channels, 3×3 stride 2 padded;
// 7 images of 5 channels whose rows leave a remainder; then fewer images than threads, where max
// pooling takes blocks of output rows forward and of channels (in sixteens) backward: one image of
// 38 channels 3×3 stride 2 padded (overlapping windows), one of 37 channels 2×2, two of 21 channels
// 3×3 stride 1 (split so at 3 and 4 threads; a last block of 5 channels); all above the size below
// which one thread runs
const POOLS: { x: [number, number, number, number]; win: [number, number, number] }[] = [
  { x: [192, 28, 28, 1], win: [2, 2, 0] },
  { x: [9, 20, 20, 40], win: [3, 2, 1] },
  { x: [7, 61, 33, 5], win: [3, 3, 1] },
  { x: [1, 57, 57, 38], win: [3, 2, 1] },
  { x: [1, 60, 50, 37], win: [2, 2, 0] },
  { x: [2, 50, 50, 21], win: [3, 1, 1] },
];

/** y, idx and dx of max pooling, then y and dx of average pooling, per input. */
function poolResults(): Uint32Array[] {
  const rt = runtime();
  return POOLS.flatMap(({ x: [n, h, w, c], win: [k, s, p] }, i) => {
    const oh = Math.floor((h + 2 * p - k) / s) + 1,
      ow = Math.floor((w + 2 * p - k) / s) + 1;
    const win = slidingWindow([k, k], [s, s], [p, p], { oh, ow });
    const size = n * h * w * c,
      osize = n * oh * ow * c;
    const [x, dx] = [size, size].map((b) => rt.k.alloc(4 * b));
    const [y, idx, dy] = [osize, osize, osize].map((b) => rt.k.alloc(4 * b));
    rt.f32(x, size).set(values(size, 71 + i));
    rt.f32(dy, osize).set(values(osize, 81 + i));
    maxPool2d(x, y, idx, n, h, w, c, win);
    maxPool2dBackward(dy, idx, dx, n, h * w, c, oh * ow);
    const out = [bits(rt.f32(y, osize).slice()), bits(new Float32Array(rt.i32(idx, osize).slice().buffer)), bits(rt.f32(dx, size).slice())];
    avgPool2d(x, y, n, h, w, c, win);
    avgPool2dBackward(dy, dx, n, h, w, c, win);
    out.push(bits(rt.f32(y, osize).slice()), bits(rt.f32(dx, size).slice()));
    for (const q of [x, dx, y, idx, dy]) rt.k.free(q);
    return out;
  });
}

/** The demo's CNN (narrowed to 8 and 16 channels) trained 4 SGD steps on batches of 12: the final weights' bits. */
function trainCnn(): Uint32Array {
  return trainedBits(cnn(5, 8, 16), 4, [12, 1, 28, 28], 200, 3);
}

afterAll(async () => {
  await init();
});

describe('threads: convolution', () => {
  it('forward, input and weight gradients at 1, 2, 3 and 4 threads equal the single-threaded SIMD build, bit for bit', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = convResults();
    for (const n of [1, 2, 3, 4]) {
      await init({ threads: n });
      expect(threads()).toBe(n);
      const before = { ...counts };
      const got = convResults();
      // every case ran its loops split (on one thread: not split)
      expect(counts.convForward - before.convForward).toBe(n === 1 ? 0 : CASES.length);
      expect(counts.convBackward - before.convBackward).toBe(n === 1 ? 0 : 2 * CASES.length);
      expect(got.length).toBe(reference.length);
      for (let i = 0; i < got.length; i++) expect(firstDiff(got[i], reference[i]), `${n} threads, result ${i}`).toBe(-1);
    }
  });

  it('max and average pooling, forward and backward (max pooling also at batch 1), at 1, 2, 3 and 4 threads equal the single-threaded SIMD build, bit for bit', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = poolResults();
    for (const n of [1, 2, 3, 4]) {
      await init({ threads: n });
      // every input is really split: max pooling into blocks of images where there are as many as
      // threads, else of output rows (forward) and channels (backward); average pooling by images
      // (one thread runs the SIMD build itself)
      const byImages = POOLS.filter(({ x }) => x[0] >= n).length,
        fewer = POOLS.length - byImages;
      if (n > 1) {
        for (const { x } of POOLS.filter(({ x }) => x[0] >= n))
          expect(poolParts(x[0], x[0] * x[1] * x[2] * x[3], threadPool()!)).toBeGreaterThan(1);
        expect(fewer).toBeGreaterThanOrEqual(2);
      }
      const before = threadPool()?.forks() ?? {};
      const got = poolResults();
      if (n > 1) {
        const after = threadPool()!.forks();
        const ran = (name: string) => after[name] - before[name];
        expect(ran('maxPool2dPart')).toBe(byImages);
        expect(ran('maxPool2dBackwardPart')).toBe(byImages);
        expect(ran('maxPool2dRowsPart')).toBe(fewer);
        expect(ran('maxPool2dBackwardChannelsPart')).toBe(fewer);
      }
      expect(got.length).toBe(reference.length);
      for (let i = 0; i < got.length; i++) expect(firstDiff(got[i], reference[i]), `${n} threads, result ${i}`).toBe(-1);
    }
  });

  it("the demo's CNN trained at 2 and 3 threads ends with the weights of the single-threaded build", async () => {
    await init({ backend: 'wasm-simd' });
    const reference = trainCnn();
    for (const n of [2, 3]) {
      await init({ threads: n });
      const before = { ...counts };
      expect(firstDiff(trainCnn(), reference), `${n} threads`).toBe(-1);
      // both convolutions ran split (4 steps)
      expect(counts.convBackward - before.convBackward).toBe(8);
    }
  });

  it('a single image or a small convolution stays on one thread', async () => {
    await init({ threads: 2 });
    const before = { ...counts };
    for (const shape of [
      [1, 32, 14, 14],
      [4, 2, 6, 6],
    ]) {
      const conv = new Conv2d(shape[1], 8, 3, { padding: 1, generator: new Generator(1) });
      const x = tensor(
        values(
          shape.reduce((a, b) => a * b),
          1,
        ),
        shape,
      );
      const y = conv.forward(x);
      conv.backward(y).dispose();
      for (const t of [y, x]) t.dispose();
      conv.dispose();
    }
    expect(counts.convForward - before.convForward).toBe(0);
    expect(counts.convBackward - before.convBackward).toBe(0);
  });
});
