// Threads: the kernels a Graph runs under noGrad — the implicit-GEMM convolution with its fused bias
// and clamp (split into images, blocks of output pixels and groups of output channels), the 3×3
// depthwise convolution and max pooling without argmax (runs of channel planes) — give the bits of
// the single-threaded SIMD build at 1, 2, 3 and 4 threads (the depthwise convolution and the pooling
// also the pure-JS twin's, which depthwise_infer.test.ts already holds equal to it; the JS
// convolution sums in f64, as conv_infer.test.ts notes). A whole model: threads_infer_model.test.ts.
import { afterAll, describe, expect, it } from 'vitest';
import { init, threadPool, threads } from '../src/runtime/index';
import { inferCounts, inferGroups } from '../src/runtime/threads_infer';
import { Conv2d, Generator, MaxPool2d, noGrad, tensor } from '../src/index';
import { runFusedConv, runMaxPoolInfer, type FusedActivation } from '../src/graph/fuse';
import { values, bits, firstDiff } from './threads_helpers';

interface ConvCase {
  /** Input [n, c, h, w]. */
  x: [number, number, number, number];
  out: number;
  kernel: number;
  stride: number;
  padding: number;
  groups?: number;
  act: FusedActivation | null;
}

const RELU: FusedActivation = { kind: 'relu', lo: 0, hi: Infinity };
const RELU6: FusedActivation = { kind: 'clamp', lo: 0, hi: 6 };

