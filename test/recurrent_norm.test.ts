// The BN-LSTM (norm 'recurrent-bn') and the LN-LSTM (norm 'layer') against a float64 reference
// written from the papers' equations (test/recurrent_norm_reference.ts): forward, backpropagation
// through time against central differences (every parameter, γ and β, the input, the initial
// states), lengths, batchFirst, two layers, running statistics per step, eval past tMax, every backend.
import { describe, expect, it } from 'vitest';
import { F, init, LSTM, noGrad, tensor, type Tensor } from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbs, randn } from './reference';
import { freshRunning, referenceNormLSTM, type RefConfig } from './recurrent_norm_reference';

const T = 5,
  N = 4,
  I = 3,
  H = 3,
  L = 2;
// f32 forward through BN's division by σ over 4 rows and 5 steps, 2 layers: within ~1e-6 of f64;
// gradients through the batch statistics amplify rounding by 1/σ: 1e-4 of max(1, |largest|) bounds both.
// Central differences of the f64 reference with step 1e-6 are exact to ~1e-9.
const TOL_FWD = 2e-5;
const TOL_GRAD = 1e-4;
const STEP = 1e-6;

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  const scale = Math.max(1, maxAbs(want));
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++)
    expect(Math.abs(got[i] - want[i]), `${what}[${i}]: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol * scale);
}

/** A stack with every parameter (γ and β too) set to seeded random values, and the reference's copy. */
function build(norm: 'recurrent-bn' | 'layer', options: { batchFirst?: boolean; tMax?: number } = {}) {
  const m = new LSTM(I, H, { numLayers: L, norm, ...options });
  const p: Record<string, Float64Array> = {};
  let seed = 40;
  for (const [name, q] of m.namedParameters()) {
    const v = Float32Array.from(randn(q.size, seed++, name.includes('weight') && !name.startsWith('weight') ? 1 : 0, 0.5));
    q.view().set(v);
    p[name] = Float64Array.from(v);
  }
  return { m, p };
}

const CASES = [
  { norm: 'recurrent-bn', lengths: null, batchFirst: false },
  { norm: 'recurrent-bn', lengths: [5, 2, 5, 3], batchFirst: true },
  { norm: 'layer', lengths: null, batchFirst: true },
  { norm: 'layer', lengths: [3, 5, 2, 5], batchFirst: false },
] as const;

for (const b of BACKENDS) {
  describe(`${b}: normalized LSTMs against the float64 reference`, () => {
    for (const cs of CASES) {
      const what = `${cs.norm}${cs.lengths ? ', lengths' : ''}${cs.batchFirst ? ', batchFirst' : ''}`;
      it(`${what}: forward and BPTT (weights, γ/β, input, h0, c0) against central differences`, async () => {
        await init({ backend: b });
        const { m, p } = build(cs.norm, { batchFirst: cs.batchFirst });
        const cfg: RefConfig = { norm: cs.norm, T, N, I, H, L, lengths: cs.lengths, training: true, tMax: T };
        const xs = randn(T * N * I, 3),
          hs = randn(L * N * H, 4, 0, 0.5),
          ccs = randn(L * N * H, 5, 0, 0.5);
        const w = [randn(T * N * H, 6), randn(L * N * H, 7), randn(L * N * H, 8)].map((a) => Float64Array.from(a));
        // the layer takes [N, T, I] with batchFirst: the same values moved
        const xIn = new Float32Array(T * N * I);
        for (let t = 0; t < T; t++)
          for (let n = 0; n < N; n++)
            for (let k = 0; k < I; k++) xIn[cs.batchFirst ? (n * T + t) * I + k : (t * N + n) * I + k] = xs[(t * N + n) * I + k];
        const x = tensor(xIn, cs.batchFirst ? [N, T, I] : [T, N, I]).keep(),
          h0 = tensor(hs, [L, N, H]).keep(),
          c0 = tensor(ccs, [L, N, H]).keep();
        for (const t of [x, h0, c0]) t.requiresGrad = true;
        const r = m.forward(x, { h0, c0 }, cs.lengths);
        const out = cs.batchFirst ? F.reshape(r.output, [N, T, H]) : r.output;
        const wo = new Float32Array(T * N * H);
        for (let t = 0; t < T; t++)
          for (let n = 0; n < N; n++)
            for (let j = 0; j < H; j++) wo[cs.batchFirst ? (n * T + t) * H + j : (t * N + n) * H + j] = w[0][(t * N + n) * H + j];
        const wt = (a: ArrayLike<number>, like: Tensor) => tensor(Float32Array.from(a), like.shape);
        const loss = F.add(F.add(F.sum(F.mul(out, wt(wo, out))), F.sum(F.mul(r.hN, wt(w[1], r.hN)))), F.sum(F.mul(r.cN!, wt(w[2], r.cN!))));
        const X = Float64Array.from(xs),
          H0 = Float64Array.from(hs),
          C0 = Float64Array.from(ccs);
        const run = freshRunning(cfg);
        const ref = referenceNormLSTM(cfg, p, X, H0, C0, w, run);
        const got = r.output.toArray(),
          gotTF = new Float32Array(T * N * H);
        for (let t = 0; t < T; t++)
          for (let n = 0; n < N; n++)
            for (let j = 0; j < H; j++) gotTF[(t * N + n) * H + j] = got[cs.batchFirst ? (n * T + t) * H + j : (t * N + n) * H + j];
        expectClose(gotTF, ref.out, TOL_FWD, 'output');
        expectClose(r.hN.toArray(), ref.hN, TOL_FWD, 'hN');
        expectClose(r.cN!.toArray(), ref.cN, TOL_FWD, 'cN');
        if (cs.norm === 'recurrent-bn') {
          // one training forward moved each step's running statistics as the reference's
          const sd = m.stateDict();
          for (const [k, v] of Object.entries(run)) expectClose(sd[k] as Float32Array, v, TOL_FWD, k);
        }
        m.zeroGrad();
        loss.backward();
        const fd = (v: Float64Array) =>
          Float64Array.from(v, (_, i) => {
            const keep = v[i];
            v[i] = keep + STEP;
            const up = referenceNormLSTM(cfg, p, X, H0, C0, w, freshRunning(cfg)).loss;
            v[i] = keep - STEP;
            const down = referenceNormLSTM(cfg, p, X, H0, C0, w, freshRunning(cfg)).loss;
            v[i] = keep;
            return (up - down) / (2 * STEP);
          });
        for (const [name, q] of m.namedParameters()) expectClose(q.grad.toArray(), fd(p[name]), TOL_GRAD, `d${name}`);
        const dx = x.grad!.toArray(),
          dxTF = new Float32Array(T * N * I);
        for (let t = 0; t < T; t++)
          for (let n = 0; n < N; n++)
            for (let k = 0; k < I; k++) dxTF[(t * N + n) * I + k] = dx[cs.batchFirst ? (n * T + t) * I + k : (t * N + n) * I + k];
        expectClose(dxTF, fd(X), TOL_GRAD, 'dx');
        expectClose(h0.grad!.toArray(), fd(H0), TOL_GRAD, 'dh0');
        expectClose(c0.grad!.toArray(), fd(C0), TOL_GRAD, 'dc0');
        m.dispose();
        for (const t of [x, h0, c0]) t.dispose();
      });
    }

    it('recurrent-bn: running statistics per step over two training forwards, then eval past tMax uses the last step', async () => {
      await init({ backend: b });
      const tMax = 3;
      const { m, p } = build('recurrent-bn', { tMax });
      const cfg: RefConfig = { norm: 'recurrent-bn', T, N, I, H, L, lengths: null, training: true, tMax };
      const run = freshRunning(cfg);
      const w = [new Float64Array(T * N * H), new Float64Array(L * N * H), new Float64Array(L * N * H)];
      const zeros = new Float64Array(L * N * H);
      for (const seed of [11, 12]) {
        const xs = randn(T * N * I, seed);
        noGrad(() => m.forward(tensor(xs, [T, N, I])));
        referenceNormLSTM(cfg, p, Float64Array.from(xs), zeros, zeros, w, run);
      }
      const sd = m.stateDict();
      for (const [k, v] of Object.entries(run)) {
        expect((sd[k] as Float32Array).length, k).toBe(tMax * (k.includes('_c_') ? H : 4 * H));
        expectClose(sd[k] as Float32Array, v, TOL_FWD, k);
      }
      m.eval();
      const xs = randn(T * N * I, 13);
      const got = noGrad(() => m.forward(tensor(xs, [T, N, I])).output.toArray());
      const ref = referenceNormLSTM({ ...cfg, training: false }, p, Float64Array.from(xs), zeros, zeros, w, run);
      expectClose(got, ref.out, TOL_FWD, 'eval output');
      // eval with lengths: each step's running statistics for the rows still inside their sequence
      const lengths = [5, 1, 3, 2];
      const gotL = noGrad(() => m.forward(tensor(xs, [T, N, I]), null, lengths).output.toArray());
      const refL = referenceNormLSTM({ ...cfg, training: false, lengths }, p, Float64Array.from(xs), zeros, zeros, w, run);
      expectClose(gotL, refL.out, TOL_FWD, 'eval output with lengths');
      m.dispose();
    });

    it('recurrent-bn: tMax defaults to the first training sequence length; eval before training uses mean 0, variance 1', async () => {
      await init({ backend: b });
      const { m, p } = build('recurrent-bn');
      m.eval();
      const cfg: RefConfig = { norm: 'recurrent-bn', T, N, I, H, L, lengths: null, training: false, tMax: 1 };
      const xs = randn(T * N * I, 21);
      const zeros = new Float64Array(L * N * H);
      const w = [new Float64Array(T * N * H), zeros, zeros];
      const got = noGrad(() => m.forward(tensor(xs, [T, N, I])).output.toArray());
      expectClose(got, referenceNormLSTM(cfg, p, Float64Array.from(xs), zeros, zeros, w, freshRunning(cfg)).out, TOL_FWD, 'fresh eval');
      expect((m.stateDict()['bn_c_l0.running_mean'] as Float32Array).length).toBe(H);
      m.train();
      noGrad(() => m.forward(tensor(randn(4 * N * I, 22), [4, N, I])));
      expect((m.stateDict()['bn_c_l0.running_mean'] as Float32Array).length).toBe(4 * H);
      expect(m.toString()).toContain('tMax=4');
      // a longer training sequence: its steps past tMax use batch statistics and move no running row
      const before = m.stateDict();
      noGrad(() => m.forward(tensor(randn(6 * N * I, 23), [6, N, I])));
      expect(m.stateDict()['bn_c_l0.running_mean']).not.toEqual(before['bn_c_l0.running_mean']);
      expect((m.stateDict()['bn_c_l0.running_mean'] as Float32Array).length).toBe(4 * H);
      m.dispose();
    });
  });
}

describe('backends agree', () => {
  it('SIMD, relaxed, scalar and JS give the same BN-LSTM and LN-LSTM outputs within f32 rounding', async () => {
    const outs: Record<string, Float32Array[]> = {};
    for (const b of BACKENDS) {
      await init({ backend: b });
      outs[b] = [];
      for (const norm of ['recurrent-bn', 'layer'] as const) {
        const { m } = build(norm);
        const x = tensor(randn(T * N * I, 31), [T, N, I]);
        outs[b].push(noGrad(() => m.forward(x).output.toArray()));
        m.dispose();
        x.dispose();
      }
    }
    // not bit for bit: BN's statistics sum in another order in the SIMD build than in the scalar one, the
    // relaxed build's GEMM fuses multiply-adds, and the JS backend's norms and activations round apart
    for (const b of BACKENDS) for (let k = 0; k < 2; k++) expectClose(outs[b][k], outs['wasm'][k], 1e-5, `${b} ${k}`);
  });
});
