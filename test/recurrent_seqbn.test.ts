// Sequence-wise Batch Normalization (Laurent et al. 2016; Deep Speech 2): BN of each layer's x·W_ihᵀ
// with statistics over batch and time, padded steps excluded. Against a float64 reference written
// from the paper's equations (BN over the valid rows of the projection, then the LSTM cell): the
// forward in training and eval mode, the running statistics, the gradients of every parameter (BN's
// γ and β included) and of the input by central differences; padded values change nothing; the
// state_dict names; every backend.
import { describe, expect, it } from 'vitest';
import { F, Generator, GRU, init, LSTM, noGrad, SGD, tensor } from '../src/index';
import { BACKENDS, bits } from './helpers';
import { maxAbs, randn } from './reference';

const T = 5,
  N = 3,
  I = 3,
  H = 4,
  G = 4 * H,
  EPS = 1e-5;
const LENGTHS = [5, 2, 4];
// f32 against float64: 2e-5 of the largest |value| (the BN divides by σ of a few hundred rows' f32
// projections); central differences (step 1e-6) of the float64 reference err by ~1e-9
const TOL = 2e-5;
const STEP = 1e-6;
const sig = (v: number) => 1 / (1 + Math.exp(-v));

interface Params {
  wih: Float64Array;
  whh: Float64Array;
  bih: Float64Array;
  bhh: Float64Array;
  gamma: Float64Array;
  beta: Float64Array;
}

/** float64 LSTM with sequence-wise BN; `stats` null: the batch's (valid rows), else the given mean/var. */
function reference(p: Params, x: Float64Array, w: Float64Array, stats: { mean: Float64Array; vari: Float64Array } | null) {
  const valid = (t: number, n: number) => t < LENGTHS[n];
  const proj = new Float64Array(T * N * G);
  for (let r = 0; r < T * N; r++)
    for (let q = 0; q < G; q++) {
      let s = 0;
      for (let k = 0; k < I; k++) s += p.wih[q * I + k] * x[r * I + k];
      proj[r * G + q] = s;
    }
  const mean = new Float64Array(G),
    vari = new Float64Array(G);
  let M = 0;
  for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) if (valid(t, n)) M++;
  for (let q = 0; q < G; q++) {
    let s = 0;
    for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) if (valid(t, n)) s += proj[(t * N + n) * G + q];
    mean[q] = s / M;
    let v = 0;
    for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) if (valid(t, n)) v += (proj[(t * N + n) * G + q] - mean[q]) ** 2;
    vari[q] = v / M;
  }
  const mu = stats?.mean ?? mean,
    va = stats?.vari ?? vari;
  const h = new Float64Array(N * H),
    c = new Float64Array(N * H),
    out = new Float64Array(T * N * H);
  for (let t = 0; t < T; t++) {
    const hn = h.slice(),
      cn = c.slice();
    for (let n = 0; n < N; n++) {
      if (!valid(t, n)) continue;
      const a = new Float64Array(G);
      for (let q = 0; q < G; q++) {
        let u = p.bhh[q] + p.bih[q] + ((proj[(t * N + n) * G + q] - mu[q]) / Math.sqrt(va[q] + EPS)) * p.gamma[q] + p.beta[q];
        for (let k = 0; k < H; k++) u += p.whh[q * H + k] * h[n * H + k];
        a[q] = u;
      }
      for (let j = 0; j < H; j++) {
        const k = n * H + j;
        const i = sig(a[j]),
          f = sig(a[H + j]),
          g = Math.tanh(a[2 * H + j]),
          o = sig(a[3 * H + j]);
        cn[k] = f * c[k] + i * g;
        hn[k] = o * Math.tanh(cn[k]);
        out[(t * N + n) * H + j] = hn[k];
      }
    }
    h.set(hn);
    c.set(cn);
  }
  let loss = 0;
  out.forEach((v, i) => (loss += v * w[i]));
  return { loss, out, mean, vari, M };
}

