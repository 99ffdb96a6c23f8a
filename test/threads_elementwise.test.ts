// Threads: the activations and their backward, autograd's elementwise arithmetic, the adaptive
// optimizers' updates, the recurrent cells' gate kernels and the convolution's bias gradient, split
// into slices (or blocks of rows, or of channels) above their thresholds, give the bits of the
// single-threaded SIMD build at 1, 2, 3 and 4 threads: sizes below a threshold, just above it and
// far above it, none a multiple of the slices' 16 elements.
import { afterAll, describe, expect, it } from 'vitest';
import { init, runtime, threads, threadPool } from '../src/runtime/index';
import { ELEMENTWISE_MIN, ELEMENTWISE_PART_KERNELS } from '../src/runtime/threads_elementwise';
import type { Kernels } from '../src/runtime/types';
import { values, bits, firstDiff } from './threads_helpers';

/** A call of a kernel: which buffers (sizes in f32) it reads and writes, and how to call it. */
interface Call {
  name: string;
  /** Sizes of the buffers, in f32 elements; the kernel reads them all and writes `outs`. */
  sizes: number[];
  outs: number[];
  call(k: Kernels, p: number[]): void;
}

const N = [ELEMENTWISE_MIN - 1, ELEMENTWISE_MIN + 37, 5 * ELEMENTWISE_MIN + 3];
const unary: [string, number[]][] = [
  ['relu', []],
  ['sigmoid', []],
  ['tanh', []],
  ['clamp', [-0.5, 0.25]],
  ['leakyRelu', [0.1]],
  ['hardswish', []],
  ['hardsigmoid', []],
];
type Fn = (...a: number[]) => void;
const CALLS: Call[] = [
  ...N.flatMap((n) =>
    unary.flatMap(([name, params]): Call[] => [
      {
        name: `${name}Forward ${n}`,
        sizes: [n, n],
        outs: [1],
        call: (k, p) => (k[`${name}Forward` as keyof Kernels] as Fn)(p[0], p[1], n, ...params),
      },
      {
        name: `${name}Backward ${n}`,
        sizes: [n, n, n],
        outs: [2],
        call: (k, p) => (k[`${name}Backward` as keyof Kernels] as Fn)(p[0], p[1], p[2], n, ...params),
      },
    ]),
  ),
  ...N.flatMap((n): Call[] => [
    { name: `mulElementwise ${n}`, sizes: [n, n, n], outs: [2], call: (k, p) => k.mulElementwise(p[0], p[1], p[2], n) },
    ...[0, 1, 2, 3].map((op) => ({
      name: `ewScalar ${op} ${n}`,
      sizes: [n, n],
      outs: [1],
      call: (k: Kernels, p: number[]) => k.ewScalar(op, p[0], 0.37, p[1], n, op & 1),
    })),
    { name: `ewBinary row ${n}`, sizes: [n, n, n], outs: [2], call: (k, p) => k.ewBinary(3, p[0], p[1], p[2], 1, n) },
    {
      name: `ewBinary rows ${n}`,
      sizes: [n * 3, n, n * 3],
      outs: [2],
      call: (k, p) => k.ewBinary(1, p[0], p[1], p[2], 3, n),
    },
    {
      name: `rmspropStep ${n}`,
      sizes: [n, n, n, n, n],
      outs: [0, 2, 3, 4],
      call: (k, p) => k.rmspropStep(p[0], p[1], p[2], p[3], p[4], n, 0.01, 0.99, 1e-8, 0.01, 0.9, 1),
    },
    {
      name: `adagradStep ${n}`,
      sizes: [n, n, n],
      outs: [0, 2],
      call: (k, p) => k.adagradStep(p[0], p[1], p[2], n, 0.01, 0.01, 1e-10, 0.01, 3),
    },
    {
      name: `adadeltaStep ${n}`,
      sizes: [n, n, n, n],
      outs: [0, 2, 3],
      call: (k, p) => k.adadeltaStep(p[0], p[1], p[2], p[3], n, 1, 0.9, 1e-6, 0.01),
    },
  ]),
  // rows · hidden below, above and far above CELL_MIN, hidden not a multiple of 4
  ...[
    [7, 37],
    [449, 37],
    [1031, 51],
  ].flatMap(([rows, hs]): Call[] => {
    const n = rows * hs;
    return [
      {
        name: `lstmCellForward ${rows}×${hs}`,
        sizes: [4 * n, n, n, n],
        outs: [0, 2, 3],
        call: (k, p) => k.lstmCellForward(p[0], p[1], p[2], p[3], rows, hs),
      },
      {
        name: `lstmCellBackward ${rows}×${hs}`,
        sizes: [4 * n, n, n, n, n, 4 * n],
        outs: [3, 4, 5],
        call: (k, p) => k.lstmCellBackward(p[0], p[1], p[2], p[3], p[4], p[5], rows, hs),
      },
      {
        name: `gruCellForward ${rows}×${hs}`,
        sizes: [3 * n, 3 * n, n, n],
        outs: [0, 3],
        call: (k, p) => k.gruCellForward(p[0], p[1], p[2], p[3], rows, hs),
      },
      {
        name: `gruCellBackward ${rows}×${hs}`,
        sizes: [3 * n, 3 * n, n, n, 3 * n, 3 * n],
        outs: [3, 4, 5],
        call: (k, p) => k.gruCellBackward(p[0], p[1], p[2], p[3], p[4], p[5], rows, hs),
      },
      ...[0, 1].flatMap((relu): Call[] => [
        { name: `rnnCellForward ${n} ${relu}`, sizes: [n, n], outs: [1], call: (k, p) => k.rnnCellForward(p[0], p[1], n, relu) },
        {
          name: `rnnCellBackward ${n} ${relu}`,
          sizes: [n, n, n],
          outs: [1, 2],
          call: (k, p) => k.rnnCellBackward(p[0], p[1], p[2], n, relu),
        },
      ]),
    ];
  }),
  // dy [n, c, l] below, above and far above BIAS_GRAD_MIN; db added to
  ...[
    [4, 16, 1000],
    [3, 37, 600],
    [60, 64, 196],
  ].map(
    ([n, c, l]): Call => ({
      name: `convBiasGradNCHW ${n}×${c}×${l}`,
      sizes: [n * c * l, c],
      outs: [1],
      call: (k, p) => k.convBiasGradNCHW(p[0], n, c, l, p[1]),
    }),
  ),
];

