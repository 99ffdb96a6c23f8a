// LayerNorm's row kernel (assembly/rownorm.ts, src/js/rownorm.ts): every backend against a float64
// reference at odd widths and long rows, the backends against each other (the relaxed build runs
// the SIMD build's code, the JS twin the scalar build's operations: both bit for bit), central
// differences, a row whose first value is far from its mean, and bad dy leaving gradients as they were.
import { describe, expect, it } from 'vitest';
import { F, init, LayerNorm, noGrad, tensor } from '../src/index';
import { check } from './autograd_check';
import { BACKENDS, bits } from './helpers';
import { maxAbs, maxAbsDiff, randn } from './reference';

// Outputs are O(1): f32 rounding of x̂ and the affine is ~1e-7, the row sums' ~1e-6 relative.
const TOL_OUT = 2e-5;
// dx against the largest of its terms, invstd·|γ·dy|; dγ, dβ against Σ|dy| of a column (f32 sums over the rows).
const TOL_GRAD = 5e-5;
// SIMD against scalar: f32 partial sums (≤ 32 terms a lane) against f64 ones, within f32 rounding of O(1) values.
const TOL_SIMD = 1e-5;
const EPS = 1e-5;

/** float64 LayerNorm over rows of d: y, dx, dγ, dβ (γ, β per column). */
function reference(x: ArrayLike<number>, dy: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, d: number) {
  const rows = x.length / d;
  const y = new Float64Array(x.length),
    dx = new Float64Array(x.length),
    dgamma = new Float64Array(d),
    dbeta = new Float64Array(d);
  let term = 0; // the largest invstd·|γ·dy|: the scale of dx's terms (dx itself is 0 at width 1)
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let m = 0;
    for (let j = 0; j < d; j++) m += x[o + j];
    m /= d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[o + j] - m) ** 2;
    const inv = 1 / Math.sqrt(v / d + EPS);
    let sg = 0,
      sgx = 0;
    for (let j = 0; j < d; j++) {
      const xh = (x[o + j] - m) * inv,
        g = dy[o + j] * gamma[j];
      y[o + j] = gamma[j] * xh + beta[j];
      dgamma[j] += dy[o + j] * xh;
      dbeta[j] += dy[o + j];
      sg += g;
      sgx += g * xh;
      term = Math.max(term, inv * Math.abs(g));
    }
    for (let j = 0; j < d; j++) dx[o + j] = (inv / d) * (d * dy[o + j] * gamma[j] - sg - (x[o + j] - m) * inv * sgx);
  }
  return { y, dx, dgamma, dbeta, term };
}

interface Run {
  y: Float32Array;
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
}

/** LayerNorm(d) forward and backward on `backend` (γ, β set; dγ, dβ from zero). */
async function run(backend: (typeof BACKENDS)[number], x: Float32Array, dy: Float32Array, shape: number[], ns: number[]): Promise<Run> {
  await init({ backend });
  const m = new LayerNorm(ns);
  const d = ns.reduce((p, v) => p * v, 1);
  m.loadStateDict({ weight: randn(d, 11, 1, 0.3), bias: randn(d, 12) });
  using xt = tensor(x, shape);
  using y = noGrad(() => m.forward(xt));
  using dyt = tensor(dy, shape);
  using dx = m.backward(dyt);
  const out = { y: y.toArray(), dx: dx.toArray(), dgamma: m.weight!.grad.toArray(), dbeta: m.bias!.grad.toArray() };
  m.dispose();
  return out;
}

function expectNear(got: Run, x: Float32Array, dy: Float32Array, d: number): void {
  const ref = reference(x, dy, randn(d, 11, 1, 0.3), randn(d, 12), d);
  expect(maxAbsDiff(got.y, ref.y), 'y').toBeLessThanOrEqual(TOL_OUT * Math.max(1, maxAbs(ref.y)));
  expect(maxAbsDiff(got.dx, ref.dx), 'dx').toBeLessThanOrEqual(TOL_GRAD * ref.term);
  const rows = x.length / d;
  const colAbs = maxAbs(dy) * rows;
  expect(maxAbsDiff(got.dgamma, ref.dgamma), 'dγ').toBeLessThanOrEqual(TOL_GRAD * colAbs);
  expect(maxAbsDiff(got.dbeta, ref.dbeta), 'dβ').toBeLessThanOrEqual(TOL_GRAD * colAbs);
}

// widths with every SIMD tail (1, 3, 5, 63, 65), and 70 rows: more than the 32 rows of f32 column sums
const WIDTHS = [1, 2, 3, 4, 5, 7, 8, 16, 63, 64, 65, 130];
const ROWS = 70;

