// The threaded runtime's inference kernels: the implicit-GEMM convolution (units of image, block of
// output pixels and group of output channels), the 3×3 depthwise convolution (runs of channel
// planes) and max pooling without argmax (blocks of images, or of output rows at batch 1); and the
// training depthwise convolution (blocks of images forward and for dx, or blocks of channels where
// the images are fewer than the threads, as at batch 1; blocks of output channels for the weight
// gradient), each shared between the threads above a size; below it the single-threaded kernel
// runs. Their part kernels (assembly/parts_infer.ts, parts_depthwise.ts, parts_pool.ts) compute
// every output with the code and order of the single-threaded kernel, so the bits do not depend on
// the split.
import { MAX_PARTS, type Pool, type SharedMemory } from './pool';
import type { Kernels, ParallelInferKernels } from './types';

/** The part kernels of this file, in the order they follow the others in threads.ts's PART_KERNELS. */
export const INFER_PART_KERNELS = [
  'convInferNCHWPart',
  'depthwise3x3InferPart',
  'maxPool2dInferPart',
  'depthwiseForwardPart',
  'depthwiseBackwardInputPart',
  'depthwiseBackwardWeightPart',
  'depthwiseForwardChannelsPart',
  'depthwiseBackwardInputChannelsPart',
  'maxPool2dInferRowsPart',
] as const;

// Below these sizes a call stays on one thread (docs/threads.md: measured with bench --threads)
/** Multiply-adds (n·o·oh·ow·c·kh·kw) of an inference convolution below which it runs on one thread. */
export const CONV_INFER_MIN_MACS = 1 << 18;
/** Outputs (n·c·oh·ow) of a 3×3 depthwise inference call below which it runs on one thread (nine multiply-adds each: bound by memory). */
export const DEPTHWISE_INFER_MIN = 1 << 16;
/** Outputs (n·c·mult·oh·ow) of a training depthwise convolution below which it runs on one thread. */
export const DEPTHWISE_MIN = 1 << 16;
/** Bytes of a depthwise part's scratch of gathered filters (assembly/depthwise_body.ts's TAPS_BYTES). */
const TAPS_BYTES = 64 * 16;
/** Input elements of a max pooling without argmax below which it runs on one thread. */
export const POOL_INFER_MIN = 1 << 16;
/** Output pixels per block of the inference convolution (assembly/conv_infer_blocks.ts's NC). */
const PIXEL_BLOCK = 256;
/** Parts per thread (small, so a thread the machine delays holds up less of the call). */
const PARTS_PER_THREAD = 4;
/** Output channels a group of the inference convolution holds at least (each group gathers its block's windows again). */
const GROUP_CHANNELS = 16;

/** The shared-memory build's exports the inference parts read besides the kernels. */
export interface InferExports {
  memory: SharedMemory;
  convInferPartWorkspace(K: number, P: number): number;
}
type Exports = Kernels & InferExports;

/** Parts of a call over `units` independent units (1: it stays on one thread). */
function unitParts(units: number, size: number, min: number, pool: Pool): number {
  if (pool.broken !== null || pool.size <= 1 || size < min) return 1;
  return Math.min(units, PARTS_PER_THREAD * pool.size, MAX_PARTS);
}

/**
 * Groups of output channels an inference convolution of n images, `blocks` pixel blocks each, is
 * split into: one unit per thread where images and blocks are too few, of GROUP_CHANNELS channels at
 * least. Not more: each group gathers its block's windows again, which at 7×7 (strips wrap rows, the
 * slow gather) cost more than the split gained (resnet18's layer4 at 2 threads: 8 groups ran 0.74×
 * one thread, 2 groups 1.6–2×; docs/threads.md).
 */
export function inferGroups(n: number, blocks: number, o: number, threads: number): number {
  const want = Math.ceil(threads / (n * blocks));
  return Math.max(1, Math.min(want, Math.floor(o / GROUP_CHANNELS)));
}

/**
 * depthwise3x3Infer, maxPool2dInfer and the training depthwise kernels routed through `pool`
 * (`first`: the index of INFER_PART_KERNELS[0] in its list; `alloc`: the runtime's allocator).
 */
