// BN's numerics cases for every norm on its statistics core (LayerNorm, GroupNorm, InstanceNorm,
// Ghost BN), every backend: large offsets (where E[x²] − E[x]² in f32 fails) against a float64
// reference, a constant group (y = β exactly), NaN in one group stays in that group.
import { describe, expect, it } from 'vitest';
import { GhostBatchNorm2d, GroupNorm, init, InstanceNorm2d, LayerNorm, noGrad, tensor } from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbs, maxAbsDiff, randn } from './reference';

// As BN's numerics tests: y within 2e-4 (outputs are O(1)), dx within 2e-4 of the largest |dx|,
// dγ/dβ within 2e-4 of Σ|dy|, a running variance within 1e-5 relative.
const TOL_OUT = 2e-4;
const TOL_VAR_REL = 1e-5;
const EPS = 1e-5;

type Norm = LayerNorm | GroupNorm | InstanceNorm2d | GhostBatchNorm2d;
/** A norm, its input shape, and where each element goes: its normalized group and its affine index. */
interface Subject {
  name: string;
  shape: number[];
  make: () => Norm;
  group: (i: number) => number;
  chan: (i: number) => number;
}

const [N, C, H, W] = [6, 4, 12, 12],
  HW = H * W;
const SUBJECTS: Subject[] = [
  {
    name: 'LayerNorm([3, 96])',
    shape: [5, 3, 96],
    make: () => new LayerNorm([3, 96]),
    group: (i) => Math.floor(i / 288),
    chan: (i) => i % 288,
  },
  {
    name: 'GroupNorm(2, 4)',
    shape: [N, C, H, W],
    make: () => new GroupNorm(2, C),
    group: (i) => Math.floor(i / (2 * HW)),
    chan: (i) => Math.floor(i / HW) % C,
  },
  {
    name: 'InstanceNorm2d(4, affine, running stats)',
    shape: [N, C, H, W],
    make: () => new InstanceNorm2d(C, { affine: true, trackRunningStats: true, momentum: 1 }),
    group: (i) => Math.floor(i / HW),
    chan: (i) => Math.floor(i / HW) % C,
  },
  {
    name: 'GhostBatchNorm2d(4, virtualBatchSize 4)',
    shape: [N, C, H, W],
    make: () => new GhostBatchNorm2d(C, { virtualBatchSize: 4 }),
    group: (i) => Math.floor(i / (C * HW * 4)) * C + (Math.floor(i / HW) % C),
    chan: (i) => Math.floor(i / HW) % C,
  },
];

/** float64 forward and backward of y = γ[chan]·(x − μ[group])/√(σ²[group] + ε) + β[chan]. */
function reference(s: Subject, x: ArrayLike<number>, dy: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>) {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < x.length; i++) {
    const g = s.group(i);
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(i);
  }
  const y = new Float64Array(x.length),
    dx = new Float64Array(x.length),
    dgamma = new Float64Array(gamma.length),
    dbeta = new Float64Array(gamma.length);
  const vars = new Map<number, number>();
  for (const [g, ix] of groups) {
    const m = ix.reduce((p, i) => p + x[i], 0) / ix.length;
    const v = ix.reduce((p, i) => p + (x[i] - m) ** 2, 0) / ix.length;
    vars.set(g, v);
    const inv = 1 / Math.sqrt(v + EPS);
    let sg = 0,
      sgx = 0;
    for (const i of ix) {
      const xh = (x[i] - m) * inv,
        c = s.chan(i);
      y[i] = gamma[c] * xh + beta[c];
      dgamma[c] += dy[i] * xh;
      dbeta[c] += dy[i];
      sg += dy[i] * gamma[c];
      sgx += dy[i] * gamma[c] * xh;
    }
    const M = ix.length;
    for (const i of ix) dx[i] = (inv / M) * (M * dy[i] * gamma[s.chan(i)] - sg - (x[i] - m) * inv * sgx);
  }
  return { y, dx, dgamma, dbeta, vars };
}

function setup(s: Subject) {
  const m = s.make();
  const c = m.weight!.size;
  const gamma = randn(c, 44, 1, 0.2),
    beta = randn(c, 45);
  m.loadStateDict({ ...m.stateDict(), weight: gamma, bias: beta });
  return { m, gamma, beta };
}

const OFFSETS: [number, number][] = [
  [1e4, 0.1],
  [1e7, 1],
  [-5e5, 0.01],
  [1e18, 1e14],
];

