// Backpropagation through time checked against central differences of a float64 reference written
// from PyTorch's equations (not from our kernels): RNN tanh/relu, LSTM and GRU, two layers, seven
// steps, initial states and unsorted lengths, every backend. The reference forward also checks our
// f32 forward, independently of the PyTorch fixtures.
import { describe, expect, it } from 'vitest';
import { F, GRU, init, LSTM, RNN, tensor, type Tensor } from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbs, randn } from './reference';

type Kind = 'rnn_tanh' | 'rnn_relu' | 'lstm' | 'gru';
const T = 7,
  N = 3,
  I = 3,
  H = 4,
  L = 2;
const LENGTHS = [7, 3, 5];
// central differences of the float64 reference with step 1e-6 err by ~1e-9 (truncation h², rounding
// 1e-16/h); our f32 gradients over 7 steps and 2 layers are within ~1e-6 of the float64 ones:
// 2e-5 of max(1, largest |gradient|) bounds both with room; 1e-5 for the forward values
const TOL_GRAD = 2e-5;
const TOL_FWD = 1e-5;
const STEP = 1e-6;

const sig = (v: number) => 1 / (1 + Math.exp(-v));
const GATES: Record<Kind, number> = { lstm: 4, gru: 3, rnn_tanh: 1, rnn_relu: 1 };

/** float64 forward, time-first; returns the loss Σ out·wo + Σ hN·wh (+ Σ cN·wc) and the outputs. */
function reference(kind: Kind, p: Record<string, Float64Array>, x: Float64Array, h0: Float64Array, c0: Float64Array, w: Float64Array[]) {
  const g = GATES[kind];
  let inp = x,
    inF = I;
  const out = new Float64Array(T * N * H),
    hN = new Float64Array(L * N * H),
    cN = new Float64Array(L * N * H);
  for (let l = 0; l < L; l++) {
    const wih = p[`weight_ih_l${l}`],
      whh = p[`weight_hh_l${l}`],
      bih = p[`bias_ih_l${l}`],
      bhh = p[`bias_hh_l${l}`];
    const h = h0.slice(l * N * H, (l + 1) * N * H),
      c = c0.slice(l * N * H, (l + 1) * N * H);
    const next = new Float64Array(T * N * H);
    for (let t = 0; t < T; t++) {
      const hNew = h.slice(),
        cNew = c.slice();
      for (let n = 0; n < N; n++) {
        if (t >= LENGTHS[n]) continue;
        // a[q] = W_ih x + b_ih, b[q] = W_hh h + b_hh for each gate row q
        const a = new Float64Array(g * H),
          b = new Float64Array(g * H);
        for (let q = 0; q < g * H; q++) {
          let s = bih[q],
            u = bhh[q];
          for (let k = 0; k < inF; k++) s += wih[q * inF + k] * inp[(t * N + n) * inF + k];
          for (let k = 0; k < H; k++) u += whh[q * H + k] * h[n * H + k];
          a[q] = s;
          b[q] = u;
        }
        for (let j = 0; j < H; j++) {
          const k = n * H + j;
          if (kind === 'lstm') {
            const i = sig(a[j] + b[j]),
              f = sig(a[H + j] + b[H + j]),
              gg = Math.tanh(a[2 * H + j] + b[2 * H + j]),
              o = sig(a[3 * H + j] + b[3 * H + j]);
            cNew[k] = f * c[k] + i * gg;
            hNew[k] = o * Math.tanh(cNew[k]);
          } else if (kind === 'gru') {
            const r = sig(a[j] + b[j]),
              z = sig(a[H + j] + b[H + j]),
              nn = Math.tanh(a[2 * H + j] + r * b[2 * H + j]);
            hNew[k] = (1 - z) * nn + z * h[k];
          } else {
            const v = a[j] + b[j];
            hNew[k] = kind === 'rnn_relu' ? Math.max(v, 0) : Math.tanh(v);
          }
          next[(t * N + n) * H + j] = hNew[k];
        }
      }
      h.set(hNew);
      c.set(cNew);
    }
    hN.set(h, l * N * H);
    cN.set(c, l * N * H);
    inp = next;
    inF = H;
  }
  out.set(inp);
  let loss = 0;
  out.forEach((v, i) => (loss += v * w[0][i]));
  hN.forEach((v, i) => (loss += v * w[1][i]));
  if (kind === 'lstm') cN.forEach((v, i) => (loss += v * w[2][i]));
  return { loss, out, hN, cN };
}

