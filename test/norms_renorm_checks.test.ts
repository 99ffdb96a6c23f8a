// Batch Renorm's edges, every backend: BN's numerics cases (large offsets against the float64
// reference, a constant channel, NaN in one channel), bad options and inputs that throw a specific
// message and move no state, and an allocation failing anywhere that leaves nothing behind.
import { beforeAll, describe, expect, it } from 'vitest';
import { BatchRenorm1d, BatchRenorm2d, F, init, noGrad, tensor } from '../src/index';
import { BACKENDS, filled, throwsLike } from './helpers';
import { countAllocations, failEachAllocation } from './alloc_count';
import { maxAbs, maxAbsDiff, randn } from './reference';
import { renormRef } from './renorm_reference';

// As BN's numerics tests: y within 2e-4 (outputs are O(1)), dx within 2e-4 of the largest |dx|,
// dγ/dβ within 2e-4 of Σ|dy|.
const TOL_OUT = 2e-4;
const EPS = 1e-5;
const [N, C, H, W] = [6, 4, 12, 12];
const SHAPE = [N, C, H, W],
  SIZE = N * C * H * W;
const OPTS = { eps: EPS, rMax: 2, dMax: 1, momentum: 0.1 };

/** A layer with γ, β and running statistics `mean + 0.3·std`, `(1.3·std)²` per channel, so r and d are O(1). */
function setup(mean: number, std: number) {
  const m = new BatchRenorm2d(C, { rMax: OPTS.rMax, dMax: OPTS.dMax, warmup: null });
  const gamma = randn(C, 44, 1, 0.2),
    beta = randn(C, 45);
  const rm = Array.from({ length: C }, (_, c) => mean + (0.3 + 0.1 * c) * std),
    rv = Array.from({ length: C }, (_, c) => (std * (1.3 - 0.2 * c)) ** 2);
  m.loadStateDict({ ...m.stateDict(), weight: gamma, bias: beta, running_mean: rm, running_var: rv });
  // the reference starts from the running statistics as the layer holds them (f32)
  const sd = m.stateDict();
  const run = { mean: Float64Array.from(sd.running_mean!), var: Float64Array.from(sd.running_var!), count: 0 };
  return { m, gamma, beta, run };
}

const OFFSETS: [number, number][] = [
  [1e4, 0.1],
  [1e7, 1],
  [-5e5, 0.01],
  [1e18, 1e14],
];
const channelOf = (i: number) => Math.floor(i / (H * W)) % C;

