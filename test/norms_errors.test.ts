// Bad arguments to LayerNorm, GroupNorm, InstanceNorm1d/2d/3d, Ghost BatchNorm and their F forms:
// each throws a message naming the function, the argument, what was expected and what came, and
// changes nothing; an allocation that fails at any point of a forward or backward leaves no state
// moved and nothing allocated.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  F,
  GhostBatchNorm1d,
  GhostBatchNorm2d,
  GroupNorm,
  init,
  InstanceNorm1d,
  InstanceNorm2d,
  InstanceNorm3d,
  LayerNorm,
  noGrad,
  tensor,
} from '../src/index';
import { BACKENDS, bits, filled, throwsLike } from './helpers';
import { failEachAllocation } from './alloc_count';

for (const b of BACKENDS) {
  describe(`${b}: norms reject bad arguments`, () => {
    beforeAll(async () => {
      await init({ backend: b });
    });

    it('constructors', () => {
      const bad: [() => unknown, new (...a: never[]) => Error, RegExp][] = [
        [
          () => new LayerNorm(0),
          RangeError,
          /^LayerNorm: normalizedShape: expected a positive integer or a non-empty array of them, got number 0$/,
        ],
        [() => new LayerNorm([]), RangeError, /^LayerNorm: normalizedShape: .* got array\(0\)$/],
        [() => new LayerNorm([3, 2.5]), RangeError, /^LayerNorm: normalizedShape: .* got array\(2\)$/],
        [
          () => new LayerNorm(4, { epsilon: 1 } as never),
          TypeError,
          /^LayerNorm: unknown option 'epsilon' \(expected one of eps, elementwiseAffine, bias, activation\)$/,
        ],
        [() => new LayerNorm(4, { eps: -1 }), RangeError, /^LayerNorm: eps: expected a finite number > 0, got number -1$/],
        [() => new LayerNorm(4, { eps: null as never }), RangeError, /^LayerNorm: eps: expected a finite number > 0, got null$/],
        [
          () => new LayerNorm(4, { elementwiseAffine: 1 as never }),
          TypeError,
          /^LayerNorm: elementwiseAffine: expected a boolean, got number 1$/,
        ],
        [
          () => new GroupNorm(2, 4, { activation: 'gelu' as never }),
          TypeError,
          /^GroupNorm: activation: expected 'relu' or null, got 'gelu'$/,
        ],
        [() => new GroupNorm(0, 4), RangeError, /^GroupNorm: numGroups: expected a positive integer, got number 0$/],
        [() => new GroupNorm(2, 2.5), RangeError, /^GroupNorm: numChannels: expected a positive integer, got number 2\.5$/],
        [() => new GroupNorm(3, 4), RangeError, /^GroupNorm: numChannels: expected a multiple of numGroups \(3\), got 4$/],
        [() => new GroupNorm(2, 4, { affine: 'no' as never }), TypeError, /^GroupNorm: affine: expected a boolean, got 'no'$/],
        [() => new InstanceNorm2d(0), RangeError, /^InstanceNorm2d: numFeatures: expected a positive integer, got number 0$/],
        [
          () => new InstanceNorm1d(3, { momentum: 2 }),
          RangeError,
          /^InstanceNorm1d: momentum: expected a number in \[0, 1\], got number 2$/,
        ],
        [
          () => new InstanceNorm3d(3, { momentum: null as never }),
          RangeError,
          /^InstanceNorm3d: momentum: expected a number in \[0, 1\], got null$/,
        ],
        [
          () => new InstanceNorm2d(3, { trackRunningStats: 1 as never }),
          TypeError,
          /^InstanceNorm2d: trackRunningStats: expected a boolean, got number 1$/,
        ],
        [() => new InstanceNorm2d(3, { virtualBatchSize: 1 } as never), TypeError, /^InstanceNorm2d: unknown option 'virtualBatchSize'/],
        [
          () => new GhostBatchNorm2d(3, {} as never),
          RangeError,
          /^GhostBatchNorm2d: virtualBatchSize: expected a positive integer, got undefined$/,
        ],
        [
          () => new GhostBatchNorm1d(3, { virtualBatchSize: 1.5 }),
          RangeError,
          /^GhostBatchNorm1d: virtualBatchSize: expected a positive integer, got number 1\.5$/,
        ],
        [() => new GhostBatchNorm1d(3, undefined as never), TypeError, /^GhostBatchNorm1d: options: expected an object, got undefined$/],
        [
          () => new GhostBatchNorm1d(3, { virtualBatchSize: 4, eps: 0 }),
          RangeError,
          /^GhostBatchNorm1d: eps: expected a finite number > 0, got number 0$/,
        ],
        [() => new GhostBatchNorm1d(3, { virtualBatchSize: 4, vbs: 2 } as never), TypeError, /^GhostBatchNorm1d: unknown option 'vbs'/],
      ];
      for (const [fn, cls, re] of bad) throwsLike(fn, cls, re);
    });

    it('forward and backward: shapes, tensors, order; nothing moves', () => {
      const layers = [
        [new LayerNorm([3, 4]), [2, 5], /^LayerNorm\.forward: input: expected a tensor whose last dims are \[3, 4\], got \[2, 5\]$/],
        [new GroupNorm(2, 4), [2, 3, 5], /^GroupNorm\.forward: input: expected a tensor \[N, 4, \*\] \(rank 2 or more\), got \[2, 3, 5\]$/],
        [new GroupNorm(2, 4), [4], /^GroupNorm\.forward: input: expected a tensor \[N, 4, \*\] \(rank 2 or more\), got \[4\]$/],
        [
          new InstanceNorm2d(3, { trackRunningStats: true, affine: true }),
          [2, 3, 4],
          /^InstanceNorm2d\.forward: input: expected a rank-4 tensor with 3 channels \(\[N, 3, H, W\]\) or an unbatched rank-3 one \(\[3, H, W\]\), got \[2, 3, 4\]$/,
        ],
        [
          new InstanceNorm1d(3, { trackRunningStats: true }),
          [2, 3, 1],
          /^InstanceNorm1d\.forward: expected more than 1 spatial element when training, got input size \[2, 3, 1\]$/,
        ],
        [
          new GhostBatchNorm2d(3, { virtualBatchSize: 2 }),
          [3, 3, 1, 1],
          /^GhostBatchNorm2d\.forward: expected more than 1 value per channel in each ghost batch when training, got a ghost batch \[1, 3, 1, 1\] of input \[3, 3, 1, 1\] \(virtualBatchSize 2\)$/,
        ],
      ] as const;
      for (const [m, shape, re] of layers) {
        const before = m.stateDict();
        using x = filled([...shape], 3);
        throwsLike(() => m.forward(x), RangeError, re);
        throwsLike(() => m.outputShape([...shape]), RangeError, re);
        throwsLike(
          () => m.forward([1, 2] as never),
          TypeError,
          new RegExp(`^${m.constructor.name}\\.forward: input: expected a Tensor \\(see tensor\\(\\)\\), got array\\(2\\)$`),
        );
        throwsLike(() => m.backward(x), Error, new RegExp(`^${m.constructor.name}\\.backward: call forward\\(\\) first$`));
        expect(m.stateDict()).toEqual(before);
        m.dispose();
      }
      // eval with running statistics takes one position (BN's eval); a wrong gradOutput shape throws
      const inst = new InstanceNorm1d(3, { trackRunningStats: true }).eval();
      using x = filled([2, 3, 1], 4);
      using y = noGrad(() => inst.forward(x));
      using dy = filled([2, 3, 2], 5);
      throwsLike(
        () => inst.backward(dy),
        RangeError,
        /^InstanceNorm1d\.backward: gradOutput: expected shape \[2, 3, 1\] \(the last input's\), got \[2, 3, 2\]$/,
      );
      expect(y.shape).toEqual([2, 3, 1]);
      inst.dispose();
      throwsLike(() => inst.forward(x), Error, /^InstanceNorm1d\.forward: the layer was disposed$/);
    });

    it('F.layerNorm, F.groupNorm, F.instanceNorm', () => {
      using x = filled([2, 4, 3], 6);
      using w3 = tensor([1, 2, 3]);
      using r4 = tensor([0, 0, 0, 0]);
      const bad: [() => unknown, new (...a: never[]) => Error, RegExp][] = [
        [() => F.layerNorm(x, [4]), RangeError, /^layerNorm: input: expected a tensor whose last dims are \[4\], got \[2, 4, 3\]$/],
        [() => F.layerNorm(x, 3, { weight: r4 }), RangeError, /^layerNorm: weight: expected shape \[3\], got \[4\]$/],
        [
          () => F.layerNorm(x, 3, { gamma: w3 } as never),
          TypeError,
          /^layerNorm: unknown option 'gamma' \(expected one of weight, bias, eps\)$/,
        ],
        [() => F.layerNorm(x, 3, { eps: 0 }), RangeError, /^layerNorm: eps: expected a finite number > 0, got number 0$/],
        [() => F.groupNorm(x, 3), RangeError, /^groupNorm: numGroups: expected a positive integer dividing the 4 channels, got number 3$/],
        [() => F.groupNorm(x, 2, { bias: w3 }), RangeError, /^groupNorm: bias: expected shape \[4\], got \[3\]$/],
        [() => F.groupNorm(w3, 1), RangeError, /^groupNorm: input: expected a tensor \[N, C, \*\] \(rank 2 or more\), got \[3\]$/],
        [() => F.instanceNorm(x, r4), TypeError, /^instanceNorm: runningMean and runningVar: give both or neither$/],
        [
          () => F.instanceNorm(x, null, null, { useInputStats: false }),
          TypeError,
          /^instanceNorm: runningMean\/runningVar: required when useInputStats is false$/,
        ],
        [() => F.instanceNorm(x, w3, w3), RangeError, /^instanceNorm: runningMean: expected shape \[4\], got \[3\]$/],
        [() => F.instanceNorm(w3), RangeError, /^instanceNorm: input: expected a rank-3 to rank-5 tensor \[N, C, \*spatial\], got \[3\]$/],
        [
          () => F.instanceNorm(x, null, null, { momentum: -1 }),
          RangeError,
          /^instanceNorm: momentum: expected a number in \[0, 1\], got number -1$/,
        ],
        [
          () => F.instanceNorm(x, r4, r4, { useInputStats: 'yes' as never }),
          TypeError,
          /^instanceNorm: useInputStats: expected a boolean, got 'yes'$/,
        ],
      ];
      for (const [fn, cls, re] of bad) throwsLike(fn, cls, re);
      expect(bits(r4.toArray())).toEqual(bits(new Float32Array(4)));
    });

    it('an allocation failing anywhere in a forward or backward moves no state and leaves nothing allocated', () => {
      const makers: [string, () => LayerNorm | GroupNorm | InstanceNorm2d | GhostBatchNorm2d, number[]][] = [
        ['LayerNorm', () => new LayerNorm([4, 5]), [3, 2, 4, 5]],
        ['GroupNorm', () => new GroupNorm(2, 4), [3, 4, 5]],
        ['InstanceNorm2d', () => new InstanceNorm2d(4, { affine: true, trackRunningStats: true }), [3, 4, 2, 3]],
        ['GhostBatchNorm2d', () => new GhostBatchNorm2d(4, { virtualBatchSize: 2 }), [5, 4, 2, 3]],
      ];
      for (const [name, make, shape] of makers) {
        const m = make();
        using x = filled(shape, 7);
        using dy = filled(shape, 8);
        failEachAllocation(m, x, dy, name);
        m.dispose();
      }
    });
  });
}
