// ReLU, Sigmoid and Tanh on every backend: forward against float64 formulas, backward against
// central differences of them (independent of any derivative formula), NaN and ±Inf.
import { describe, expect, it } from 'vitest';
import { init, tensor, ReLU, Sigmoid, Tanh } from '../src/index';
import { BACKENDS } from './helpers';
import { randn } from './reference';

// Activations are one f32 rounding of an f64 result (sigmoid, tanh via f64 exp; ReLU exact):
// 2 ulps of O(1) values is 2.4e-7; their backward is two f32 products: 1e-6.
const TOL_ACT = 3e-7;
const TOL_ACT_GRAD = 1e-6;
// central differences of the f64 formulas, h = 1e-6: truncation ~h²·|f'''| and rounding ~1e-16/h,
// both far below TOL_ACT_GRAD; ReLU's kink at 0 is avoided by skipping |x| ≤ H
const H = 1e-6;

const ACTS = [
  ['ReLU', () => new ReLU(), (x: number) => Math.max(x, 0)],
  ['Sigmoid', () => new Sigmoid(), (x: number) => 1 / (1 + Math.exp(-x))],
  ['Tanh', () => new Tanh(), Math.tanh],
] as const;

/** f'(x) by central differences of the float64 formula. */
const slope = (f: (x: number) => number, x: number) => (f(x + H) - f(x - H)) / (2 * H);

for (const b of BACKENDS) {
  describe(`${b}: activations`, () => {
    for (const [name, make, f] of ACTS) {
      it(`${name} forward against float64, backward against its central differences, every tail length`, async () => {
        await init({ backend: b });
        for (let n = 0; n <= 19; n++) {
          const x = randn(n, 10 + n, 0, 5),
            dy = randn(n, 30 + n);
          if (n > 2) {
            x[0] = 80;
            x[1] = -80;
          } // saturated: no overflow, no NaN
          const layer = make();
          using xt = tensor(x, [n]);
          using y = layer.forward(xt);
          using dyt = tensor(dy, [n]);
          using dx = layer.backward(dyt);
          const yv = y.toArray(),
            dxv = dx.toArray();
          for (let i = 0; i < n; i++) {
            expect(Math.abs(yv[i] - f(x[i]))).toBeLessThanOrEqual(TOL_ACT * Math.max(1, Math.abs(f(x[i]))));
            if (Math.abs(x[i]) > H)
              expect(Math.abs(dxv[i] - dy[i] * slope(f, x[i]))).toBeLessThanOrEqual(TOL_ACT_GRAD * Math.max(1, Math.abs(dy[i])));
          }
        }
      });
    }

    it('ReLU and Tanh keep NaN; Sigmoid of ±Inf is 1 and 0', async () => {
      await init({ backend: b });
      using x = tensor([NaN, Infinity, -Infinity, 0], [4]);
      expect(Array.from(new ReLU().forward(x).toArray())).toEqual([NaN, Infinity, 0, 0]);
      expect(Array.from(new Tanh().forward(x).toArray())).toEqual([NaN, 1, -1, 0]);
      expect(Array.from(new Sigmoid().forward(x).toArray()).slice(1)).toEqual([1, 0, 0.5]);
    });
  });
}