for (const b of BACKENDS) {
  describe(`${b}: Batch Renorm numerics`, () => {
    for (const [mean, std] of OFFSETS) {
      it(`mean ${mean}, std ${std}: the reference, and the running statistics`, async () => {
        await init({ backend: b });
        const { m, gamma, beta, run } = setup(mean, std);
        const x = randn(SIZE, 42, mean, std),
          dy = randn(SIZE, 43);
        using xt = tensor(x, SHAPE);
        using y = noGrad(() => m.forward(xt));
        using dyt = tensor(dy, SHAPE);
        using dx = m.backward(dyt);
        const ref = renormRef(x, dy, 'NCHW', SHAPE, OPTS, gamma, beta, run);
        expect(ref.r.some((r) => r !== 1) && ref.d.some((d) => d !== 0), 'r and d are not the identity').toBe(true);
        expect(maxAbsDiff(y.toArray(), ref.y), 'y').toBeLessThanOrEqual(TOL_OUT);
        expect(maxAbsDiff(dx.toArray(), ref.dx), 'dx').toBeLessThanOrEqual(TOL_OUT * maxAbs(ref.dx));
        const absDy = dy.reduce((p, v) => p + Math.abs(v), 0);
        expect(maxAbsDiff(m.weight!.grad.toArray(), ref.dgamma), 'dγ').toBeLessThanOrEqual(TOL_OUT * absDy);
        expect(maxAbsDiff(m.bias!.grad.toArray(), ref.dbeta), 'dβ').toBeLessThanOrEqual(TOL_OUT * absDy);
        const rv = m.runningVar!.toArray();
        for (let c = 0; c < C; c++) expect(Math.abs(rv[c] - run.var[c]) / run.var[c], `running_var[${c}]`).toBeLessThanOrEqual(1e-5);
        m.dispose();
      });
    }

    it('a constant channel with its running mean at its value: y = β exactly (d = 0), the reference dx', async () => {
      await init({ backend: b });
      const { m, gamma, beta } = setup(1e3, 3);
      const x = randn(SIZE, 5, 1e3, 3),
        dy = randn(SIZE, 6);
      for (let i = 0; i < SIZE; i++) if (channelOf(i) === 0) x[i] = 1e3 + 0.25;
      const sd = m.stateDict();
      sd.running_mean![0] = 1e3 + 0.25;
      m.loadStateDict(sd);
      const run = { mean: Float64Array.from(sd.running_mean!), var: Float64Array.from(sd.running_var!), count: 0 };
      using xt = tensor(x, SHAPE);
      using y = noGrad(() => m.forward(xt));
      using dyt = tensor(dy, SHAPE);
      using dx = m.backward(dyt);
      const yv = y.toArray();
      for (let i = 0; i < SIZE; i++) if (channelOf(i) === 0) expect(yv[i], `y[${i}]`).toBe(beta[0]);
      const ref = renormRef(x, dy, 'NCHW', SHAPE, OPTS, gamma, beta, run);
      expect(maxAbsDiff(yv, ref.y), 'y').toBeLessThanOrEqual(TOL_OUT);
      expect(maxAbsDiff(dx.toArray(), ref.dx), 'dx').toBeLessThanOrEqual(TOL_OUT * maxAbs(ref.dx));
      m.dispose();
    });

    it('NaN in one channel stays in that channel (y, dx, running statistics)', async () => {
      await init({ backend: b });
      const x = randn(SIZE, 7),
        dy = randn(SIZE, 8);
      const run = (data: Float32Array) => {
        const { m } = setup(0, 1);
        using xt = tensor(data, SHAPE);
        using y = noGrad(() => m.forward(xt));
        using dyt = tensor(dy, SHAPE);
        using dx = m.backward(dyt);
        const r = [y.toArray(), dx.toArray(), m.runningMean!.toArray(), m.runningVar!.toArray()];
        m.dispose();
        return r;
      };
      const clean = run(x);
      const dirty = Float32Array.from(x);
      dirty[SIZE - 1] = NaN; // the last channel: a scalar tail on some paths
      const got = run(dirty);
      const bad = channelOf(SIZE - 1);
      for (let i = 0; i < SIZE; i++) {
        const inBad = channelOf(i) === bad;
        for (const k of [0, 1]) {
          if (inBad) expect(got[k][i], `${k ? 'dx' : 'y'}[${i}]`).toBeNaN();
          else expect(got[k][i], `${k ? 'dx' : 'y'}[${i}]`).toBe(clean[k][i]);
        }
      }
      for (const k of [2, 3])
        for (let c = 0; c < C; c++) {
          if (c === bad) expect(got[k][c]).toBeNaN();
          else expect(got[k][c]).toBe(clean[k][c]);
        }
    });
  });

  describe(`${b}: Batch Renorm rejects bad arguments`, () => {
    beforeAll(async () => {
      await init({ backend: b });
    });

    it('constructors', () => {
      const bad: [() => unknown, new (...a: never[]) => Error, RegExp][] = [
        [
          () => new BatchRenorm1d(3, { trackRunningStats: false as never }),
          TypeError,
          /^BatchRenorm1d: trackRunningStats: Batch Renormalization corrects towards the running statistics; expected true, got false$/,
        ],
        [() => new BatchRenorm2d(3, { rMax: 0.5 }), RangeError, /^BatchRenorm2d: rMax: expected a number ≥ 1, got number 0\.5$/],
        [() => new BatchRenorm2d(3, { rMax: NaN }), RangeError, /^BatchRenorm2d: rMax: expected a number ≥ 1, got number NaN$/],
        [() => new BatchRenorm2d(3, { dMax: -1 }), RangeError, /^BatchRenorm2d: dMax: expected a number ≥ 0, got number -1$/],
        [() => new BatchRenorm2d(3, { dMax: '1' as never }), RangeError, /^BatchRenorm2d: dMax: expected a number ≥ 0, got '1'$/],
        [
          () => new BatchRenorm2d(3, { warmup: { hold: -1 } }),
          RangeError,
          /^BatchRenorm2d: warmup\.hold: expected an integer ≥ 0, got number -1$/,
        ],
        [
          () => new BatchRenorm2d(3, { warmup: { rMaxAt: 10 } }),
          RangeError,
          /^BatchRenorm2d: warmup\.rMaxAt: expected an integer ≥ 5000, got number 10$/,
        ],
        [
          () => new BatchRenorm2d(3, { warmup: { hold: 2, dMaxAt: 2.5 } }),
          RangeError,
          /^BatchRenorm2d: warmup\.dMaxAt: expected an integer ≥ 2, got number 2\.5$/,
        ],
        [
          () => new BatchRenorm2d(3, { warmup: { steps: 3 } as never }),
          TypeError,
          /^BatchRenorm2d: warmup: unknown option 'steps' \(expected one of hold, rMaxAt, dMaxAt\)$/,
        ],
        [
          () => new BatchRenorm2d(3, { warmup: 5 as never }),
          TypeError,
          /^BatchRenorm2d: warmup: options: expected an object, got number 5$/,
        ],
        [() => new BatchRenorm2d(0), RangeError, /^BatchRenorm2d: numFeatures: expected a positive integer, got number 0$/],
        [() => new BatchRenorm2d(3, { layout: 'NCL' as never }), TypeError, /^BatchRenorm2d: layout: /],
      ];
      for (const [fn, cls, re] of bad) throwsLike(fn, cls, re);
      const m = new BatchRenorm1d(2);
      throwsLike(() => m.limitsAt(-1), RangeError, /^BatchRenorm1d\.limitsAt: step: expected a non-negative integer, got number -1$/);
      expect(m.limitsAt(40000)).toEqual({ rMax: 3, dMax: 5 }); // the paper's ends
      expect(m.limitsAt(5000)).toEqual({ rMax: 1, dMax: 0 });
      m.dispose();
    });

    it('forward and backward: a specific message, and no state moved', () => {
      const m = new BatchRenorm1d(3, { warmup: null });
      const before = m.stateDict();
      throwsLike(() => m.backward(tensor(new Float32Array(6), [2, 3])), Error, /^BatchRenorm1d\.backward: call forward\(\) first$/);
      using one = tensor(randn(3, 1), [1, 3]);
      throwsLike(
        () => m.forward(one),
        RangeError,
        /^BatchRenorm1d\.forward: expected more than 1 value per channel when training, got input size \[1, 3\]$/,
      );
      using four = filled([2, 4], 1);
      throwsLike(() => m.forward(four), RangeError, /^BatchRenorm1d\.forward: input: expected a rank-2 NC tensor with 3 channels/);
      expect(m.stateDict()).toEqual(before);
      using x = filled([4, 3], 2);
      noGrad(() => m.forward(x)).dispose();
      using dy = filled([4, 2], 3);
      throwsLike(
        () => m.backward(dy),
        RangeError,
        /^BatchRenorm1d\.backward: gradOutput: expected shape \[4, 3\] \(the last input's\), got \[4, 2\]$/,
      );
      m.eval();
      noGrad(() => m.forward(one)).dispose(); // eval is BN's: running statistics, any batch
      m.dispose();
    });

    it("F.batchRenorm: its own checks, and batchNorm's", () => {
      using x = filled([4, 3], 1);
      using rm = tensor(new Float32Array(3));
      using rv = tensor(new Float32Array(3).fill(1));
      const bad: [() => unknown, new (...a: never[]) => Error, RegExp][] = [
        [
          () => F.batchRenorm(x, rm, rv, { training: true, rMax: 0 }),
          RangeError,
          /^batchRenorm: rMax: expected a number ≥ 1, got number 0$/,
        ],
        [
          () => F.batchRenorm(x, rm, rv, { training: true, dMax: -0.5 }),
          RangeError,
          /^batchRenorm: dMax: expected a number ≥ 0, got number -0\.5$/,
        ],
        [
          () => F.batchRenorm(x, null, null, { training: true }),
          TypeError,
          /^batchRenorm: runningMean\/runningVar: required \(r and d are taken against them\)$/,
        ],
        [
          () => F.batchRenorm(x, rm, null, { training: true }),
          TypeError,
          /^batchRenorm: runningMean and runningVar: give both or neither$/,
        ],
        [() => F.batchRenorm(x, rm, rv, { clip: 3 } as never), TypeError, /^batchRenorm: unknown option 'clip'/],
        [
          () => F.batchRenorm(x, rm, rv, { training: true, weight: tensor(new Float32Array(2)) }),
          RangeError,
          /^batchRenorm: weight: expected shape \[3\], got \[2\]$/,
        ],
      ];
      for (const [fn, cls, re] of bad) throwsLike(fn, cls, re);
      expect(Array.from(rm.toArray())).toEqual([0, 0, 0]);
      expect(Array.from(rv.toArray())).toEqual([1, 1, 1]);
      const count = countAllocations();
      noGrad(() => F.batchRenorm(x, rm, rv, { training: true, rMax: 1.1, dMax: 0.1 })).dispose();
      const live = count.live();
      count.stop();
      expect(live, 'nothing left behind without the tape').toBe(0);
    });

    it('an allocation failing anywhere in a forward or backward moves no state and leaves nothing allocated', () => {
      for (const warmup of [null, undefined]) {
        const m = new BatchRenorm2d(4, { warmup, rMax: 1.5, dMax: 0.5 });
        using x = filled([5, 4, 2, 3], 7);
        using dy = filled([5, 4, 2, 3], 8);
        failEachAllocation(m, x, dy, `warmup ${warmup}`);
        m.dispose();
      }
    });
  });
}