// one image of many pixel blocks (uneven last block); one image of 49 pixels and 130 channels (split
// only into channel groups, the last tile of 2); a pointwise kernel over 3 images; stride 2 with a 5×5
// window and a clamp; resnet18's stem on a smaller image; the demo CNN's conv2 at batch 6
const CONVS: ConvCase[] = [
  { x: [1, 16, 41, 39], out: 24, kernel: 3, stride: 1, padding: 1, act: RELU },
  { x: [1, 64, 7, 7], out: 130, kernel: 3, stride: 1, padding: 1, act: null },
  { x: [3, 40, 18, 18], out: 36, kernel: 1, stride: 1, padding: 0, act: RELU6 },
  { x: [2, 5, 33, 29], out: 20, kernel: 5, stride: 2, padding: 2, act: { kind: 'clamp', lo: -0.5, hi: 0.25 } },
  { x: [1, 3, 64, 64], out: 64, kernel: 7, stride: 2, padding: 3, act: RELU },
  { x: [6, 32, 14, 14], out: 64, kernel: 3, stride: 1, padding: 1, act: RELU },
];
// 3×3 depthwise: MobileNet's shapes (stride 1 and 2, one image, ReLU6) and two images of odd sizes
const DEPTHWISE: ConvCase[] = [
  { x: [1, 32, 56, 56], out: 32, kernel: 3, stride: 1, padding: 1, groups: 32, act: RELU6 },
  { x: [1, 96, 57, 57], out: 96, kernel: 3, stride: 2, padding: 1, groups: 96, act: RELU6 },
  { x: [2, 37, 30, 31], out: 37, kernel: 3, stride: 1, padding: 1, groups: 37, act: null },
];
// max pooling: resnet18's 3×3/2 padded (NCHW: 64 images of one channel), 2×2 over 7 images, NHWC,
// NHWC at batch 1 (blocks of output rows; 38 and 13 channels, stride 2)
const POOLS: { x: [number, number, number, number]; k: number; s: number; p: number; layout: 'NCHW' | 'NHWC' }[] = [
  { x: [1, 64, 112, 112], k: 3, s: 2, p: 1, layout: 'NCHW' },
  { x: [7, 5, 61, 33], k: 2, s: 2, p: 0, layout: 'NCHW' },
  { x: [5, 40, 40, 24], k: 3, s: 2, p: 1, layout: 'NHWC' },
  { x: [1, 57, 57, 38], k: 3, s: 2, p: 1, layout: 'NHWC' },
  { x: [1, 90, 70, 13], k: 2, s: 2, p: 0, layout: 'NHWC' },
];
/** Images a pooling call sees (NCHW pools n·c images of one channel). */
const poolImages = (p: (typeof POOLS)[number]) => (p.layout === 'NCHW' ? p.x[0] * p.x[1] : p.x[0]);

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** The output bits of each convolution under noGrad (the Graph's fused path). */
function convResults(cases: ConvCase[], seed: number): Uint32Array[] {
  return cases.map((k, i) => {
    const conv = new Conv2d(k.x[1], k.out, k.kernel, {
      stride: k.stride,
      padding: k.padding,
      groups: k.groups ?? 1,
      generator: new Generator(seed + i),
    }).eval();
    const x = tensor(values(size(k.x), seed + 20 + i), k.x);
    const y = noGrad(() => runFusedConv(conv, x, k.act));
    const out = bits(y.toArray());
    for (const t of [y, x]) t.dispose();
    conv.dispose();
    return out;
  });
}

/** The output bits of each max pooling without argmax. */
function poolResults(): Uint32Array[] {
  return POOLS.map((p, i) => {
    const m = new MaxPool2d(p.k, { stride: p.s, padding: p.p, layout: p.layout }).eval();
    const x = tensor(values(size(p.x), 60 + i), p.x);
    const y = noGrad(() => runMaxPoolInfer(m, x));
    const out = bits(y.toArray());
    for (const t of [y, x]) t.dispose();
    return out;
  });
}

const all = () => [...convResults(CONVS, 11), ...convResults(DEPTHWISE, 31), ...poolResults()];

afterAll(async () => {
  await init();
});

describe('threads: inference kernels', () => {
  it('convolution, 3×3 depthwise and max pooling at 1, 2, 3 and 4 threads equal the single-threaded SIMD build (and the JS twin where it sums alike), bit for bit', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = all();
    await init({ backend: 'js' });
    const js = all();
    for (let i = CONVS.length; i < js.length; i++) expect(firstDiff(js[i], reference[i]), `js, result ${i}`).toBe(-1);
    for (const n of [1, 2, 3, 4]) {
      await init({ threads: n });
      expect(threads()).toBe(n);
      const before = inferCounts.conv;
      const forks = threadPool()?.forks() ?? {};
      const got = all();
      // every convolution ran split; so did every depthwise and pooling call
      expect(inferCounts.conv - before).toBe(n === 1 ? 0 : CONVS.length);
      if (n > 1) {
        const after = threadPool()!.forks();
        expect(after.depthwise3x3InferPart - forks.depthwise3x3InferPart).toBe(DEPTHWISE.length);
        const byImages = POOLS.filter((p) => poolImages(p) >= n).length;
        expect(after.maxPool2dInferPart - forks.maxPool2dInferPart).toBe(byImages);
        expect(after.maxPool2dInferRowsPart - forks.maxPool2dInferRowsPart).toBe(POOLS.length - byImages);
        expect(POOLS.length - byImages).toBeGreaterThanOrEqual(2);
      }
      expect(got.length).toBe(reference.length);
      for (let i = 0; i < got.length; i++) expect(firstDiff(got[i], reference[i]), `${n} threads, result ${i}`).toBe(-1);
    }
  }, 120_000);

  it('channel groups: one unit per thread where images and pixel blocks are too few, of 16 channels at least', () => {
    expect(inferGroups(1, 1, 512, 2)).toBe(2); // resnet18's layer4: one block of 49 pixels
    expect(inferGroups(1, 1, 512, 4)).toBe(4);
    expect(inferGroups(1, 13, 64, 2)).toBe(1); // its layer1: 13 blocks of 256 pixels
    expect(inferGroups(1, 1, 24, 4)).toBe(1); // too few channels to split
    expect(inferGroups(60, 1, 64, 2)).toBe(1); // a batch: images are the units
  });

  it('a small convolution stays on one thread', async () => {
    await init({ threads: 2 });
    const before = inferCounts.conv;
    convResults([{ x: [1, 4, 8, 8], out: 8, kernel: 3, stride: 1, padding: 1, act: null }], 1);
    expect(inferCounts.conv).toBe(before);
  });
});
