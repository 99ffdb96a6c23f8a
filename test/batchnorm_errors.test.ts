// BatchNorm argument validation: the layers and batchNorm() reject bad arguments with a message
// naming the function, the argument, what was expected and what came. Runs against every backend.
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { init, backend, tensor, Tensor, BatchNorm1d, BatchNorm2d, BatchNorm3d, batchNorm, type BatchNormState } from '../src/index';
import { caught, filled, throwsLike } from './helpers';

const BACKENDS = ['wasm-simd', 'wasm', 'js'] as const;

for (const b of BACKENDS) {
  describe(b, () => {
    const other = b === 'js' ? 'wasm' : 'js';
    beforeAll(async () => {
      await init({ backend: b });
    });
    // Tests of one file run in order; this guards against describe blocks interleaving.
    beforeEach(() => {
      if (backend() !== b) throw new Error(`active backend is '${backend()}', expected '${b}'`);
    });

    describe('BatchNorm1d/2d/3d constructor', () => {
      const classes = [
        ['BatchNorm1d', BatchNorm1d],
        ['BatchNorm2d', BatchNorm2d],
        ['BatchNorm3d', BatchNorm3d],
      ] as const;

      for (const [name, Cls] of classes) {
        it(`${name}: numFeatures must be a positive integer`, () => {
          for (const [v, got] of [
            [0, 'number 0'],
            [-3, 'number -3'],
            [2.5, 'number 2\\.5'],
            [NaN, 'number NaN'],
            ['3', "'3'"],
            [undefined, 'undefined'],
          ] as const) {
            throwsLike(
              () => new Cls(v as never),
              RangeError,
              new RegExp(`^${name}: numFeatures: expected a positive integer, got ${got}$`),
            );
          }
        });
      }

      it('rejects an unknown option key and a non-object', () => {
        throwsLike(
          () => new BatchNorm2d(3, { epsilon: 1e-3 } as never),
          TypeError,
          /^BatchNorm2d: unknown option 'epsilon' \(expected one of eps, momentum, momentumConvention, affine, trackRunningStats, layout, activation\)$/,
        );
        throwsLike(() => new BatchNorm1d(3, null as never), TypeError, /^BatchNorm1d: options: expected an object, got null$/);
      });

      it('eps must be a finite number > 0', () => {
        for (const [v, got] of [
          [0, 'number 0'],
          [-1e-5, 'number -0\\.00001'],
          [NaN, 'number NaN'],
          [Infinity, 'number Infinity'],
          ['1e-5', "'1e-5'"],
        ] as const) {
          throwsLike(
            () => new BatchNorm2d(3, { eps: v as never }),
            RangeError,
            new RegExp(`^BatchNorm2d: eps: expected a finite number > 0, got ${got}$`),
          );
        }
      });

      it('momentum must be in [0, 1]', () => {
        for (const [v, got] of [
          [1.5, 'number 1\\.5'],
          [-0.1, 'number -0\\.1'],
          [NaN, 'number NaN'],
          ['0.1', "'0\\.1'"],
        ] as const) {
          throwsLike(
            () => new BatchNorm3d(3, { momentum: v as never }),
            RangeError,
            new RegExp(`^BatchNorm3d: momentum: expected a number in \\[0, 1\\], got ${got}$`),
          );
        }
        expect(new BatchNorm2d(3, { momentum: 0 }).momentum).toBe(0);
        expect(new BatchNorm2d(3, { momentum: 1 }).momentum).toBe(1);
      });

      it("momentum null has no Keras form; momentumConvention must be 'pytorch' or 'keras'", () => {
        throwsLike(
          () => new BatchNorm2d(3, { momentum: null, momentumConvention: 'keras' }),
          TypeError,
          /^BatchNorm2d: momentum: null \(cumulative average\) has no Keras form; use momentumConvention 'pytorch'$/,
        );
        throwsLike(
          () => new BatchNorm2d(3, { momentumConvention: 'tf' as never }),
          TypeError,
          /^BatchNorm2d: momentumConvention: expected one of 'pytorch', 'keras', got 'tf'$/,
        );
        expect(new BatchNorm2d(3, { momentum: null }).momentum).toBeNull();
      });

      it('affine and trackRunningStats must be booleans', () => {
        throwsLike(() => new BatchNorm2d(3, { affine: 1 as never }), TypeError, /^BatchNorm2d: affine: expected a boolean, got number 1$/);
        throwsLike(
          () => new BatchNorm1d(3, { trackRunningStats: 'yes' as never }),
          TypeError,
          /^BatchNorm1d: trackRunningStats: expected a boolean, got 'yes'$/,
        );
      });

      it('layout must be one the class allows', () => {
        throwsLike(
          // @ts-expect-error a layout BatchNorm2d cannot take is a type error too
          () => new BatchNorm2d(3, { layout: 'NCL' }),
          TypeError,
          /^BatchNorm2d: layout: expected one of 'NCHW', 'NHWC', got 'NCL'$/,
        );
        // @ts-expect-error the layout type error that untyped callers get at run time
        throwsLike(() => new BatchNorm1d(3, { layout: 'NC' }), TypeError, /^BatchNorm1d: layout: expected one of 'NCL', 'NLC', got 'NC'$/);
        throwsLike(
          // @ts-expect-error a layout BatchNorm3d cannot take is a type error too
          () => new BatchNorm3d(3, { layout: 'NHWC' }),
          TypeError,
          /^BatchNorm3d: layout: expected one of 'NCDHW', 'NDHWC', got 'NHWC'$/,
        );
        throwsLike(() => new BatchNorm2d(3, { layout: 'nchw' as never }), TypeError, /got 'nchw'$/);
      });

      // BatchNormOptions allows { eps: undefined }; merging it over the defaults with a plain spread
      // would override the default with undefined and reject it.
      it('an option given as undefined takes its default', () => {
        const bn = new BatchNorm2d(3, { eps: undefined, momentum: undefined, layout: undefined });
        expect(bn.eps).toBe(1e-5);
        expect(bn.momentum).toBe(0.1);
        expect(bn.layout).toBe('NCHW');
      });
    });

    describe('forward()', () => {
      it('rejects an argument that is not a Tensor', () => {
        const bn = new BatchNorm2d(3);
        const re = (got: string) => new RegExp(`^BatchNorm2d\\.forward: input: expected a Tensor \\(see tensor\\(\\)\\), got ${got}$`);
        throwsLike(() => bn.forward(new Float32Array(12) as never), TypeError, re('Float32Array\\(12\\)'));
        throwsLike(() => bn.forward([1, 2] as never), TypeError, re('array\\(2\\)'));
        throwsLike(() => bn.forward(null as never), TypeError, re('null'));
        throwsLike(() => bn.forward(undefined as never), TypeError, re('undefined'));
      });

      it('rejects a wrong rank or channel count, showing the expected and the actual shape', () => {
        const bn = new BatchNorm2d(64);
        const want = /^BatchNorm2d\.forward: input: expected a rank-4 NCHW tensor with 64 channels \(\[N, 64, H, W\]\), got /;
        for (const shape of [
          [2, 64, 3],
          [2, 32, 2, 2],
          [2, 64, 1, 1, 1],
          [2, 2, 2, 64],
        ]) {
          using x = filled(shape);
          throwsLike(() => bn.forward(x), RangeError, new RegExp(want.source + `\\[${shape.join(', ')}\\]$`));
        }
        const cases: [() => BatchNorm2d | BatchNorm1d | BatchNorm3d, number[], RegExp][] = [
          [
            () => new BatchNorm2d(5, { layout: 'NHWC' }),
            [2, 5, 3, 3],
            /^BatchNorm2d\.forward: input: expected a rank-4 NHWC tensor with 5 channels \(\[N, H, W, 5\]\), got \[2, 5, 3, 3\]$/,
          ],
          [
            () => new BatchNorm1d(5),
            [2, 5, 3, 1],
            /^BatchNorm1d\.forward: input: expected a rank-3 NCL tensor with 5 channels \(\[N, 5, L\]\), got \[2, 5, 3, 1\]$/,
          ],
          [
            () => new BatchNorm1d(5),
            [2, 4],
            /^BatchNorm1d\.forward: input: expected a rank-2 NC tensor with 5 channels \(\[N, 5\]\), got \[2, 4\]$/,
          ],
          [
            () => new BatchNorm1d(5, { layout: 'NLC' }),
            [2, 5, 3],
            /^BatchNorm1d\.forward: input: expected a rank-3 NLC tensor with 5 channels \(\[N, L, 5\]\), got \[2, 5, 3\]$/,
          ],
          [
            () => new BatchNorm3d(5),
            [2, 5, 3, 3],
            /^BatchNorm3d\.forward: input: expected a rank-5 NCDHW tensor with 5 channels \(\[N, 5, D, H, W\]\), got \[2, 5, 3, 3\]$/,
          ],
        ];
        for (const [make, shape, re] of cases) {
          const layer = make();
          using x = filled(shape);
          throwsLike(() => layer.forward(x), RangeError, re);
          layer.dispose();
        }
      });

      it('training with one value per channel throws; the same shape works in eval', () => {
        const cases: [() => BatchNorm1d | BatchNorm2d | BatchNorm3d, number[]][] = [
          [() => new BatchNorm1d(4), [1, 4]],
          [() => new BatchNorm1d(4), [1, 4, 1]],
          [() => new BatchNorm2d(4), [1, 4, 1, 1]],
          [() => new BatchNorm2d(4, { layout: 'NHWC' }), [1, 1, 1, 4]],
          [() => new BatchNorm3d(4), [1, 4, 1, 1, 1]],
        ];
        for (const [make, shape] of cases) {
          const bn = make();
          const name = bn.constructor.name;
          using x = tensor([1, -2, 3, 0.5], shape);
          throwsLike(
            () => bn.forward(x),
            RangeError,
            new RegExp(
              `^${name}\\.forward: expected more than 1 value per channel when training, got input size \\[${shape.join(', ')}\\]$`,
            ),
          );
          expect(bn.numBatchesTracked).toBe(0);
          using y = bn.eval().forward(x);
          const s = Math.sqrt(1 + 1e-5);
          expect(Array.from(y.toArray())).toEqual([1, -2, 3, 0.5].map((v) => Math.fround(v / s)));
          bn.dispose();
        }
        // two values per channel are enough
        const bn = new BatchNorm1d(4);
        using x2 = filled([2, 4]);
        expect(() => bn.forward(x2).dispose()).not.toThrow();
        using x3 = filled([1, 4, 2]);
        expect(() => bn.forward(x3).dispose()).not.toThrow();
        bn.dispose();
      });

      // Without running statistics, eval also uses batch statistics; PyTorch (F.batch_norm with
      // training=True) raises the same error there.
      it('eval without running statistics also needs more than 1 value per channel', () => {
        const bn = new BatchNorm1d(3, { trackRunningStats: false }).eval();
        using x = tensor([1, 2, 3], [1, 3]);
        throwsLike(
          () => bn.forward(x),
          RangeError,
          /^BatchNorm1d\.forward: expected more than 1 value per channel when training, got input size \[1, 3\]$/,
        );
      });

      it('a disposed layer throws', () => {
        const bn = new BatchNorm2d(3);
        bn.dispose();
        using x = filled([2, 3, 2, 2]);
        throwsLike(() => bn.forward(x), Error, /^BatchNorm2d\.forward: the layer was disposed$/);
      });
    });

    describe('backward()', () => {
      it('throws before any forward', () => {
        const bn = new BatchNorm2d(3);
        using dy = filled([2, 3, 2, 2]);
        throwsLike(() => bn.backward(dy), Error, /^BatchNorm2d\.backward: call forward\(\) first$/);
        bn.dispose();
      });

      it('rejects a gradOutput that is not a Tensor or not of the last input shape', () => {
        const bn = new BatchNorm2d(3);
        using x = filled([2, 3, 2, 2]);
        bn.forward(x).dispose();
        throwsLike(
          () => bn.backward(new Float32Array(24) as never),
          TypeError,
          /^BatchNorm2d\.backward: gradOutput: expected a Tensor \(see tensor\(\)\), got Float32Array\(24\)$/,
        );
        throwsLike(() => bn.backward(null as never), TypeError, /^BatchNorm2d\.backward: gradOutput: expected a Tensor .*got null$/);
        for (const shape of [
          [2, 3, 4],
          [2, 3, 1, 4],
          [1, 3, 2, 2],
          [2, 3, 2, 2, 1],
        ]) {
          using dy = filled(shape);
          throwsLike(
            () => bn.backward(dy),
            RangeError,
            new RegExp(
              `^BatchNorm2d\\.backward: gradOutput: expected shape \\[2, 3, 2, 2\\] \\(the last input's\\), got \\[${shape.join(', ')}\\]$`,
            ),
          );
        }
        // a forward that threw does not replace the last input
        using other = filled([4, 3, 1, 1]);
        using bad = filled([4, 2, 1, 1]);
        throwsLike(() => bn.forward(bad), RangeError, /channels/);
        throwsLike(() => bn.backward(other), RangeError, /expected shape \[2, 3, 2, 2\] \(the last input's\), got \[4, 3, 1, 1\]$/);
        bn.dispose();
      });

      it('throws when the input of the last forward was disposed', () => {
        const bn = new BatchNorm1d(3);
        const x = filled([4, 3]);
        bn.forward(x).dispose();
        x.dispose();
        using dy = filled([4, 3]);
        throwsLike(
          () => bn.backward(dy),
          Error,
          /^BatchNorm1d\.backward: the input of the last forward\(\) was disposed; backward needs it$/,
        );
        bn.dispose();
      });
    });

    describe('loadStateDict()', () => {
      const fresh = () => new BatchNorm2d(3);
      // number[] is accepted at runtime although BatchNormState types the tensors as Float32Array
      const full = () =>
        ({
          weight: [1, 2, 3],
          bias: [0.5, 0, -0.5],
          running_mean: [0.1, 0.2, 0.3],
          running_var: [1, 2, 3],
          num_batches_tracked: 4,
        }) as unknown as BatchNormState;

      it('rejects a missing key', () => {
        for (const key of ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'] as const) {
          const sd: Record<string, unknown> = { ...full() };
          delete sd[key];
          throwsLike(
            () => fresh().loadStateDict(sd as BatchNormState),
            Error,
            new RegExp(`^BatchNorm2d\\.loadStateDict: missing key '${key}'$`),
          );
        }
      });

      it('rejects an unexpected key, listing the expected ones', () => {
        throwsLike(
          () => fresh().loadStateDict({ ...full(), foo: 1 } as never),
          Error,
          /^BatchNorm2d\.loadStateDict: unexpected key 'foo' \(expected weight, bias, running_mean, running_var, num_batches_tracked\)$/,
        );
        throwsLike(
          () => new BatchNorm2d(3, { affine: false }).loadStateDict(full()),
          Error,
          /^BatchNorm2d\.loadStateDict: unexpected key 'weight' \(expected running_mean, running_var, num_batches_tracked\)$/,
        );
        throwsLike(
          () => new BatchNorm1d(3, { trackRunningStats: false }).loadStateDict(full()),
          Error,
          /^BatchNorm1d\.loadStateDict: unexpected key 'running_mean' \(expected weight, bias\)$/,
        );
      });

      it('rejects a wrong length or type', () => {
        throwsLike(
          () => fresh().loadStateDict({ ...full(), running_mean: new Float32Array(2) }),
          RangeError,
          /^BatchNorm2d\.loadStateDict: running_mean: expected length 3, got 2$/,
        );
        throwsLike(
          () => fresh().loadStateDict({ ...full(), bias: [1, 2, 3, 4] as never }),
          RangeError,
          /^BatchNorm2d\.loadStateDict: bias: expected length 3, got 4$/,
        );
        throwsLike(
          () => fresh().loadStateDict({ ...full(), running_var: new Int32Array(3) as never }),
          TypeError,
          /^BatchNorm2d\.loadStateDict: running_var: expected a Float32Array, Float64Array or number\[\], got Int32Array\(3\)$/,
        );
        throwsLike(
          () => fresh().loadStateDict({ ...full(), weight: 'abc' as never }),
          TypeError,
          /^BatchNorm2d\.loadStateDict: weight: expected a Float32Array, Float64Array or number\[\], got 'abc'$/,
        );
        throwsLike(
          () => fresh().loadStateDict({ ...full(), weight: [1, '2', 3] as never }),
          TypeError,
          /^BatchNorm2d\.loadStateDict: weight\[1\]: expected a number, got '2'$/,
        );
      });

      it('num_batches_tracked must be a non-negative integer (a bigint is accepted)', () => {
        for (const [v, got] of [
          [-1, 'number -1'],
          [2.5, 'number 2\\.5'],
          [NaN, 'number NaN'],
          ['3', "'3'"],
          [-1n, 'bigint -1'],
        ] as const) {
          throwsLike(
            () => fresh().loadStateDict({ ...full(), num_batches_tracked: v as never }),
            TypeError,
            new RegExp(`^BatchNorm2d\\.loadStateDict: num_batches_tracked: expected a non-negative integer, got ${got}$`),
          );
        }
        const bn = fresh();
        bn.loadStateDict({ ...full(), num_batches_tracked: 7n as never });
        expect(bn.numBatchesTracked).toBe(7);
      });

      it('rejects bad state and options arguments', () => {
        throwsLike(
          () => fresh().loadStateDict(null as never),
          TypeError,
          /^BatchNorm2d\.loadStateDict: state: expected an object, got null$/,
        );
        throwsLike(
          () => fresh().loadStateDict(full(), { strict: 'no' as never }),
          TypeError,
          /^BatchNorm2d\.loadStateDict: strict: expected a boolean, got 'no'$/,
        );
        throwsLike(
          () => fresh().loadStateDict(full(), { force: true } as never),
          TypeError,
          /^BatchNorm2d\.loadStateDict: unknown option 'force' \(expected one of strict\)$/,
        );
      });

      // null is not "omitted": strict must be a boolean when present (as batchNorm() rejects null values).
      it('strict: null is rejected, not read as the default', () => {
        throwsLike(
          () => fresh().loadStateDict(full(), { strict: null as never }),
          TypeError,
          /^BatchNorm2d\.loadStateDict: strict: expected a boolean, got null$/,
        );
      });

      // Without an object check, Object.keys(null) would give "Cannot convert undefined or null to object".
      it('rejects null options with a named error', () => {
        throwsLike(
          () => fresh().loadStateDict(full(), null as never),
          TypeError,
          /^BatchNorm2d\.loadStateDict: options: expected an object, got null$/,
        );
      });
    });

    describe('batchNorm() (functional)', () => {
      const x3 = () => filled([2, 3, 4]);

      it('needs both running statistics when training is false, and both or neither otherwise', () => {
        using x = x3();
        using rm = tensor([0, 0, 0]);
        using rv = tensor([1, 1, 1]);
        throwsLike(() => batchNorm(x, null, null), TypeError, /^batchNorm: runningMean\/runningVar: required when training is false$/);
        throwsLike(() => batchNorm(x, null, null, { training: false }), TypeError, /required when training is false$/);
        throwsLike(
          () => batchNorm(x, rm, null, { training: true }),
          TypeError,
          /^batchNorm: runningMean and runningVar: give both or neither$/,
        );
        throwsLike(() => batchNorm(x, null, rv), TypeError, /^batchNorm: runningMean and runningVar: give both or neither$/);
      });

      it('rejects per-channel tensors of the wrong shape', () => {
        using x = x3();
        using rm = tensor([0, 0, 0]);
        using rv = tensor([1, 1, 1]);
        using w2 = tensor([1, 2]);
        using rm13 = tensor([0, 0, 0], [1, 3]);
        throwsLike(() => batchNorm(x, rm, rv, { weight: w2 }), RangeError, /^batchNorm: weight: expected shape \[3\], got \[2\]$/);
        throwsLike(() => batchNorm(x, rm, rv, { bias: w2 }), RangeError, /^batchNorm: bias: expected shape \[3\], got \[2\]$/);
        throwsLike(() => batchNorm(x, rm13, rv), RangeError, /^batchNorm: runningMean: expected shape \[3\], got \[1, 3\]$/);
        throwsLike(
          () => batchNorm(x, rm, rv, { weight: [1, 1, 1] as never }),
          TypeError,
          /^batchNorm: weight: expected a Tensor \(see tensor\(\)\), got array\(3\)$/,
        );
      });

      it('rejects unknown options, bad option values and a bad layout', () => {
        using x = x3();
        using rm = tensor([0, 0, 0]);
        using rv = tensor([1, 1, 1]);
        throwsLike(
          () => batchNorm(x, rm, rv, { train: true } as never),
          TypeError,
          /^batchNorm: unknown option 'train' \(expected one of weight, bias, training, momentum, eps, layout\)$/,
        );
        throwsLike(() => batchNorm(x, rm, rv, null as never), TypeError, /^batchNorm: options: expected an object, got null$/);
        throwsLike(
          () => batchNorm(x, rm, rv, { training: 1 as never }),
          TypeError,
          /^batchNorm: training: expected a boolean, got number 1$/,
        );
        throwsLike(
          () => batchNorm(x, rm, rv, { momentum: 2 }),
          RangeError,
          /^batchNorm: momentum: expected a number in \[0, 1\], got number 2$/,
        );
        throwsLike(() => batchNorm(x, rm, rv, { eps: 0 }), RangeError, /^batchNorm: eps: expected a finite number > 0, got number 0$/);
        throwsLike(
          () => batchNorm(x, rm, rv, { layout: 'CHW' as never }),
          TypeError,
          /^batchNorm: layout: expected one of 'NC', 'NCL', 'NLC', 'NCHW', 'NHWC', 'NCDHW', 'NDHWC', got 'CHW'$/,
        );
        // the layout decides which axis holds the channels
        throwsLike(() => batchNorm(x, rm, rv, { layout: 'NLC' }), RangeError, /^batchNorm: runningMean: expected shape \[4\], got \[3\]$/);
      });

      it('rejects a non-tensor input and a rank outside 2..5; training needs more than 1 value per channel', () => {
        using rm = tensor([0, 0, 0]);
        using rv = tensor([1, 1, 1]);
        throwsLike(
          () => batchNorm([1, 2] as never, rm, rv),
          TypeError,
          /^batchNorm: input: expected a Tensor \(see tensor\(\)\), got array\(2\)$/,
        );
        using r1 = tensor([1, 2, 3]);
        using r6 = filled([2, 3, 1, 1, 1, 1]);
        throwsLike(() => batchNorm(r1, rm, rv), RangeError, /^batchNorm: input: expected rank 2 to 5, got \[3\]$/);
        throwsLike(() => batchNorm(r6, rm, rv), RangeError, /^batchNorm: input: expected rank 2 to 5, got \[2, 3, 1, 1, 1, 1\]$/);
        using one = tensor([1, 2, 3], [1, 3]);
        throwsLike(
          () => batchNorm(one, rm, rv, { training: true }),
          RangeError,
          /^batchNorm: expected more than 1 value per channel when training, got input size \[1, 3\]$/,
        );
        using y = batchNorm(one, rm, rv);
        expect(y.shape).toEqual([1, 3]);
      });

      // The channel count cannot be read from an input of another rank than the layout's; the
      // message must not invent one ("with 0 channels ([N, 0, H, W])").
      it('a layout of another rank than the input is reported without a bogus channel count', () => {
        using x = x3();
        const e = caught(() => batchNorm(x, null, null, { training: true, layout: 'NCHW' }));
        expect(e.message).toMatch(/^batchNorm: input: expected a rank-4 NCHW tensor.*got \[2, 3, 4\]$/);
        expect(e.message).not.toMatch(/0 channels|\[N, 0, H, W\]/);
      });

      // For the layers momentum null means the cumulative average; here it is not a value, and
      // reading options with `??` would silently turn it into 0.1.
      it('momentum null is rejected, not read as the default', () => {
        using x = x3();
        using rm = tensor([0, 0, 0]);
        using rv = tensor([1, 1, 1]);
        throwsLike(
          () => batchNorm(x, rm, rv, { training: true, momentum: null as never }),
          RangeError,
          /^batchNorm: momentum: expected a number in \[0, 1\], got null$/,
        );
      });
    });
  });
}
