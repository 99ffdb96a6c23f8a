// BatchNorm's variants (Ghost BN with one ghost batch, Batch Renorm with r = 1, d = 0) checked against
// BatchNorm itself: the same γ, β, inputs and steps must give the same bits, by backward(dy) and on the tape.
import { expect } from 'vitest';
import { F, noGrad, tensor, type Tensor } from '../src/index';
import type { BatchNorm } from '../src/nn/batchnorm';
import { bits, makeLayer } from './helpers';
import { randn, type Layout } from './reference';

/**
 * `make(c)` (its running statistics a cumulative average, `momentum: null`) against BatchNorm with the
 * same layout, activation and γ, β: train, train, eval steps, each by backward(dy) (y, dx, dγ, dβ,
 * running statistics, batches tracked) and on the tape through loss.backward() (y, dx, dγ, dβ), bit for
 * bit. With `tapeIsLayer`, the tape's y also equals the layer call's (its statistics moved once more).
 * Both layers are disposed.
 */
export function expectBatchNormBits(
  layout: Layout,
  shape: number[],
  activation: 'relu' | undefined,
  make: (c: number) => BatchNorm,
  tapeIsLayer = false,
): void {
  const c = layout === 'NC' || layout.startsWith('NC') ? shape[1] : shape[shape.length - 1];
  const bn = makeLayer(layout, c, { activation, momentum: null }),
    other = make(c);
  try {
    const gamma = randn(c, 3, 1, 0.5),
      beta = randn(c, 4, 0, 0.5);
    for (const l of [bn, other]) l.loadStateDict({ ...l.stateDict(), weight: gamma, bias: beta });
    const size = shape.reduce((p, v) => p * v, 1);
    for (const [step, mode] of (['train', 'train', 'eval'] as const).entries()) {
      const x = randn(size, 30 + step, 0.5, 2),
        dy = randn(size, 40 + step);
      const outs = [bn, other].map((l) => {
        l.train(mode === 'train');
        l.zeroGrad();
        using xt = tensor(x, shape);
        using y = noGrad(() => l.forward(xt));
        using dyt = tensor(dy, shape);
        using dx = l.backward(dyt);
        const sd = l.stateDict();
        const arrays = [y, dx, l.weight!.grad, l.bias!.grad].map((t) => bits(t.toArray()));
        return [...arrays, bits(sd.running_mean), bits(sd.running_var), sd.num_batches_tracked];
      });
      expect(outs[1], `step ${step}`).toEqual(outs[0]);
      // on the tape (both layers, whose running statistics move again alike): the same bits through loss.backward()
      const taped = [bn, other].map((l) => {
        l.zeroGrad();
        const xt = tensor(x, shape, { requiresGrad: true });
        const y: Tensor = l.forward(xt);
        const yv = y.toArray();
        F.sum(F.mul(y, tensor(dy, shape))).backward(); // frees y
        const r = [yv, xt.grad!.toArray(), l.weight!.grad.toArray(), l.bias!.grad.toArray()];
        xt.dispose();
        return r.map(bits);
      });
      expect(taped[1], `step ${step} on the tape`).toEqual(taped[0]);
      if (tapeIsLayer) expect(taped[1][0], `step ${step}: the tape's y`).toEqual(outs[0][0]);
    }
  } finally {
    bn.dispose();
    other.dispose();
  }
}
