// A call that throws changes nothing: running statistics, num_batches_tracked, gradients, the
// saved forward context and the memory stay as they were. Also the state round trips.
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { init, backend, memoryBytes, tensor, Tensor, BatchNorm1d, BatchNorm2d, batchNorm, type Layout } from '../src/index';
import { BACKENDS, bits, filled } from './helpers';

const C = 3;
const SHAPES: Record<'NCHW' | 'NHWC', number[]> = { NCHW: [4, C, 5, 5], NHWC: [4, 5, 5, C] };
const REPEAT = 10_000;

interface Ctx {
  bn: BatchNorm2d;
  x: Tensor;
  dy: Tensor;
  shape: number[];
  layout: Layout;
  foreign: Tensor;
}
/** What a case does: `act` must throw an error matching the case's regex; `tidy` frees its arguments. */
interface Arranged {
  act: () => unknown;
  tidy?: () => void;
  replay?: boolean;
}
type Case = [name: string, re: RegExp, arrange: (c: Ctx) => Arranged];

const other = (shape: number[], layout: Layout, c: number) =>
  layout === 'NCHW' ? [shape[0], c, ...shape.slice(2)] : [...shape.slice(0, -1), c];
const sd = (patch: Record<string, unknown>) =>
  ({
    weight: [2, 3, 4],
    bias: [-1, 0.5, 1],
    running_mean: [9, 8, 7],
    running_var: [6, 5, 4],
    num_batches_tracked: 77,
    ...patch,
  }) as never;
const withArg =
  (make: (c: Ctx) => Tensor, act: (c: Ctx, t: Tensor) => unknown) =>
  (c: Ctx): Arranged => {
    const t = make(c);
    return { act: () => act(c, t), tidy: () => t.dispose() };
  };
const disposedArg =
  (shape: (c: Ctx) => number[], act: (c: Ctx, t: Tensor) => unknown) =>
  (c: Ctx): Arranged => {
    const t = filled(shape(c));
    t.dispose();
    return { act: () => act(c, t) };
  };

