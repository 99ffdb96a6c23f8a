// Finite-difference checks: first of the float64 reference backward against its own forward,
// then (in batchnorm_forward.test.ts) the kernels against the reference.
import { describe, expect, it } from 'vitest';
import { randn, refBackward, refForwardEval, refForwardTrain, type Layout } from './reference';

// Central differences in f64 with h = 1e-5 have truncation error O(h²·|f'''|) ≈ 1e-10 and
// rounding error O(ε·|L|/h) ≈ 1e-10 here: 1e-6 relative to the largest gradient is a safe bound.
const H = 1e-5;
const TOL_FD = 1e-6;

function lossOf(y: Float64Array, dy: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * dy[i];
  return s;
}

const CASES: [Layout, number[]][] = [
  ['NCHW', [2, 3, 2, 3]],
  ['NHWC', [2, 2, 3, 3]],
  ['NC', [5, 4]],
  ['NCL', [3, 2, 4]],
];

describe('finite differences of the float64 reference', () => {
  for (const [layout, shape] of CASES) {
    for (const train of [true, false]) {
      it(`${layout} [${shape}] ${train ? 'train' : 'eval'}`, () => {
        const size = shape.reduce((a, b) => a * b, 1);
        const c = layout === 'NCHW' || layout === 'NCL' ? shape[1] : shape[shape.length - 1];
        const x = Array.from(randn(size, 17, 1, 2)),
          dy = Array.from(randn(size, 18));
        const gamma = Array.from(randn(c, 19, 1, 0.5)),
          beta = Array.from(randn(c, 20));
        const rm = Array.from(randn(c, 21)),
          rv = Array.from(randn(c, 22), (v) => 0.5 + Math.abs(v));
        const eps = 1e-3;
        const loss = (xx: number[], g: number[], b: number[]) =>
          lossOf(train ? refForwardTrain(xx, layout, shape, eps, g, b).y : refForwardEval(xx, layout, shape, eps, rm, rv, g, b), dy);
        const an = refBackward(x, dy, layout, shape, eps, gamma, train, rm, rv);
        const fd = (vec: number[], i: number, f: () => number) => {
          const keep = vec[i];
          vec[i] = keep + H;
          const up = f();
          vec[i] = keep - H;
          const down = f();
          vec[i] = keep;
          return (up - down) / (2 * H);
        };
        const scale = Math.max(...Array.from(an.dx, Math.abs), ...Array.from(an.dgamma, Math.abs), ...Array.from(an.dbeta, Math.abs));
        for (let i = 0; i < size; i++)
          expect(Math.abs(fd(x, i, () => loss(x, gamma, beta)) - an.dx[i])).toBeLessThanOrEqual(TOL_FD * scale);
        for (let ch = 0; ch < c; ch++) {
          expect(Math.abs(fd(gamma, ch, () => loss(x, gamma, beta)) - an.dgamma[ch])).toBeLessThanOrEqual(TOL_FD * scale);
          expect(Math.abs(fd(beta, ch, () => loss(x, gamma, beta)) - an.dbeta[ch])).toBeLessThanOrEqual(TOL_FD * scale);
        }
      });
    }
  }
});
