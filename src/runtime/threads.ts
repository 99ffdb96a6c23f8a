// The threaded runtime: the shared-memory build (batchnorm-simd-threads.wasm) instantiated over a
// shared WebAssembly.Memory on the calling thread and in each worker of a Pool. Its kernels are the
// SIMD build's, with the same results; a few of them share a large call between the threads through
// their part kernels (assembly/parts.ts), which split only where the bits cannot change.
import { Pool, MAX_PARTS, type SharedMemory } from './pool';
import type { Kernels, ParallelKernels } from './types';
import { ELEMENTWISE_PART_KERNELS, elementwiseKernels } from './threads_elementwise';
import { INFER_PART_KERNELS, inferKernels, parallelInferKernels, type InferExports } from './threads_infer';
import { virtualBnKernels, type BnVirtualExports } from './threads_bn_virtual';

/** The part kernels the pool runs, in this order (an index into this list names one to the workers). */
export const PART_KERNELS = [
  'nopPart',
  'sgemmPart',
  'bnStatsNCLPart',
  'bnNormalizeNCLPart',
  'convForwardNCHWPart',
  'convInputGradNCHWPart',
  'convWeightGradNCHWPart',
  'bnBackwardNCLPart',
  'maxPool2dPart',
  'maxPool2dBackwardPart',
  'avgPool2dPart',
  'avgPool2dBackwardPart',
  'sgdStepPart',
  'adamStepPart',
  'bnRowSumsPart',
  'bnRowsNormalizePart',
  'bnRowsDxPart',
  'rooflineCopyPart',
  'rooflineReadPart',
  ...ELEMENTWISE_PART_KERNELS,
  ...INFER_PART_KERNELS,
  'maxPool2dRowsPart',
  'maxPool2dBackwardChannelsPart',
] as const;
const NOP = 0,
  SGEMM = 1,
  BN_STATS = 2,
  BN_NORMALIZE = 3,
  CONV_FORWARD = 4,
  CONV_INPUT_GRAD = 5,
  CONV_WGRAD = 6,
  BN_BACKWARD = 7,
  MAX_POOL = 8,
  MAX_POOL_BACKWARD = 9,
  AVG_POOL = 10,
  AVG_POOL_BACKWARD = 11,
  SGD_STEP = 12,
  ADAM_STEP = 13,
  BN_ROW_SUMS = 14,
  BN_ROW_NORMALIZE = 15,
  BN_ROW_DX = 16,
  ROOF_COPY = 17,
  ROOF_READ = 18;
/** Index of the first of ELEMENTWISE_PART_KERNELS. */
const ELEMENTWISE_FIRST = PART_KERNELS.indexOf(ELEMENTWISE_PART_KERNELS[0]);
/** Index of the first of INFER_PART_KERNELS. */
const INFER_FIRST = PART_KERNELS.indexOf(INFER_PART_KERNELS[0]);
/** Max pooling in blocks of output rows (forward) or of channels (backward), where the images are fewer than the threads. */
const MAX_POOL_ROWS = PART_KERNELS.indexOf('maxPool2dRowsPart'),
  MAX_POOL_BACKWARD_CHANNELS = PART_KERNELS.indexOf('maxPool2dBackwardChannelsPart');

// Below these sizes a call stays on one thread: the fork-join costs more than the split saves.
// see: docs/threads.md (measured: the empty fork-join and GEMM at 1 and 2 threads)
/** Multiply-adds (m·n·k) of a GEMM below which it runs on one thread. */
export const GEMM_MIN_MACS = 1 << 17;
/** Multiply-adds each part of a GEMM gets at least. */
const GEMM_PART_MACS = 1 << 16;
/** Elements of a channel-first BatchNorm below which it runs on one thread. */
export const BN_MIN_ELEMENTS = 1 << 16;
/** Channels per block of a BatchNorm part (assembly/parts_bn.ts's UNIT), and most blocks per call. */
const BN_UNIT = 8,
  BN_MAX_PARTS = 64;

/** Multiply-adds (n·o·oh·ow·c·kh·kw) of a convolution below which its per-image loop runs on one thread. */
export const CONV_MIN_MACS = 1 << 18;
/** Input elements of a pooling call below which it runs on one thread (memory-bound, as BatchNorm). */
export const POOL_MIN_ELEMENTS = 1 << 16;
/** Elements of a parameter below which its optimizer update runs on one thread (a few ns each). */
export const OPTIM_MIN_ELEMENTS = 1 << 16;
/** Parts per thread of a convolution's loop over images (at most one per image). */
const CONV_PARTS_PER_THREAD = 4;

