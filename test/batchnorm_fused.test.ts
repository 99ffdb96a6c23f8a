// BatchNorm with activation 'relu' (one fused kernel each way) against BatchNorm then ReLU.
import { describe, expect, it } from 'vitest';
import { init, tensor, ReLU } from '../src/index';
import { BACKENDS, makeLayer, shapeOf } from './helpers';
import { randn, type Layout } from './reference';

const CASES: [Layout, number, number, number[]][] = [
  ['NCHW', 3, 5, [7, 9]],
  ['NHWC', 3, 5, [7, 9]],
  ['NHWC', 2, 16, [6, 6]],
  ['NHWC', 2, 19, [5, 3]],
  ['NC', 37, 11, []],
  ['NCL', 4, 6, [33]],
  ['NCHW', 2, 4, [40, 41]],
];

for (const b of BACKENDS) {
  describe(`${b}: fused BN+ReLU equals BN then ReLU, bit for bit`, () => {
    for (const [layout, n, c, spatial] of CASES) {
      for (const train of [true, false]) {
        it(`${layout} [${shapeOf(layout, n, c, spatial)}] ${train ? 'train' : 'eval'}`, async () => {
          await init({ backend: b });
          const shape = shapeOf(layout, n, c, spatial);
          const size = shape.reduce((p, v) => p * v, 1);
          const x = randn(size, size + 1, 0.3, 1.5),
            dy = randn(size, size + 2);
          const sd = {
            weight: randn(c, 5, 1, 0.5),
            bias: randn(c, 6, 0, 0.5),
            running_mean: randn(c, 7, 0, 0.3),
            running_var: Float32Array.from(randn(c, 8), (v) => 0.5 + Math.abs(v)),
            num_batches_tracked: 2,
          };
          const fused = makeLayer(layout, c, { activation: 'relu' }),
            plain = makeLayer(layout, c),
            relu = new ReLU();
          fused.loadStateDict(sd);
          plain.loadStateDict(sd);
          fused.train(train);
          plain.train(train);
          using xt = tensor(x, shape);
          using dyt = tensor(dy, shape);
          using yf = fused.forward(xt);
          using yb = plain.forward(xt);
          using yr = relu.forward(yb);
          expect(Buffer.from(yf.toArray().buffer)).toEqual(Buffer.from(yr.toArray().buffer));
          using dxf = fused.backward(dyt);
          using dr = relu.backward(dyt);
          using dxp = plain.backward(dr);
          expect(Buffer.from(dxf.toArray().buffer)).toEqual(Buffer.from(dxp.toArray().buffer));
          expect(fused.weight!.grad.toArray()).toEqual(plain.weight!.grad.toArray());
          expect(fused.bias!.grad.toArray()).toEqual(plain.bias!.grad.toArray());
          expect(fused.stateDict()).toEqual(plain.stateDict());
          expect(yf.toArray().every((v) => v >= 0)).toBe(true);
          fused.dispose();
          plain.dispose();
        });
      }
    }
    it('rejects an unknown activation', async () => {
      await init({ backend: b });
      expect(() => makeLayer('NCHW', 3, { activation: 'gelu' as never })).toThrow(
        /^BatchNorm2d: activation: expected 'relu' or null, got 'gelu'$/,
      );
    });
  });
}