function close(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  const s = Math.max(1, maxAbs(want));
  for (let i = 0; i < want.length; i++)
    expect(Math.abs(got[i] - want[i]), `${what}[${i}]: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(TOL * s);
}

for (const b of BACKENDS) {
  describe(`${b}: sequence-wise BN in an LSTM`, () => {
    it('forward, running statistics and every gradient against float64; padding excluded; eval mode', async () => {
      await init({ backend: b });
      const m = new LSTM(I, H, { norm: 'sequence-bn', generator: new Generator(2) });
      expect(Object.keys(m.stateDict())).toEqual([
        'weight_ih_l0',
        'weight_hh_l0',
        'bias_ih_l0',
        'bias_hh_l0',
        'bn_ih_l0.weight',
        'bn_ih_l0.bias',
        'bn_ih_l0.running_mean',
        'bn_ih_l0.running_var',
        'bn_ih_l0.num_batches_tracked',
      ]);
      m.loadStateDict({ 'bn_ih_l0.weight': randn(G, 3, 1, 0.3), 'bn_ih_l0.bias': randn(G, 4, 0, 0.3) }, { strict: false });
      const sd = m.stateDict();
      const f64 = (k: string) => Float64Array.from(sd[k] as Float32Array);
      const p: Params = {
        wih: f64('weight_ih_l0'),
        whh: f64('weight_hh_l0'),
        bih: f64('bias_ih_l0'),
        bhh: f64('bias_hh_l0'),
        gamma: f64('bn_ih_l0.weight'),
        beta: f64('bn_ih_l0.bias'),
      };
      const xs = randn(T * N * I, 5, 0.5, 2);
      const w = Float64Array.from(randn(T * N * H, 6));
      const x = tensor(xs, [T, N, I]).keep();
      x.requiresGrad = true;
      const r = m.forward(x, null, LENGTHS);
      const X = Float64Array.from(xs);
      const ref = reference(p, X, w, null);
      const out0 = r.output.toArray();
      close(out0, ref.out, 'output');
      // running statistics: momentum 0.1 from (0, 1), the unbiased variance over the M valid rows
      const after = m.stateDict();
      close(
        after['bn_ih_l0.running_mean'] as Float32Array,
        Array.from(ref.mean, (v) => 0.1 * v),
        'running_mean',
      );
      close(
        after['bn_ih_l0.running_var'] as Float32Array,
        Array.from(ref.vari, (v) => 0.9 + (0.1 * v * ref.M) / (ref.M - 1)),
        'running_var',
      );
      expect(after['bn_ih_l0.num_batches_tracked']).toBe(1);
      m.zeroGrad();
      F.sum(F.mul(r.output, tensor(Float32Array.from(w), [T, N, H]))).backward();
      const fd = (v: Float64Array) =>
        Float64Array.from(v, (_, i) => {
          const keep = v[i];
          v[i] = keep + STEP;
          const up = reference(p, X, w, null).loss;
          v[i] = keep - STEP;
          const down = reference(p, X, w, null).loss;
          v[i] = keep;
          return (up - down) / (2 * STEP);
        });
      const grads = Object.fromEntries(m.namedParameters().map(([n, q]) => [n, q.grad.toArray()]));
      close(grads.weight_ih_l0, fd(p.wih), 'dW_ih');
      close(grads.weight_hh_l0, fd(p.whh), 'dW_hh');
      close(grads.bias_ih_l0, fd(p.bih), 'db_ih');
      close(grads.bias_hh_l0, fd(p.bhh), 'db_hh');
      close(grads['bn_ih_l0.weight'], fd(p.gamma), 'dγ');
      close(grads['bn_ih_l0.bias'], fd(p.beta), 'dβ');
      close(x.grad!.toArray(), fd(X), 'dx');

      // padded steps: other values there change neither the output nor the statistics
      const padded = xs.slice();
      for (let t = 0; t < T; t++) for (let n = 0; n < N; n++) if (t >= LENGTHS[n]) padded.fill(100, (t * N + n) * I, (t * N + n + 1) * I);
      const m2 = new LSTM(I, H, { norm: 'sequence-bn', generator: new Generator(2) });
      m2.loadStateDict(sd);
      const o1 = noGrad(() => m2.forward(tensor(padded, [T, N, I]), null, LENGTHS).output.toArray());
      expect(bits(o1)).toEqual(bits(out0));
      expect(bits(m2.stateDict()['bn_ih_l0.running_mean'] as Float32Array)).toEqual(bits(after['bn_ih_l0.running_mean'] as Float32Array));

      // eval mode normalizes with the running statistics
      m.eval();
      const ev = noGrad(() => m.forward(x, null, LENGTHS).output.toArray());
      const st = m.stateDict();
      const evRef = reference(p, X, w, {
        mean: Float64Array.from(st['bn_ih_l0.running_mean'] as Float32Array),
        vari: Float64Array.from(st['bn_ih_l0.running_var'] as Float32Array),
      });
      close(ev, evRef.out, 'eval output');
      for (const t of [m, m2, x] as { dispose(): void }[]) t.dispose();
    });

    it('without lengths, a two-layer GRU with sequence-wise BN trains and prints its setting', async () => {
      await init({ backend: b });
      const m = new GRU(I, H, { numLayers: 2, norm: 'sequence-bn', generator: new Generator(7) });
      expect(m.toString()).toMatch(
        /^GRU\(3, 4, numLayers=2, norm='sequence-bn'\n {2}\(bn_ih_l0\): BatchNorm1d\(numFeatures=12, .*\n {2}\(bn_ih_l1\): BatchNorm1d\(numFeatures=12, .*\n\)$/,
      );
      const opt = new SGD(m.parameters(), { lr: 0.2 });
      const x = tensor(randn(T * N * I, 9), [T, N, I]).keep();
      const target = tensor(new Float32Array(T * N * H).fill(0.25), [T, N, H]).keep();
      const losses: number[] = [];
      for (let s = 0; s < 30; s++) {
        opt.zeroGrad();
        const loss = F.mseLoss(m.forward(x).output, target);
        loss.backward();
        opt.step();
        losses.push(loss.item());
      }
      expect(losses[29]).toBeLessThan(losses[0] * 0.5);
      for (const t of [m, x, target] as { dispose(): void }[]) t.dispose();
    });
  });
}