/** How often the split BatchNorm took its statistics again (RESHIFT), and calls of each other split loop, so tests can see them run. */
export const counts = { bnStatsAgain: 0, convForward: 0, convBackward: 0 };

type Exports = Kernels &
  BnVirtualExports &
  InferExports & {
    memory: SharedMemory;
    sgemmPartWorkspace(m: number, n: number, k: number): number;
    bnRunsNCL(n: number, c: number, l: number): number;
    bnRowBlocksNHWC(m: number, c: number): number;
    bnRowBlockBytes(c: number): number;
    bnRowsShifts(x: number, m: number, c: number, mean: number, ws: number, again: number): void;
    bnRowsBackwardShifts(c: number, gamma: number, beta: number, mean: number, invstd: number, relu: number, ws: number): void;
    bnRowsStatsFinish(
      x: number,
      m: number,
      c: number,
      eps: number,
      mean: number,
      vari: number,
      invstd: number,
      ws: number,
      blocks: number,
      nb: number,
    ): number;
    bnRowsNormalizeConstants(c: number, gamma: number, beta: number, mean: number, invstd: number, ws: number): void;
    bnRowsBackwardFinish(
      x: number,
      dy: number,
      m: number,
      c: number,
      gamma: number,
      mean: number,
      invstd: number,
      dgamma: number,
      dbeta: number,
      train: number,
      relu: number,
      ws: number,
      blocks: number,
      nb: number,
    ): void;
    convPartWorkspace(
      c: number,
      kh: number,
      kw: number,
      sh: number,
      sw: number,
      ph: number,
      pw: number,
      oh: number,
      ow: number,
      o: number,
    ): number;
  };

/**
 * The kernels of the threaded build with the parallel ones routed through `pool` (`alloc` is the
 * runtime's checked allocator). The pool's size may change (a worker dies: it runs alone), so each
 * call asks it.
 */