function build(kind: Kind): RNN | LSTM | GRU {
  if (kind === 'lstm') return new LSTM(I, H, { numLayers: L });
  if (kind === 'gru') return new GRU(I, H, { numLayers: L });
  return new RNN(I, H, { numLayers: L, nonlinearity: kind === 'rnn_relu' ? 'relu' : 'tanh' });
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  const scale = Math.max(1, maxAbs(want));
  for (let i = 0; i < want.length; i++)
    expect(Math.abs(got[i] - want[i]), `${what}[${i}]: ${got[i]} vs ${want[i]}`).toBeLessThanOrEqual(tol * scale);
}

for (const b of BACKENDS) {
  describe(`${b}: BPTT against central differences`, () => {
    for (const kind of ['rnn_tanh', 'rnn_relu', 'lstm', 'gru'] as const) {
      it(`${kind}: every parameter, the input and the initial states`, async () => {
        await init({ backend: b });
        const m = build(kind);
        const xs = randn(T * N * I, 3),
          hs = randn(L * N * H, 4, 0, 0.5),
          cs = randn(L * N * H, 5, 0, 0.5);
        const w = [randn(T * N * H, 6), randn(L * N * H, 7), randn(L * N * H, 8)].map((a) => Float64Array.from(a));
        const x = tensor(xs, [T, N, I]).keep(),
          h0 = tensor(hs, [L, N, H]).keep(),
          c0 = tensor(cs, [L, N, H]).keep();
        for (const t of [x, h0, c0]) t.requiresGrad = true;
        const r = m.forward(x, kind === 'lstm' ? { h0, c0 } : { h0 }, LENGTHS);
        const wt = (a: Float64Array, like: Tensor) => tensor(Float32Array.from(a), like.shape);
        let loss = F.add(F.sum(F.mul(r.output, wt(w[0], r.output))), F.sum(F.mul(r.hN, wt(w[1], r.hN))));
        if (r.cN) loss = F.add(loss, F.sum(F.mul(r.cN, wt(w[2], r.cN))));
        // the reference sees exactly the f32 values our layer holds
        const p: Record<string, Float64Array> = {};
        for (const [name, q] of m.namedParameters()) p[name] = Float64Array.from(q.toArray());
        const X = Float64Array.from(xs),
          H0 = Float64Array.from(hs),
          C0 = kind === 'lstm' ? Float64Array.from(cs) : new Float64Array(L * N * H);
        const ref = reference(kind, p, X, H0, C0, w);
        expectClose(r.output.toArray(), ref.out, TOL_FWD, 'output');
        expectClose(r.hN.toArray(), ref.hN, TOL_FWD, 'hN');
        if (r.cN) expectClose(r.cN.toArray(), ref.cN, TOL_FWD, 'cN');
        m.zeroGrad();
        loss.backward();
        const fd = (v: Float64Array) =>
          Float64Array.from(v, (_, i) => {
            const keep = v[i];
            v[i] = keep + STEP;
            const up = reference(kind, p, X, H0, C0, w).loss;
            v[i] = keep - STEP;
            const down = reference(kind, p, X, H0, C0, w).loss;
            v[i] = keep;
            return (up - down) / (2 * STEP);
          });
        for (const [name, q] of m.namedParameters()) expectClose(q.grad.toArray(), fd(p[name]), TOL_GRAD, `d${name}`);
        expectClose(x.grad!.toArray(), fd(X), TOL_GRAD, 'dx');
        expectClose(h0.grad!.toArray(), fd(H0), TOL_GRAD, 'dh0');
        if (kind === 'lstm') expectClose(c0.grad!.toArray(), fd(C0), TOL_GRAD, 'dc0');
        m.dispose();
        for (const t of [x, h0, c0]) t.dispose();
      });
    }
  });
}