describe('LayerNorm row kernel: every backend against float64', () => {
  for (const b of BACKENDS) {
    it(`${b}: widths ${WIDTHS.join(', ')}, ${ROWS} rows, offset 3`, async () => {
      for (const d of WIDTHS) {
        const x = randn(ROWS * d, d, 3, 2),
          dy = randn(ROWS * d, d + 100);
        expectNear(await run(b, x, dy, [ROWS, d], [d]), x, dy, d);
      }
    });

    it(`${b}: a long row (LayerNorm([5, 100, 100]) on [3, 5, 100, 100]: rows of 50 000)`, async () => {
      const shape = [3, 5, 100, 100],
        d = 50_000;
      const x = randn(3 * d, 91, -20, 4),
        dy = randn(3 * d, 92);
      expectNear(await run(b, x, dy, shape, [5, 100, 100]), x, dy, d);
    });

    it(`${b}: a row whose first value lies far from its mean is summed again around the mean`, async () => {
      // x[0] = 1e4 in a row of 4095 values of mean 0, std 1e-2: (mean − K)²/var ≈ 4096, so the f32
      // sums around K would lose ~3 digits of the variance without the second pass around the mean
      const d = 4096,
        x = randn(4 * d, 93, 0, 1e-2),
        dy = randn(4 * d, 94);
      x[0] = 1e4;
      x[2 * d] = -3e3;
      expectNear(await run(b, x, dy, [4, d], [d]), x, dy, d);
    });
  }
});

describe('LayerNorm row kernel: backends against each other', () => {
  for (const d of [1, 3, 5, 33, 63, 65, 256]) {
    it(`width ${d}: relaxed = SIMD and JS = scalar bit for bit; SIMD within ${TOL_SIMD} of scalar`, async () => {
      const x = randn(ROWS * d, 7 * d, 1e3, 0.5),
        dy = randn(ROWS * d, 7 * d + 1);
      const r: Record<string, Run> = {};
      for (const b of BACKENDS) r[b] = await run(b, x, dy, [ROWS, d], [d]);
      for (const k of ['y', 'dx', 'dgamma', 'dbeta'] as const) {
        expect(bits(r['wasm-relaxed'][k]), `relaxed ${k}`).toEqual(bits(r['wasm-simd'][k]));
        expect(bits(r.js[k]), `js ${k}`).toEqual(bits(r.wasm[k]));
      }
      const s = r['wasm-simd'],
        c = r.wasm;
      expect(maxAbsDiff(s.y, c.y), 'y').toBeLessThanOrEqual(TOL_SIMD * Math.max(1, maxAbs(c.y)));
      expect(maxAbsDiff(s.dx, c.dx), 'dx').toBeLessThanOrEqual(TOL_SIMD * maxAbs(c.dx));
      expect(maxAbsDiff(s.dgamma, c.dgamma), 'dγ').toBeLessThanOrEqual(TOL_SIMD * ROWS * maxAbs(dy));
      expect(maxAbsDiff(s.dbeta, c.dbeta), 'dβ').toBeLessThanOrEqual(TOL_SIMD * ROWS * maxAbs(dy));
    });
  }
});

describe('LayerNorm row kernel: gradients and bad input', () => {
  for (const b of BACKENDS) {
    it(`${b}: F.layerNorm's gradients of x, γ, β (widths 3, 65; weight only; no affine) against central differences`, async () => {
      await init({ backend: b });
      const ref = (d: number, g?: Float64Array, bb?: Float64Array) => (xs: Float64Array[]) => {
        const x = xs[0],
          gamma = g ?? (xs[1] as Float64Array | undefined) ?? new Float64Array(d).fill(1),
          beta = bb ?? (xs[2] as Float64Array | undefined) ?? new Float64Array(d);
        return reference(x, new Float64Array(x.length), gamma, beta, d).y;
      };
      check([[4, 3], [3], [3]], ([x, w, bb]) => F.layerNorm(x, 3, { weight: w, bias: bb, eps: EPS }), ref(3), 31);
      check([[2, 65], [65], [65]], ([x, w, bb]) => F.layerNorm(x, 65, { weight: w, bias: bb, eps: EPS }), ref(65), 32);
      check([[3, 5], [5]], ([x, w]) => F.layerNorm(x, 5, { weight: w, eps: EPS }), ref(5), 33);
      check([[3, 7]], ([x]) => F.layerNorm(x, 7, { eps: EPS }), ref(7), 34);
    });

    it(`${b}: backward with dy of the wrong shape throws and leaves dγ, dβ as they were`, async () => {
      await init({ backend: b });
      const m = new LayerNorm(7);
      using xt = tensor(randn(14, 1), [2, 7]);
      using y = noGrad(() => m.forward(xt));
      using dy0 = tensor(randn(14, 2), [2, 7]);
      m.backward(dy0).dispose();
      const before = [m.weight!.grad.toArray(), m.bias!.grad.toArray()];
      using bad = tensor(randn(14, 3), [7, 2]);
      expect(() => m.backward(bad)).toThrow(
        /^LayerNorm\.backward: gradOutput: expected shape \[2, 7\] \(the last input's\), got \[7, 2\]$/,
      );
      expect(m.weight!.grad.toArray()).toEqual(before[0]);
      expect(m.bias!.grad.toArray()).toEqual(before[1]);
      expect(y.shape).toEqual([2, 7]);
      m.dispose();
    });
  }
});