export function threadedKernels(e: Exports, alloc: (bytes: number) => number, pool: Pool): Kernels {
  /** The statistics of channels-last x[m][c] from nb row blocks summed in parts (RESHIFT decided on all channels after the join, as on one thread). */
  const rowStats = (x: number, m: number, c: number, eps: number, mean: number, vari: number, invstd: number, ws: number, nb: number) => {
    const blocks = alloc(nb * e.bnRowBlockBytes(c));
    try {
      for (let again = 0; again < 2; again++) {
        e.bnRowsShifts(x, m, c, mean, ws, again);
        pool.run(BN_ROW_SUMS, nb, [x, 0, m, c, ws, blocks, 0, 0]);
        if (e.bnRowsStatsFinish(x, m, c, eps, mean, vari, invstd, ws, blocks, nb) === 0) break;
        if (again === 0) counts.bnStatsAgain++;
      }
    } finally {
      e.free(blocks);
    }
  };
  const k: Kernels = {
    ...e,
    ...elementwiseKernels(e, pool, ELEMENTWISE_FIRST),
    ...inferKernels(e, alloc, pool, INFER_FIRST),
    alloc,
    sgemm(tA, tB, m, n, k, a, lda, b, ldb, c, ldc, beta, bias, ws) {
      const parts = pool.broken === null ? gemmParts(m, n, k, pool.size) : 1;
      if (parts <= 1) return e.sgemm(tA, tB, m, n, k, a, lda, b, ldb, c, ldc, beta, bias, ws);
      const bytes = e.sgemmPartWorkspace(m, n, k);
      const rest = alloc((parts - 1) * bytes);
      try {
        pool.run(SGEMM, parts, [tA, tB, m, n, k, a, lda, b, ldb, c, ldc, beta, bias, ws, rest, bytes]);
      } finally {
        e.free(rest);
      }
    },
    bnTrainNCL(x, y, n, c, l, gamma, beta, eps, mean, vari, invstd, relu, ws) {
      const parts = pool.broken === null ? bnParts(n, c, l, e) : 1;
      if (parts <= 1) return e.bnTrainNCL(x, y, n, c, l, gamma, beta, eps, mean, vari, invstd, relu, ws);
      const far = alloc(4 * parts);
      try {
        pool.run(BN_STATS, parts, [x, n, c, l, eps, mean, vari, invstd, ws, far, 0]);
        // NOTE: whether the statistics are taken again is decided for every channel at once (RESHIFT), as on one thread
        if (new Int32Array(e.memory.buffer, far, parts).some((v) => v !== 0)) {
          counts.bnStatsAgain++;
          pool.run(BN_STATS, parts, [x, n, c, l, eps, mean, vari, invstd, ws, far, 1]);
        }
      } finally {
        e.free(far);
      }
      pool.run(BN_NORMALIZE, parts, [x, y, n, c, l, gamma, beta, mean, invstd, relu, ws]);
    },
    maxPool2d(x, y, idx, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow) {
      const byImages = n >= pool.size,
        parts = poolParts(byImages ? n : oh, n * h * w * c, pool);
      if (parts <= 1) return e.maxPool2d(x, y, idx, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow);
      pool.run(byImages ? MAX_POOL : MAX_POOL_ROWS, parts, [x, y, idx, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow]);
    },
    maxPool2dBackward(dy, idx, dx, n, hw, c, ohw) {
      // fewer images than threads: one block of channels per thread (in sixteens, 64 bytes of a
      // pixel), since the blocks interleave in every pixel of dx and so share its cache lines
      const byImages = n >= pool.size,
        parts = byImages ? poolParts(n, n * hw * c, pool) : Math.min(poolParts(Math.ceil(c / 16), n * hw * c, pool), pool.size);
      if (parts <= 1) return e.maxPool2dBackward(dy, idx, dx, n, hw, c, ohw);
      pool.run(byImages ? MAX_POOL_BACKWARD : MAX_POOL_BACKWARD_CHANNELS, parts, [dy, idx, dx, n, hw, c, ohw]);
    },
    avgPool2d(x, y, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow) {
      const parts = poolParts(n, n * h * w * c, pool);
      if (parts <= 1) return e.avgPool2d(x, y, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow);
      pool.run(AVG_POOL, parts, [x, y, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow]);
    },
    avgPool2dBackward(dy, dx, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow) {
      const parts = poolParts(n, n * h * w * c, pool);
      if (parts <= 1) return e.avgPool2dBackward(dy, dx, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow);
      pool.run(AVG_POOL_BACKWARD, parts, [dy, dx, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow]);
    },
    sgdStep(p, g, buf, n, lr, momentum, dampening, weightDecay, nesterov, first) {
      const parts = elementParts(n, OPTIM_MIN_ELEMENTS, pool);
      if (parts <= 1) return e.sgdStep(p, g, buf, n, lr, momentum, dampening, weightDecay, nesterov, first);
      pool.run(SGD_STEP, parts, [p, g, buf, n, lr, momentum, dampening, weightDecay, nesterov, first]);
    },
    adamStep(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, decoupled, t) {
      const parts = elementParts(n, OPTIM_MIN_ELEMENTS, pool);
      if (parts <= 1) return e.adamStep(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, decoupled, t);
      pool.run(ADAM_STEP, parts, [p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, decoupled, t]);
    },
    bnBackwardNCL(x, dy, dx, n, c, l, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws) {
      const parts = pool.broken === null ? bnParts(n, c, l, e) : 1;
      if (parts <= 1) return e.bnBackwardNCL(x, dy, dx, n, c, l, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws);
      pool.run(BN_BACKWARD, parts, [x, dy, dx, n, c, l, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws]);
    },
    bnTrainNHWC(x, y, m, c, gamma, beta, eps, mean, vari, invstd, relu, ws) {
      const nb = rowBlocks(m, c, e, pool);
      if (nb <= 1) return e.bnTrainNHWC(x, y, m, c, gamma, beta, eps, mean, vari, invstd, relu, ws);
      rowStats(x, m, c, eps, mean, vari, invstd, ws, nb);
      e.bnRowsNormalizeConstants(c, gamma, beta, mean, invstd, ws);
      pool.run(BN_ROW_NORMALIZE, rowParts(m, pool), [x, y, m, c, ws, relu]);
    },
    bnStatsNHWC(x, m, c, eps, mean, vari, invstd, ws) {
      const nb = rowBlocks(m, c, e, pool);
      if (nb <= 1) return e.bnStatsNHWC(x, m, c, eps, mean, vari, invstd, ws);
      rowStats(x, m, c, eps, mean, vari, invstd, ws, nb);
    },
    bnNormalizeNHWC(x, y, m, c, gamma, beta, mean, invstd, relu, ws) {
      if (rowBlocks(m, c, e, pool) <= 1) return e.bnNormalizeNHWC(x, y, m, c, gamma, beta, mean, invstd, relu, ws);
      e.bnRowsNormalizeConstants(c, gamma, beta, mean, invstd, ws);
      pool.run(BN_ROW_NORMALIZE, rowParts(m, pool), [x, y, m, c, ws, relu]);
    },
    bnBackwardNHWC(x, dy, dx, m, c, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws) {
      const nb = rowBlocks(m, c, e, pool);
      if (nb <= 1) return e.bnBackwardNHWC(x, dy, dx, m, c, gamma, beta, mean, invstd, dgamma, dbeta, train, relu, ws);
      e.bnRowsBackwardShifts(c, gamma, beta, mean, invstd, relu, ws);
      const blocks = alloc(nb * e.bnRowBlockBytes(c));
      try {
        pool.run(BN_ROW_SUMS, nb, [x, dy, m, c, ws, blocks, 1, relu]);
        e.bnRowsBackwardFinish(x, dy, m, c, gamma, mean, invstd, dgamma, dbeta, train, relu, ws, blocks, nb);
      } finally {
        e.free(blocks);
      }
      pool.run(BN_ROW_DX, rowParts(m, pool), [x, dy, dx, m, c, ws, train, relu]);
    },
    bnNormalizeNCL(x, y, n, c, l, gamma, beta, mean, invstd, relu, ws) {
      const parts = pool.broken === null ? bnParts(n, c, l, e) : 1;
      if (parts <= 1) return e.bnNormalizeNCL(x, y, n, c, l, gamma, beta, mean, invstd, relu, ws);
      pool.run(BN_NORMALIZE, parts, [x, y, n, c, l, gamma, beta, mean, invstd, relu, ws]);
    },
  };
  // BatchNorm's virtual-channel paths: every pass in parts of the virtual rows
  return {
    ...k,
    ...virtualBnKernels(k, e, alloc, pool, { sums: BN_ROW_SUMS, normalize: BN_ROW_NORMALIZE, dx: BN_ROW_DX }, BN_MIN_ELEMENTS),
  };
}