for (const b of BACKENDS) {
  describe(`${b}: norms at large offsets`, () => {
    for (const s of SUBJECTS) {
      for (const [mean, std] of OFFSETS) {
        it(`${s.name}: mean ${mean}, std ${std}`, async () => {
          await init({ backend: b });
          const { m, gamma, beta } = setup(s);
          const size = s.shape.reduce((p, v) => p * v, 1);
          const x = randn(size, 42, mean, std),
            dy = randn(size, 43);
          using xt = tensor(x, s.shape);
          using y = noGrad(() => m.forward(xt));
          using dyt = tensor(dy, s.shape);
          using dx = m.backward(dyt);
          const ref = reference(s, x, dy, gamma, beta);
          expect(maxAbsDiff(y.toArray(), ref.y), 'y').toBeLessThanOrEqual(TOL_OUT);
          expect(maxAbsDiff(dx.toArray(), ref.dx), 'dx').toBeLessThanOrEqual(TOL_OUT * maxAbs(ref.dx));
          const absDy = dy.reduce((p, v) => p + Math.abs(v), 0);
          expect(maxAbsDiff(m.weight!.grad.toArray(), ref.dgamma), 'dγ').toBeLessThanOrEqual(TOL_OUT * absDy);
          expect(maxAbsDiff(m.bias!.grad.toArray(), ref.dbeta), 'dβ').toBeLessThanOrEqual(TOL_OUT * absDy);
          if (m instanceof InstanceNorm2d) {
            // momentum 1: the running variance is the batch's mean of the unbiased instance variances
            const rv = m.runningVar!.toArray();
            for (let c = 0; c < C; c++) {
              let want = 0;
              for (let n = 0; n < N; n++) want += (ref.vars.get(n * C + c)! * HW) / (HW - 1) / N;
              expect(Math.abs(rv[c] - want) / want, `running_var[${c}]`).toBeLessThanOrEqual(TOL_VAR_REL);
            }
          }
          m.dispose();
        });
      }
    }
  });

  describe(`${b}: a constant group, NaN in one group`, () => {
    for (const s of SUBJECTS) {
      it(`${s.name}: a constant group gives y = β exactly and the reference dx`, async () => {
        await init({ backend: b });
        const { m, gamma, beta } = setup(s);
        const size = s.shape.reduce((p, v) => p * v, 1);
        const x = randn(size, 5, 1e3, 3),
          dy = randn(size, 6);
        const g0 = s.group(0);
        for (let i = 0; i < size; i++) if (s.group(i) === g0) x[i] = 1e3 + 0.25;
        using xt = tensor(x, s.shape);
        using y = noGrad(() => m.forward(xt));
        using dyt = tensor(dy, s.shape);
        using dx = m.backward(dyt);
        const yv = y.toArray();
        for (let i = 0; i < size; i++) if (s.group(i) === g0) expect(yv[i], `y[${i}]`).toBe(beta[s.chan(i)]);
        const ref = reference(s, x, dy, gamma, beta);
        expect(maxAbsDiff(yv, ref.y), 'y').toBeLessThanOrEqual(TOL_OUT);
        expect(maxAbsDiff(dx.toArray(), ref.dx), 'dx').toBeLessThanOrEqual(TOL_OUT * maxAbs(ref.dx));
        m.dispose();
      });

      it(`${s.name}: NaN in one group stays in that group (y and dx)`, async () => {
        await init({ backend: b });
        const size = s.shape.reduce((p, v) => p * v, 1);
        const x = randn(size, 7),
          dy = randn(size, 8);
        const bad = s.group(size - 1); // the last group: a scalar tail on some paths
        const run = (data: Float32Array) => {
          const { m } = setup(s);
          using xt = tensor(data, s.shape);
          using y = noGrad(() => m.forward(xt));
          using dyt = tensor(dy, s.shape);
          using dx = m.backward(dyt);
          const r = [y.toArray(), dx.toArray()];
          m.dispose();
          return r;
        };
        const clean = run(x);
        const dirty = Float32Array.from(x);
        dirty[size - 1] = NaN;
        const [y, dx] = run(dirty);
        for (let i = 0; i < size; i++) {
          if (s.group(i) === bad) {
            expect(y[i], `y[${i}]`).toBeNaN();
            expect(dx[i], `dx[${i}]`).toBeNaN();
          } else {
            expect(y[i], `y[${i}]`).toBe(clean[0][i]);
            expect(dx[i], `dx[${i}]`).toBe(clean[1][i]);
          }
        }
      });
    }
  });
}