/** Every call's outputs on the active backend, from the same seeded inputs. */
function results(): Uint32Array[] {
  const k = runtime().k;
  return CALLS.flatMap((c, i) => {
    const p = c.sizes.map((s) => k.alloc(4 * s));
    // inputs in [-1, 1); the optimizers' squared-gradient state and the LSTM's cells positive
    c.sizes.forEach((s, j) =>
      runtime()
        .f32(p[j], s)
        .set(values(s, 100 * i + j).map((v) => (c.name.includes('Step') && j > 1 ? Math.abs(v) : 4 * v))),
    );
    c.call(k, p);
    const out = c.outs.map((j) => bits(runtime().f32(p[j], c.sizes[j]).slice()));
    p.forEach((q) => k.free(q));
    return out;
  });
}

afterAll(async () => {
  await init();
});

describe('threads: elementwise kernels', () => {
  it('at 1, 2, 3 and 4 threads equal the single-threaded SIMD build, bit for bit, and split above their thresholds', async () => {
    await init({ backend: 'wasm-simd' });
    const reference = results();
    for (const n of [1, 2, 3, 4]) {
      await init({ threads: n });
      expect(threads()).toBe(n);
      const before = n > 1 ? threadPool()!.forks() : null;
      const got = results();
      for (let i = 0; i < got.length; i++) expect(firstDiff(got[i], reference[i]), `${n} threads, result ${i}`).toBe(-1);
      if (before !== null) {
        // each part kernel ran split (the calls above a threshold)
        const after = threadPool()!.forks();
        for (const name of ELEMENTWISE_PART_KERNELS) {
          expect(after[name] - before[name], name).toBeGreaterThan(0);
        }
      }
    }
  });
});