/**
 * The per-image loops of the channel-first convolution on `pool` (ParallelKernels): blocks of
 * images per part for the forward and dx, and the weight gradient as slices of dw, each summed
 * over the images in order.
 */
export function parallelKernels(e: Exports, alloc: (bytes: number) => number, pool: Pool): ParallelKernels {
  /** Parts of a convolution's per-image loop (1: it stays on one thread): small blocks, so a delayed thread holds up little. */
  const convParts = (n: number, macs: number) =>
    pool.broken !== null || pool.size <= 1 || n < 2 || macs < CONV_MIN_MACS ? 1 : Math.min(n, CONV_PARTS_PER_THREAD * pool.size);
  /**
   * Runs `body` with one workspace of `bytes` per thread and the words that say which are free
   * (assembly/parts_conv.ts's slots): [slots, count, ws, bytes].
   */
  const withSlots = (bytes: number, body: (slots: number[]) => void) => {
    const count = pool.size,
      head = 16 * Math.ceil(count / 4);
    const base = alloc(head + count * bytes);
    try {
      new Int32Array(e.memory.buffer, base, count).fill(0);
      body([base, count, base + head, bytes]);
    } finally {
      e.free(base);
    }
  };
  return {
    ...parallelInferKernels(e, alloc, pool, INFER_FIRST),
    convForwardNCHW(x, w, y, bias, n, c, h, wd, kh, kw, sh, sw, ph, pw, oh, ow, o) {
      const parts = convParts(n, n * o * oh * ow * c * kh * kw);
      if (parts <= 1) return false;
      counts.convForward++;
      withSlots(e.convPartWorkspace(c, kh, kw, sh, sw, ph, pw, oh, ow, o), (slots) =>
        pool.run(CONV_FORWARD, parts, [x, w, y, bias, n, c, h, wd, kh, kw, sh, sw, ph, pw, oh, ow, o, ...slots]),
      );
      return true;
    },
    convBackwardNCHW(x, w, dy, dx, dw, n, c, h, wd, kh, kw, sh, sw, ph, pw, oh, ow, o) {
      const parts = convParts(n, n * o * oh * ow * c * kh * kw);
      if (parts <= 1) return false;
      counts.convBackward++;
      const win = [kh, kw, sh, sw, ph, pw, oh, ow, o];
      withSlots(e.convPartWorkspace(c, kh, kw, sh, sw, ph, pw, oh, ow, o), (slots) => {
        // dw in slices (blocks of channels, or of rows when the channels are fewer than the parts)
        const wParts = Math.min(CONV_PARTS_PER_THREAD * pool.size, c >= 2 * pool.size ? c : Math.ceil(o / 4));
        pool.run(CONV_WGRAD, wParts, [x, dy, dw, n, c, h, wd, ...win, ...slots]);
        if (dx !== 0) pool.run(CONV_INPUT_GRAD, parts, [w, dy, dx, n, c, h, wd, ...win, ...slots]);
      });
      return true;
    },
  };
}