const CASES: Case[] = [
  ['forward: not a Tensor', /forward: input: expected a Tensor/, (c) => ({ act: () => c.bn.forward(new Float32Array(300) as never) })],
  [
    'forward: wrong rank',
    /forward: input: expected a rank-4/,
    withArg(
      (c) => filled([4, C, 25]),
      (c, t) => c.bn.forward(t),
    ),
  ],
  [
    'forward: wrong channel count',
    /forward: input: expected .* 3 channels/,
    withArg(
      (c) => filled(other(c.shape, c.layout, 2)),
      (c, t) => c.bn.forward(t),
    ),
  ],
  [
    'forward: one value per channel',
    /more than 1 value per channel/,
    withArg(
      (c) => filled(other([1, 1, 1, 1], c.layout, C)),
      (c, t) => c.bn.forward(t),
    ),
  ],
  [
    'forward: disposed input',
    /forward: input: tensor .* was disposed/,
    disposedArg(
      (c) => c.shape,
      (c, t) => c.bn.forward(t),
    ),
  ],
  ['forward: input of another backend', /forward: input: tensor belongs to backend/, (c) => ({ act: () => c.bn.forward(c.foreign) })],
  [
    'forward: eval with a wrong shape',
    /forward: input: expected a rank-4/,
    withArg(
      (c) => filled([4, C, 25]),
      (c, t) => {
        c.bn.eval();
        try {
          return c.bn.forward(t);
        } finally {
          c.bn.train();
        }
      },
    ),
  ],
  ['backward: not a Tensor', /backward: gradOutput: expected a Tensor/, (c) => ({ act: () => c.bn.backward([1, 2, 3] as never) })],
  [
    'backward: wrong rank',
    /backward: gradOutput: expected shape/,
    withArg(
      () => filled([4, C, 25]),
      (c, t) => c.bn.backward(t),
    ),
  ],
  [
    'backward: wrong shape, same size',
    /backward: gradOutput: expected shape/,
    withArg(
      (c) => filled([...c.shape].reverse()),
      (c, t) => c.bn.backward(t),
    ),
  ],
  [
    'backward: disposed gradOutput',
    /backward: gradOutput: tensor .* was disposed/,
    disposedArg(
      (c) => c.shape,
      (c, t) => c.bn.backward(t),
    ),
  ],
  [
    'backward: gradOutput of another backend',
    /backward: gradOutput: tensor belongs to backend/,
    (c) => ({ act: () => c.bn.backward(c.foreign) }),
  ],
  [
    'backward: input of the last forward disposed',
    /the input of the last forward\(\) was disposed/,
    (c) => {
      const x2 = filled(c.shape, 50);
      c.bn.forward(x2).dispose();
      x2.dispose();
      return { act: () => c.bn.backward(c.dy), replay: false };
    },
  ],
  ['loadStateDict: missing key', /missing key 'running_var'/, (c) => ({ act: () => c.bn.loadStateDict(sd({ running_var: undefined })) })],
  [
    'loadStateDict: unexpected key',
    /unexpected key 'running_std'/,
    (c) => ({ act: () => c.bn.loadStateDict(sd({ running_std: [1, 1, 1] })) }),
  ],
  [
    'loadStateDict: wrong length (last tensor)',
    /running_var: expected length 3, got 2/,
    (c) => ({ act: () => c.bn.loadStateDict(sd({ running_var: [1, 2] })) }),
  ],
  [
    'loadStateDict: Int32Array',
    /running_var: expected a Float32Array, Float64Array or number\[\], got Int32Array/,
    (c) => ({ act: () => c.bn.loadStateDict(sd({ running_var: new Int32Array(3) })) }),
  ],
  [
    'loadStateDict: string',
    /bias: expected a Float32Array, Float64Array or number\[\], got 'abc'/,
    (c) => ({ act: () => c.bn.loadStateDict(sd({ bias: 'abc' })) }),
  ],
  [
    'loadStateDict: array with a string',
    /running_var\[1\]: expected a number, got '2'/,
    (c) => ({ act: () => c.bn.loadStateDict(sd({ running_var: [1, '2', 3] })) }),
  ],
  [
    'loadStateDict: num_batches_tracked negative',
    /num_batches_tracked: expected a non-negative integer, got number -1/,
    (c) => ({ act: () => c.bn.loadStateDict(sd({ num_batches_tracked: -1 })) }),
  ],
  [
    'loadStateDict: num_batches_tracked fractional',
    /num_batches_tracked: expected a non-negative integer, got number 1.5/,
    (c) => ({ act: () => c.bn.loadStateDict(sd({ num_batches_tracked: 1.5 })) }),
  ],
  [
    'loadStateDict: strict not a boolean',
    /strict: expected a boolean/,
    (c) => ({ act: () => c.bn.loadStateDict(sd({}), { strict: 1 as never }) }),
  ],
  [
    'loadStateDict: strict false, one bad entry',
    /running_var: expected length 3, got 4/,
    (c) => ({
      act: () =>
        c.bn.loadStateDict({ running_mean: [9, 8, 7], running_var: [1, 2, 3, 4], num_batches_tracked: 5 } as never, { strict: false }),
    }),
  ],
  ['train: mode not a boolean', /train: mode: expected a boolean, got 'eval'/, (c) => ({ act: () => c.bn.train('eval' as never) })],
];