export function inferKernels(e: Exports, alloc: (bytes: number) => number, pool: Pool, first: number): Partial<Kernels> {
  /** Runs depthwise part `fn` over blocks of images or channels, each part with a scratch of its own after `args`. */
  const imageBlocks = (fn: number, parts: number, args: number[]) => {
    const taps = alloc(parts * TAPS_BYTES);
    try {
      pool.run(first + fn, parts, [...args, taps]);
    } finally {
      e.free(taps);
    }
  };
  return {
    depthwiseForward(x, wt, b, y, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc) {
      const byImages = n >= pool.size,
        units = byImages ? n : Math.ceil((c * mult) / 4);
      const parts = unitParts(units, n * c * mult * oh * ow, DEPTHWISE_MIN, pool);
      if (parts <= 1) return e.depthwiseForward(x, wt, b, y, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc);
      imageBlocks(byImages ? 3 : 6, parts, [x, wt, b, y, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc]);
    },
    depthwiseBackwardInput(dy, wt, dx, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc) {
      const byImages = n >= pool.size,
        units = byImages ? n : Math.ceil(c / 4);
      const parts = unitParts(units, n * c * mult * oh * ow, DEPTHWISE_MIN, pool);
      if (parts <= 1) return e.depthwiseBackwardInput(dy, wt, dx, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc);
      imageBlocks(byImages ? 4 : 7, parts, [dy, wt, dx, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc]);
    },
    depthwiseBackwardWeight(x, dy, dwt, db, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc) {
      const parts = unitParts(Math.ceil((c * mult) / 4), n * c * mult * oh * ow, DEPTHWISE_MIN, pool);
      if (parts <= 1) return e.depthwiseBackwardWeight(x, dy, dwt, db, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc);
      pool.run(first + 5, parts, [x, dy, dwt, db, n, c, h, w, mult, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, nhwc]);
    },
    depthwise3x3Infer(x, wt, b, y, n, c, h, w, s, oh, ow, lo, hi) {
      const parts = unitParts(n * c, n * c * oh * ow, DEPTHWISE_INFER_MIN, pool);
      if (parts <= 1) return e.depthwise3x3Infer(x, wt, b, y, n, c, h, w, s, oh, ow, lo, hi);
      pool.run(first + 1, parts, [x, wt, b, y, n, c, h, w, s, oh, ow, lo, hi]);
    },
    maxPool2dInfer(x, y, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow) {
      // blocks of images, or of output rows where the images are fewer than the threads
      const byImages = n >= pool.size,
        units = byImages ? n : oh;
      const parts = units < 2 ? 1 : unitParts(units, n * h * w * c, POOL_INFER_MIN, pool);
      if (parts <= 1) return e.maxPool2dInfer(x, y, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow);
      pool.run(first + (byImages ? 2 : 8), parts, [x, y, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow]);
    },
  };
}

/** How many inference convolutions ran split, so tests can see the path run. */
export const inferCounts = { conv: 0 };

/** The inference convolution's loop over images on `pool` (ParallelInferKernels), one workspace per thread. */
export function parallelInferKernels(e: Exports, alloc: (bytes: number) => number, pool: Pool, first: number): ParallelInferKernels {
  return {
    convInferNCHW(x, wt, b, y, n, c, h, w, o, kh, kw, sh, sw, ph, pw, oh, ow, lo, hi) {
      const P = oh * ow,
        K = c * kh * kw,
        blocks = Math.ceil(P / PIXEL_BLOCK);
      if (pool.broken !== null || pool.size <= 1 || n * o * P * K < CONV_INFER_MIN_MACS) return false;
      const groups = inferGroups(n, blocks, o, pool.size);
      const parts = unitParts(n * blocks * groups, Infinity, 0, pool);
      if (parts <= 1) return false;
      inferCounts.conv++;
      const bytes = e.convInferPartWorkspace(K, P),
        count = pool.size,
        head = 16 * Math.ceil(count / 4);
      const base = alloc(head + count * bytes);
      try {
        new Int32Array(e.memory.buffer, base, count).fill(0);
        pool.run(first, parts, [
          x,
          wt,
          b,
          y,
          n,
          c,
          h,
          w,
          o,
          kh,
          kw,
          sh,
          sw,
          ph,
          pw,
          oh,
          ow,
          lo,
          hi,
          groups,
          base,
          count,
          base + head,
          bytes,
        ]);
      } finally {
        e.free(base);
      }
      return true;
    },
  };
}
