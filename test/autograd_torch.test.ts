// Autograd against PyTorch: a residual block applied twice with shared weights, a skip connection,
// a broadcast scale and three losses summed (test/fixtures/gen_torch_autograd.py), every backend.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor, F, type Tensor } from '../src/index';
import { BACKENDS } from './helpers';
import fixture from './fixtures/torch_autograd.json';

// f32 through two blocks of 8-wide products and three losses: the loss within 1e-5 relative and
// every gradient within 1e-4 of the largest of its tensor (PyTorch computes in f32 too).
const TOL_LOSS = 1e-5;
const TOL_GRAD = 1e-4;

for (const backend of BACKENDS) {
  describe(`autograd against PyTorch (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('a residual block with shared weights: the loss and every gradient', () => {
      const t = Object.fromEntries(
        Object.entries(fixture.values).map(([k, v]) => [
          k,
          tensor(v, fixture.shapes[k as keyof typeof fixture.shapes], { requiresGrad: true }),
        ]),
      ) as Record<string, Tensor>;
      const block = (h: Tensor) => F.relu(F.add(F.add(h, F.linear(F.relu(F.linear(h, t.w1, t.b1)), t.w2)), t.b2));
      let h = block(t.x);
      h = block(F.mul(h, t.scale));
      const logits = F.linear(h, t.wc);
      const loss = F.add(
        F.add(F.crossEntropy(logits, fixture.labels), F.mul(F.mseLoss(h, tensor(fixture.target, [6, 8])), 0.1)),
        F.mul(F.mean(F.logSoftmax(logits, 1)), 0.01),
      );
      expect(Math.abs(loss.item() - fixture.loss)).toBeLessThanOrEqual(TOL_LOSS * Math.abs(fixture.loss));
      loss.backward();
      for (const [k, want] of Object.entries(fixture.grads)) {
        const got = t[k].grad!.toArray();
        const scale = Math.max(...want.map(Math.abs));
        want.forEach((v, i) => expect(Math.abs(got[i] - v), `${k}[${i}]`).toBeLessThanOrEqual(TOL_GRAD * scale));
      }
    });
  });
}
