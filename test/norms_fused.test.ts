// The norms with activation 'relu' (ReLU fused into the last pass each way, as BatchNorm's) against
// the same norm then ReLU, bit for bit, every backend, by backward(dy) and on the tape: the affine apart (LayerNorm, GroupNorm), the
// affine per row (InstanceNorm), no affine, and InstanceNorm's eval on running statistics.
import { describe, expect, it } from 'vitest';
import { F, GroupNorm, init, InstanceNorm2d, LayerNorm, noGrad, tensor } from '../src/index';
import { BACKENDS, bits } from './helpers';
import { randn } from './reference';

type Make = (activation: 'relu' | null) => LayerNorm | GroupNorm | InstanceNorm2d;
const CASES: [string, Make, number[], boolean][] = [
  ['LayerNorm([3, 5])', (activation) => new LayerNorm([3, 5], { activation }), [4, 2, 3, 5], true],
  ['LayerNorm(7), no affine', (activation) => new LayerNorm(7, { elementwiseAffine: false, activation }), [5, 7], true],
  ['GroupNorm(2, 6)', (activation) => new GroupNorm(2, 6, { activation }), [3, 6, 4, 5], true],
  ['InstanceNorm2d(4, affine)', (activation) => new InstanceNorm2d(4, { affine: true, activation }), [3, 4, 5, 3], true],
  [
    'InstanceNorm2d(4, affine, running statistics), eval',
    (activation) => new InstanceNorm2d(4, { affine: true, trackRunningStats: true, activation }),
    [3, 4, 5, 3],
    false,
  ],
];

for (const b of BACKENDS) {
  describe(`${b}: fused norm+ReLU equals the norm then ReLU, bit for bit`, () => {
    for (const [name, make, shape, train] of CASES) {
      it(name, async () => {
        await init({ backend: b });
        const size = shape.reduce((p, v) => p * v, 1);
        const x = randn(size, size + 1, 0.3, 1.5),
          dy = randn(size, size + 2);
        const [plain, fused] = [make(null), make('relu')];
        for (const m of [plain, fused]) {
          // β off zero and running statistics off their initial values: the mask depends on them
          const sd = m.stateDict();
          for (const [k, v] of Object.entries(sd))
            if (v instanceof Float32Array) sd[k] = randn(v.length, k.length, k === 'running_var' ? 1.2 : 0.2, 0.3);
          m.loadStateDict(sd);
          m.train(train);
        }
        using xt = tensor(x, shape);
        using y0 = noGrad(() => plain.forward(xt));
        using y1 = noGrad(() => fused.forward(xt));
        const yv = y0.toArray();
        expect(bits(y1.toArray())).toEqual(bits(yv.map((v) => (v < 0 ? 0 : v))));
        expect(yv.some((v) => v < 0) && yv.some((v) => v > 0)).toBe(true); // the mask cuts somewhere
        using d0 = tensor(
          dy.map((v, i) => (yv[i] > 0 ? v : 0)),
          shape,
        );
        using d1 = tensor(dy, shape);
        using dx0 = plain.backward(d0);
        using dx1 = fused.backward(d1);
        expect(bits(dx1.toArray())).toEqual(bits(dx0.toArray()));
        expect(fused.parameters().map((p) => bits(p.grad.toArray()))).toEqual(plain.parameters().map((p) => bits(p.grad.toArray())));
        // on the tape: the same bits through loss.backward()
        fused.zeroGrad();
        const xr = tensor(x, shape, { requiresGrad: true });
        F.sum(F.mul(fused.forward(xr), tensor(dy, shape))).backward();
        // (+0: the tape sums into .grad from 0, and 0 + −0 = +0 where the mask cut a negative γ·invstd)
        const plus0 = (a: Float32Array) => bits(a.map((v) => v + 0));
        expect(plus0(xr.grad!.toArray())).toEqual(plus0(dx0.toArray()));
        expect(fused.parameters().map((p) => bits(p.grad.toArray()))).toEqual(plain.parameters().map((p) => bits(p.grad.toArray())));
        xr.dispose();
        plain.dispose();
        fused.dispose();
      });
    }
  });
}
