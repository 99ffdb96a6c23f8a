// The normalized LSTMs' fused output gate, h = σ(o)⊙tanh(z) (one kernel each way), against the
// unfused ops it replaced (sigmoid, tanh, mul on the tape): outputs and both gradients, every backend.
import { describe, expect, it } from 'vitest';
import { F, init, tensor } from '../src/index';
import { outputGate } from '../src/autograd/recurrent_norm';
import { BACKENDS } from './helpers';
import { maxAbsDiff, randn } from './reference';

// two f32 sigmoid/tanh implementations (the gate kernels' and the activation kernels'), each within
// a few ulps of the exact values on O(1) data, and one or two f32 products after them
const TOL = 1e-5;

for (const b of BACKENDS) {
  describe(`${b}: the fused output gate`, () => {
    it('equals mul(sigmoid(o), tanh(z)) and its gradients within 1e-5; the other gates get 0', async () => {
      await init({ backend: b });
      const M = 5,
        H = 9;
      const pre = randn(M * 4 * H, 1, 0, 3),
        z = randn(M * H, 2, 0, 2),
        dh = randn(M * H, 3);
      const o = new Float32Array(M * H);
      for (let r = 0; r < M; r++) o.set(pre.subarray(r * 4 * H + 3 * H, (r + 1) * 4 * H), r * H);
      const preT = tensor(pre, [M, 4 * H], { requiresGrad: true }),
        zF = tensor(z, [M, H], { requiresGrad: true });
      const h = outputGate(preT, zF);
      const hv = h.toArray();
      F.sum(F.mul(h, tensor(dh, [M, H]))).backward();
      const oT = tensor(o, [M, H], { requiresGrad: true }),
        zU = tensor(z, [M, H], { requiresGrad: true });
      const hu = F.mul(F.sigmoid(oT), F.tanh(zU));
      const huv = hu.toArray();
      F.sum(F.mul(hu, tensor(dh, [M, H]))).backward();
      expect(maxAbsDiff(hv, huv)).toBeLessThanOrEqual(TOL);
      expect(maxAbsDiff(zF.grad!.toArray(), zU.grad!.toArray())).toBeLessThanOrEqual(TOL);
      const dpre = preT.grad!.toArray(),
        dO = oT.grad!.toArray();
      for (let r = 0; r < M; r++) {
        expect(Array.from(dpre.subarray(r * 4 * H, r * 4 * H + 3 * H)).every((v) => v === 0)).toBe(true);
        expect(maxAbsDiff(dpre.subarray(r * 4 * H + 3 * H, (r + 1) * 4 * H), dO.subarray(r * H, (r + 1) * H))).toBeLessThanOrEqual(TOL);
      }
      for (const t of [preT, zF, oT, zU]) t.dispose();
    });
  });
}
