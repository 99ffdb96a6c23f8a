// Linear's backward against finite differences of a float64 reference.
import { describe, expect, it } from 'vitest';
import { init, tensor, Linear } from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbs, randn } from './reference';

// central differences of the f64 reference, h = 1e-6
const TOL_FD = 1e-7;

for (const b of BACKENDS) {
  describe(`${b}: Linear`, () => {
    it('Linear backward against finite differences of a float64 reference', async () => {
      await init({ backend: b });
      const [n, i, o] = [5, 7, 4];
      const lin = new Linear(i, o);
      const W = Array.from(lin.weight.toArray()),
        B = Array.from(lin.bias!.toArray());
      const x = Array.from(randn(n * i, 3)),
        dy = Array.from(randn(n * o, 4));
      // L = Σ dy ⊙ (x·Wᵀ + b) in f64
      const loss = (xx: number[], ww: number[], bb: number[]) => {
        let s = 0;
        for (let r = 0; r < n; r++)
          for (let c = 0; c < o; c++) {
            let v = bb[c];
            for (let k = 0; k < i; k++) v += xx[r * i + k] * ww[c * i + k];
            s += dy[r * o + c] * v;
          }
        return s;
      };
      const fd = (vec: number[], j: number) => {
        const h = 1e-6,
          keep = vec[j];
        vec[j] = keep + h;
        const up = loss(x, W, B);
        vec[j] = keep - h;
        const down = loss(x, W, B);
        vec[j] = keep;
        return (up - down) / (2 * h);
      };
      using xt = tensor(x, [n, i]);
      lin.forward(xt).dispose();
      using dyt = tensor(dy, [n, o]);
      using dx = lin.backward(dyt);
      // the analytic gradients are f32 sums of ≤ 7 products: 1e-5 of their scale; FD error ≤ TOL_FD
      const tol = 1e-5 * Math.max(1, maxAbs(dy) * maxAbs(x)) + TOL_FD;
      dx.toArray().forEach((v, j) => expect(Math.abs(v - fd(x, j))).toBeLessThanOrEqual(tol));
      lin.weight.grad.toArray().forEach((v, j) => expect(Math.abs(v - fd(W, j))).toBeLessThanOrEqual(tol));
      lin.bias!.grad.toArray().forEach((v, j) => expect(Math.abs(v - fd(B, j))).toBeLessThanOrEqual(tol));
      lin.dispose();
    });
  });
}
