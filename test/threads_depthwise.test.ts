// Threads: the training depthwise convolution (assembly/depthwise.ts), forward and input gradient in
// blocks of images, each part with its own scratch of gathered filters, and the weight and bias
// gradients in blocks of output channels (forward and dx in blocks of channels too where the images
// are fewer than the threads, as at batch 1), gives the bits of the single-threaded SIMD build and of
// the pure-JS twin (depthwise.ts sums alike in every build) at 1, 2, 3 and 4 threads, in both
// layouts, with a channel multiplier, strides, dilation and images that split unevenly.
import { afterAll, describe, expect, it } from 'vitest';
import { init, threadPool, threads } from '../src/runtime/index';
import { Conv2d, Generator, tensor } from '../src/index';
import { values, bits, firstDiff } from './threads_helpers';

interface Case {
  /** Input shape in the layout's order. */
  x: [number, number, number, number];
  c: number;
  mult: number;
  kernel: number;
  stride: number;
  padding: number;
  dilation: number;
  layout: 'NCHW' | 'NHWC';
}

// MobileNet's 3×3 (NCHW, and NHWC where the four-channel SIMD loops use the scratch), a multiplier
// of 2 at stride 2, a dilated 5×5 over 5 images (uneven blocks on 2, 3 and 4 threads), 18 channels
// (not a multiple of 4: the last block's channels run scalar); then batch 1 (blocks of channels in
// fours): uneven channel counts (22, 38, 35, 13·2: a last block of 2 or 3 channels), stride 2, a
// multiplier of 2; every output above DEPTHWISE_MIN
const CASES: Case[] = [
  { x: [4, 24, 28, 28], c: 24, mult: 1, kernel: 3, stride: 1, padding: 1, dilation: 1, layout: 'NCHW' },
  { x: [5, 30, 30, 16], c: 16, mult: 1, kernel: 3, stride: 1, padding: 1, dilation: 1, layout: 'NHWC' },
  { x: [3, 8, 81, 79], c: 8, mult: 2, kernel: 3, stride: 2, padding: 1, dilation: 1, layout: 'NCHW' },
  { x: [5, 35, 33, 18], c: 18, mult: 1, kernel: 5, stride: 1, padding: 4, dilation: 2, layout: 'NHWC' },
  { x: [1, 22, 112, 112], c: 22, mult: 1, kernel: 3, stride: 2, padding: 1, dilation: 1, layout: 'NCHW' },
  { x: [1, 90, 90, 38], c: 38, mult: 1, kernel: 3, stride: 2, padding: 1, dilation: 1, layout: 'NHWC' },
  { x: [1, 45, 43, 35], c: 35, mult: 1, kernel: 3, stride: 1, padding: 1, dilation: 1, layout: 'NHWC' },
  { x: [1, 13, 104, 104], c: 13, mult: 2, kernel: 3, stride: 2, padding: 1, dilation: 1, layout: 'NCHW' },
];

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** y, dx (twice: dW and db accumulate), dW and db of each case in training mode. */
function results(): Uint32Array[] {
  return CASES.flatMap((k, i) => {
    const conv = new Conv2d(k.c, k.c * k.mult, k.kernel, {
      stride: k.stride,
      padding: k.padding,
      dilation: k.dilation,
      groups: k.c,
      layout: k.layout,
      generator: new Generator(3 + i),
    });
    const x = tensor(values(size(k.x), 50 + i), k.x);
    const y = conv.forward(x);
    const dy = tensor(values(y.size, 70 + i), y.shape);
    const out = [bits(y.toArray())];
    for (let round = 0; round < 2; round++) {
      const dx = conv.backward(dy);
      out.push(bits(dx.toArray()));
      dx.dispose();
    }
    out.push(bits(conv.weight.grad.toArray()), bits(conv.bias!.grad.toArray()));
    for (const t of [dy, y, x]) t.dispose();
    conv.dispose();
    return out;
  });
}

afterAll(async () => {
  await init();
});

describe('threads: training depthwise convolution', () => {
  it('forward, input, weight and bias gradients at 1, 2, 3 and 4 threads equal the single-threaded SIMD build and the JS twin, bit for bit', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = results();
    await init({ backend: 'js' });
    const js = results();
    for (let i = 0; i < js.length; i++) expect(firstDiff(js[i], reference[i]), `js, result ${i}`).toBe(-1);
    for (const n of [1, 2, 3, 4]) {
      await init({ threads: n });
      expect(threads()).toBe(n);
      const before = threadPool()?.forks();
      const got = results();
      if (n > 1) {
        // every case ran each of the three split: one forward, two backward calls; by images where
        // there are as many as threads, else by channels (every batch-1 case)
        const after = threadPool()!.forks();
        const byImages = CASES.filter((k) => k.x[0] >= n).length,
          byChannels = CASES.length - byImages;
        expect(byChannels).toBeGreaterThanOrEqual(4);
        const ran = (name: string) => after[name] - before![name];
        expect(ran('depthwiseForwardPart')).toBe(byImages);
        expect(ran('depthwiseForwardChannelsPart')).toBe(byChannels);
        expect(ran('depthwiseBackwardInputPart')).toBe(2 * byImages);
        expect(ran('depthwiseBackwardInputChannelsPart')).toBe(2 * byChannels);
        expect(ran('depthwiseBackwardWeightPart')).toBe(2 * CASES.length);
      }
      expect(got.length).toBe(reference.length);
      for (let i = 0; i < got.length; i++) expect(firstDiff(got[i], reference[i]), `${n} threads, result ${i}`).toBe(-1);
    }
  }, 120_000);
});
