// GroupNorm's two-pass backward (groupNormBackward in assembly/rownorm.ts, src/js/rownorm.ts): every
// backend against a float64 reference at run lengths with every SIMD tail, the relaxed build equal
// to SIMD bit for bit, and large offsets. (The JS backend's group statistics come from its BN
// forward, an exact two-pass mean where the builds use shifted sums, so JS is held to TOL_SIMD too.)
import { describe, expect, it } from 'vitest';
import { GroupNorm, init, noGrad, tensor } from '../src/index';
import { BACKENDS, bits } from './helpers';
import { maxAbs, maxAbsDiff, randn } from './reference';

// dx against the largest of its terms invstd·|γ·dy| (f32 products and sums of ≤ 32 terms a lane
// before f64); dγ, dβ against Σ|dy| of a channel.
const TOL = 5e-5;
// SIMD and JS against scalar: f32 partial sums against f64 ones, statistics that differ in the last bits.
const TOL_SIMD = 1e-5;
const EPS = 1e-5;

/** float64 GroupNorm backward of x [n, c, l] in `groups`: dx, dγ, dβ, and the scale of dx's terms. */
function reference(x: Float32Array, dy: Float32Array, gamma: Float32Array, n: number, c: number, l: number, groups: number) {
  const per = c / groups,
    len = per * l;
  const dx = new Float64Array(x.length),
    dgamma = new Float64Array(c),
    dbeta = new Float64Array(c);
  let term = 0;
  for (let r = 0; r < n * groups; r++) {
    const o = r * len,
      ch0 = (r % groups) * per;
    let m = 0;
    for (let j = 0; j < len; j++) m += x[o + j];
    m /= len;
    let v = 0;
    for (let j = 0; j < len; j++) v += (x[o + j] - m) ** 2;
    const inv = 1 / Math.sqrt(v / len + EPS);
    let sg = 0,
      sgx = 0;
    for (let j = 0; j < len; j++) {
      const ch = ch0 + Math.floor(j / l),
        xh = (x[o + j] - m) * inv,
        g = gamma[ch] * dy[o + j];
      dgamma[ch] += dy[o + j] * xh;
      dbeta[ch] += dy[o + j];
      sg += g;
      sgx += g * xh;
      term = Math.max(term, inv * Math.abs(g));
    }
    for (let j = 0; j < len; j++) {
      const ch = ch0 + Math.floor(j / l);
      dx[o + j] = (inv / len) * (len * gamma[ch] * dy[o + j] - sg - (x[o + j] - m) * inv * sgx);
    }
  }
  return { dx, dgamma, dbeta, term };
}

/** GroupNorm(groups, c) forward then backward(dy) on `backend`: dx, dγ, dβ. */
async function run(backend: (typeof BACKENDS)[number], x: Float32Array, dy: Float32Array, shape: number[], groups: number) {
  await init({ backend });
  const c = shape[1];
  const m = new GroupNorm(groups, c);
  m.loadStateDict({ weight: randn(c, 51, 1, 0.3), bias: randn(c, 52) });
  using xt = tensor(x, shape);
  using _y = noGrad(() => m.forward(xt));
  using dyt = tensor(dy, shape);
  using dx = m.backward(dyt);
  const out = { dx: dx.toArray(), dgamma: m.weight!.grad.toArray(), dbeta: m.bias!.grad.toArray() };
  m.dispose();
  return out;
}

// [n, c, l, groups]: runs of 1, 3, 5, 63, 65 values (every tail), one and several channels a group
const CASES: [number, number, number, number][] = [
  [3, 4, 1, 2],
  [2, 6, 3, 3],
  [2, 4, 5, 1],
  [3, 8, 63, 4],
  [2, 6, 65, 2],
  [2, 4, 65, 4],
];

describe('GroupNorm backward: every backend against float64', () => {
  for (const b of BACKENDS) {
    for (const [mean, std] of [
      [0.5, 2],
      [1e4, 0.1],
    ]) {
      it(`${b}: runs of 1, 3, 5, 63, 65 values, mean ${mean}, std ${std}`, async () => {
        for (const [n, c, l, groups] of CASES) {
          const size = n * c * l,
            x = randn(size, size, mean, std),
            dy = randn(size, size + 1);
          const got = await run(b, x, dy, [n, c, l], groups);
          const ref = reference(x, dy, randn(c, 51, 1, 0.3), n, c, l, groups);
          const absDy = maxAbs(dy) * n * l;
          expect(maxAbsDiff(got.dx, ref.dx), `dx ${[n, c, l, groups]}`).toBeLessThanOrEqual(TOL * ref.term);
          expect(maxAbsDiff(got.dgamma, ref.dgamma), `dγ ${[n, c, l, groups]}`).toBeLessThanOrEqual(TOL * absDy);
          expect(maxAbsDiff(got.dbeta, ref.dbeta), `dβ ${[n, c, l, groups]}`).toBeLessThanOrEqual(TOL * absDy);
        }
      });
    }
  }
});

describe('GroupNorm backward: backends against each other', () => {
  for (const [n, c, l, groups] of CASES) {
    it(`[${n}, ${c}, ${l}] in ${groups} groups: relaxed = SIMD bit for bit; SIMD and JS within ${TOL_SIMD} of scalar`, async () => {
      const size = n * c * l,
        x = randn(size, 3 * size, 2, 1.5),
        dy = randn(size, 3 * size + 1);
      const r: Record<string, Awaited<ReturnType<typeof run>>> = {};
      for (const b of BACKENDS) r[b] = await run(b, x, dy, [n, c, l], groups);
      for (const k of ['dx', 'dgamma', 'dbeta'] as const) {
        expect(bits(r['wasm-relaxed'][k]), `relaxed ${k}`).toEqual(bits(r['wasm-simd'][k]));
        const scale = Math.max(maxAbs(r.wasm[k]), k === 'dx' ? 1 : maxAbs(dy) * n * l);
        expect(maxAbsDiff(r['wasm-simd'][k], r.wasm[k]), `simd ${k}`).toBeLessThanOrEqual(TOL_SIMD * scale);
        expect(maxAbsDiff(r.js[k], r.wasm[k]), `js ${k}`).toBeLessThanOrEqual(TOL_SIMD * scale);
      }
    });
  }
});