for (const b of BACKENDS) {
  describe(b, () => {
    let foreign: Record<string, Tensor> = {};
    beforeAll(async () => {
      // tensors of another backend, for the cases that pass one
      await init({ backend: b === 'js' ? 'wasm' : 'js' });
      foreign = { NCHW: filled(SHAPES.NCHW, 3), NHWC: filled(SHAPES.NHWC, 3) };
      await init({ backend: b });
    });
    // A fresh instance per test: WASM memory never shrinks, so the free space left by earlier tests
    // could hide a leak. The check guards against describe blocks interleaving.
    beforeEach(async () => {
      if (backend() !== b) throw new Error(`active backend is '${backend()}', expected '${b}'`);
      await init({ backend: b });
    });

    for (const layout of ['NCHW', 'NHWC'] as const) {
      describe(`BatchNorm2d ${layout} after 4 training steps`, () => {
        /** A layer after 4 forward+backward steps, the last on x with gradient dy, which gave dx. */
        const trained = (): Ctx & { dx: Float32Array } => {
          const shape = SHAPES[layout];
          const bn = new BatchNorm2d(C, { layout });
          for (let s = 0; s < 3; s++) {
            using x = filled(shape, 10 + s);
            using dy = filled(shape, 20 + s);
            bn.forward(x).dispose();
            bn.backward(dy).dispose();
          }
          const x = filled(shape, 30),
            dy = filled(shape, 31);
          bn.forward(x).dispose();
          using dx = bn.backward(dy);
          return { bn, x, dy, shape, layout, foreign: foreign[layout], dx: dx.toArray() };
        };
        const snapshot = (bn: BatchNorm2d) => {
          const s = bn.stateDict();
          return {
            weight: bits(s.weight),
            bias: bits(s.bias),
            running_mean: bits(s.running_mean),
            running_var: bits(s.running_var),
            num_batches_tracked: s.num_batches_tracked,
            nbt: bn.numBatchesTracked,
            training: bn.training,
            weightGrad: bits(bn.weight!.grad.toArray()),
            biasGrad: bits(bn.bias!.grad.toArray()),
          };
        };

        for (const [name, re, arrange] of CASES) {
          it(`${name}: no state change, no leak`, () => {
            const c = trained();
            const { act, tidy, replay = true } = arrange(c);
            const before = snapshot(c.bn);
            expect(before.nbt).toBe(replay ? 4 : 5);
            const mem = memoryBytes();
            expect(act).toThrow(re);
            expect(snapshot(c.bn)).toEqual(before);
            if (b === 'js') {
              expect(memoryBytes()).toBe(mem); // live bytes: nothing allocated and kept
            } else {
              let thrown = 0;
              for (let i = 0; i < REPEAT; i++) {
                try {
                  act();
                } catch {
                  thrown++;
                }
              }
              expect(thrown).toBe(REPEAT);
              expect(memoryBytes()).toBe(mem);
              expect(snapshot(c.bn)).toEqual(before);
            }
            // the saved forward context is intact: the same backward gives the same dx
            if (replay) {
              using dx = c.bn.backward(c.dy);
              expect(bits(dx.toArray())).toEqual(bits(c.dx));
            } else {
              expect(() => c.bn.backward(c.dy)).toThrow(re);
            }
            tidy?.();
            c.x.dispose();
            c.dy.dispose();
            c.bn.dispose();
          });
        }

        if (b !== 'js') {
          it('the leak check detects a leak of one 1-float tensor per call', () => {
            const c = trained();
            const mem = memoryBytes();
            const leaked: Tensor[] = [];
            for (let i = 0; i < REPEAT; i++) leaked.push(tensor([i]));
            expect(memoryBytes()).toBeGreaterThan(mem);
            for (const t of leaked) t.dispose();
            c.x.dispose();
            c.dy.dispose();
            c.bn.dispose();
          });
        }
      });
    }

    describe('batchNorm() (functional) that throws', () => {
      const cases: [string, RegExp, (x: Tensor, rm: Tensor, rv: Tensor, w2: Tensor, one: Tensor) => unknown][] = [
        [
          'weight of the wrong length',
          /weight: expected shape \[3\], got \[2\]/,
          (x, rm, rv, w2) => batchNorm(x, rm, rv, { training: true, weight: w2 }),
        ],
        [
          'bias of the wrong length',
          /bias: expected shape \[3\], got \[2\]/,
          (x, rm, rv, w2) => batchNorm(x, rm, rv, { training: true, bias: w2 }),
        ],
        ['unknown option', /unknown option 'foo'/, (x, rm, rv) => batchNorm(x, rm, rv, { training: true, foo: 1 } as never)],
        ['bad layout', /layout: expected one of/, (x, rm, rv) => batchNorm(x, rm, rv, { training: true, layout: 'NWC' as never })],
        ['bad momentum', /momentum: expected a number in \[0, 1\]/, (x, rm, rv) => batchNorm(x, rm, rv, { training: true, momentum: -1 })],
        ['one value per channel', /more than 1 value per channel/, (_x, rm, rv, _w, one) => batchNorm(one, rm, rv, { training: true })],
      ];
      for (const [name, re, call] of cases) {
        it(`${name}: running statistics unchanged, no leak`, () => {
          using x = filled([4, C, 6], 7);
          using one = filled([1, C], 8);
          using w2 = tensor([1, 2]);
          using rm = tensor([0.5, -0.5, 2]);
          using rv = tensor([1.5, 0.25, 3]);
          const before = [bits(rm.toArray()), bits(rv.toArray())];
          const mem = memoryBytes();
          const n = b === 'js' ? 1 : REPEAT;
          for (let i = 0; i < n; i++) expect(() => call(x, rm, rv, w2, one)).toThrow(re);
          expect(memoryBytes()).toBe(mem);
          expect([bits(rm.toArray()), bits(rv.toArray())]).toEqual(before);
        });
      }
    });

    describe('state that changes when it should', () => {
      it('Keras momentum 0.99 is PyTorch momentum 0.01: the running statistics evolve identically', () => {
        const keras = new BatchNorm2d(4, { momentum: 0.99, momentumConvention: 'keras' });
        const torch = new BatchNorm2d(4, { momentum: 1 - 0.99 });
        expect(keras.momentum).toBeCloseTo(0.01, 15);
        for (let step = 0; step < 5; step++) {
          using x = filled([3, 4, 2, 3], 10 + step);
          using yk = keras.forward(x);
          using yt = torch.forward(x);
          expect(bits(yk.toArray())).toEqual(bits(yt.toArray()));
        }
        const k = keras.stateDict(),
          t = torch.stateDict();
        expect(bits(k.running_mean)).toEqual(bits(t.running_mean));
        expect(bits(k.running_var)).toEqual(bits(t.running_var));
        expect(Array.from(k.running_mean!).every((v) => v !== 0)).toBe(true);
        // Keras momentum 1 keeps the initial statistics; 0 takes the last batch's
        const frozen = new BatchNorm1d(2, { momentum: 1, momentumConvention: 'keras' });
        using x = tensor([1, 2, 3, 5, 5, 9], [3, 2]);
        frozen.forward(x).dispose();
        expect(Array.from(frozen.runningMean!.toArray())).toEqual([0, 0]);
        expect(Array.from(frozen.runningVar!.toArray())).toEqual([1, 1]);
        const last = new BatchNorm1d(2, { momentum: 0, momentumConvention: 'keras' });
        last.forward(x).dispose();
        expect(Array.from(last.runningMean!.toArray())).toEqual([3, 16 / 3].map(Math.fround));
        keras.dispose();
        torch.dispose();
        frozen.dispose();
        last.dispose();
      });

      it('strict: false loads a partial state and ignores unknown keys', () => {
        const bn = new BatchNorm2d(3);
        bn.loadStateDict({ running_mean: [5, 6, 7], extra: 1 } as never, { strict: false });
        const s = bn.stateDict();
        expect(Array.from(s.running_mean!)).toEqual([5, 6, 7]);
        expect(Array.from(s.running_var!)).toEqual([1, 1, 1]);
        expect(Array.from(s.weight!)).toEqual([1, 1, 1]);
        expect(Array.from(s.bias!)).toEqual([0, 0, 0]);
        expect(s.num_batches_tracked).toBe(0);
        bn.loadStateDict({ num_batches_tracked: 9 }, { strict: false });
        expect(bn.numBatchesTracked).toBe(9);
        expect(Array.from(bn.runningMean!.toArray())).toEqual([5, 6, 7]);
        bn.dispose();
      });

      it('stateDict → loadStateDict into a fresh layer gives identical eval outputs; stateDict returns copies', () => {
        const a = new BatchNorm2d(3, { layout: 'NHWC' });
        a.loadStateDict({ weight: new Float64Array([0.5, -1.25, 2]), bias: [0.1, 0.2, -0.3] } as never, { strict: false });
        for (let s = 0; s < 3; s++) {
          using x = filled([4, 2, 3, 3], 20 + s);
          a.forward(x).dispose();
        }
        const s = a.stateDict();
        const fresh = new BatchNorm2d(3, { layout: 'NHWC' });
        using x = filled([2, 2, 3, 3], 99);
        using y0 = fresh.eval().forward(x);
        fresh.loadStateDict(s);
        expect(fresh.stateDict()).toEqual(s);
        using ya = a.eval().forward(x);
        using yb = fresh.forward(x);
        expect(bits(yb.toArray())).toEqual(bits(ya.toArray()));
        expect(bits(y0.toArray())).not.toEqual(bits(ya.toArray()));
        s.running_mean![0] = 1234;
        s.weight![0] = 1234;
        expect(a.runningMean!.toArray()[0]).not.toBe(1234);
        expect(a.weight!.toArray()[0]).toBe(0.5);
        a.dispose();
        fresh.dispose();
      });
    });
  });
}