/**
 * Blocks of channels a channel-first BatchNorm of x[n][c][l] is split into (1: not split): a
 * function of the shape alone, so the blocks are the same on every number of threads; the threads
 * take them one at a time. Only the path of long runs (RUNS) is split.
 */
export function bnParts(n: number, c: number, l: number, e: Pick<Exports, 'bnRunsNCL'>): number {
  if (n * c * l < BN_MIN_ELEMENTS || e.bnRunsNCL(n, c, l) === 0) return 1;
  return Math.min(Math.ceil(c / BN_UNIT), BN_MAX_PARTS);
}

/**
 * Row blocks a channels-last BatchNorm of x[m][c] sums in parts (1: not split): the blocks of the
 * one-thread pass (assembly/nhwc_passes.ts's rowBlocks), a function of the shape alone. Only the
 * path of rows (ROWS) is split, from BN_MIN_ELEMENTS elements.
 */
export function rowBlocks(m: number, c: number, e: Pick<Exports, 'bnRowBlocksNHWC'>, pool: Pool): number {
  if (pool.broken !== null || pool.size <= 1 || m * c < BN_MIN_ELEMENTS) return 1;
  return e.bnRowBlocksNHWC(m, c);
}

/** Slices of rows of a channels-last normalize or dx pass: any slices give the same bits (each element reads its channel's constants alone). */
function rowParts(m: number, pool: Pool): number {
  return Math.max(1, Math.min(Math.ceil(m / 16), CONV_PARTS_PER_THREAD * pool.size, MAX_PARTS));
}

/** Blocks a pooling call over n units (images, output rows or channels) of `elements` input values in all gets (1: not split). */
export function poolParts(n: number, elements: number, pool: Pool): number {
  if (pool.broken !== null || pool.size <= 1 || n < 2 || elements < POOL_MIN_ELEMENTS) return 1;
  return Math.min(n, CONV_PARTS_PER_THREAD * pool.size, MAX_PARTS);
}

/** Slices of an elementwise call over n elements (1: not split below `min`): whole units of 16 elements (assembly/parts_optim.ts). */
export function elementParts(n: number, min: number, pool: Pool): number {
  if (pool.broken !== null || pool.size <= 1 || n < min) return 1;
  return Math.min(Math.ceil(n / 16), CONV_PARTS_PER_THREAD * pool.size, MAX_PARTS);
}

/** How many parts a GEMM of m·n·k gets on `threads` threads (1: not split). */
export function gemmParts(m: number, n: number, k: number, threads: number): number {
  const macs = m * n * k;
  if (threads <= 1 || macs < GEMM_MIN_MACS) return 1;
  return Math.max(1, Math.min(threads, Math.floor(macs / GEMM_PART_MACS), MAX_PARTS));
}

/**
 * Times `rounds` fork-joins of the empty part kernel as `pool.size` parts; returns µs per fork-join.
 * With `spread` the calling thread takes one part and waits for the workers to take the others (the
 * round trip through every thread); without, it takes whatever the workers have not claimed yet.
 */
export function forkJoinMicros(pool: Pool, rounds: number, spread: boolean): number {
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) pool.run(NOP, pool.size, [], spread ? 1 : Infinity);
  return ((performance.now() - t0) * 1000) / rounds;
}

/**
 * The memory roof on `pool`'s threads: each thread copies (`out` = 0) or reads (the sums to `out`,
 * f32 per thread) one slice of `bytes` at src, with the one-thread roof loops (bench/threads.ts).
 */
export function roofline(pool: Pool, src: number, dst: number, bytes: number, out: number): void {
  if (out === 0) pool.run(ROOF_COPY, pool.size, [src, dst, bytes], 1);
  else pool.run(ROOF_READ, pool.size, [src, bytes, out], 1);
}

export { Pool };
