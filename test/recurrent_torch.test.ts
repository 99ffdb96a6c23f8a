// RNN (tanh, relu), LSTM and GRU against PyTorch (test/fixtures/gen_torch_recurrent.py →
// torch_recurrent.json), every backend: PyTorch's weights loaded by name into a fresh layer, then
// output, hN, cN, the gradient of a weighted sum of them for every parameter, the input and the
// initial states (through loss.backward(): full BPTT), and three SGD steps. Two layers, time-first
// and batch-first, with and without bias, initial states and (unsorted) lengths.
import fixture from './fixtures/torch_recurrent.json';
import { describe, expect, it } from 'vitest';
import { F, GRU, init, LSTM, RNN, SGD, tensor, type Tensor } from '../src/index';
import { BACKENDS } from './helpers';
import { maxAbs, maxAbsDiff } from './reference';

interface Case {
  kind: 'rnn_tanh' | 'rnn_relu' | 'lstm' | 'gru';
  numLayers: number;
  bias: boolean;
  batchFirst: boolean;
  lengths: number[] | null;
  state_keys: string[];
  init: Record<string, number[]>;
  x: number[];
  shape: number[];
  h0: number[] | null;
  c0: number[] | null;
  wo: number[];
  wh: number[];
  wc: number[] | null;
  output: number[];
  hN: number[];
  cN: number[] | null;
  loss: number;
  grads: Record<string, number[]>;
  dx: number[];
  dh0: number[] | null;
  dc0: number[] | null;
  sgd_losses: number[];
  sgd_final: Record<string, number[]>;
}
const { cases, I, H, N, steps, lr } = fixture as unknown as { cases: Case[]; I: number; H: number; N: number; steps: number; lr: number };

// Both sides compute in f32 with different summation orders (GEMM blocking) and different sigmoid
// and tanh (ours: one f32 exp; PyTorch: its vectorised ones), over 4 steps and 2 layers: 2e-5 of
// the largest |value| for forward values and gradients; 1e-4 after three SGD steps (the updates
// feed the differences back in).
const TOL = 2e-5;
const TOL_SGD = 1e-4;

function close(got: ArrayLike<number>, want: number[], tol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  expect(maxAbsDiff(got, want), what).toBeLessThanOrEqual(tol * Math.max(1, maxAbs(want)));
}

function build(c: Case): RNN | LSTM | GRU {
  const opts = { numLayers: c.numLayers, bias: c.bias, batchFirst: c.batchFirst };
  if (c.kind === 'lstm') return new LSTM(I, H, opts);
  if (c.kind === 'gru') return new GRU(I, H, opts);
  return new RNN(I, H, { ...opts, nonlinearity: c.kind === 'rnn_relu' ? 'relu' : 'tanh' });
}

const label = (c: Case) =>
  `${c.kind}, ${c.numLayers} layer(s), ${c.batchFirst ? 'batch-first' : 'time-first'}, ${c.bias ? 'bias' : 'no bias'}` +
  `${c.h0 ? ', initial states' : ''}${c.lengths ? `, lengths [${c.lengths.join(', ')}]` : ''}`;

/** The fixture's loss: Σ output·wo + Σ hN·wh (+ Σ cN·wc). */
function lossOf(c: Case, r: { output: Tensor; hN: Tensor; cN?: Tensor }): Tensor {
  const t = (v: number[], like: Tensor) => tensor(v, like.shape);
  let l = F.add(F.sum(F.mul(r.output, t(c.wo, r.output))), F.sum(F.mul(r.hN, t(c.wh, r.hN))));
  if (r.cN) l = F.add(l, F.sum(F.mul(r.cN, t(c.wc!, r.cN))));
  return l;
}

for (const b of BACKENDS) {
  describe(`${b}: recurrent layers against PyTorch`, () => {
    for (const c of cases) {
      it(label(c), async () => {
        await init({ backend: b });
        const m = build(c);
        expect(Object.keys(m.stateDict())).toEqual(c.state_keys);
        m.loadStateDict(c.init);
        const x = tensor(c.x, c.shape).keep();
        x.requiresGrad = true;
        const h0 = c.h0 ? tensor(c.h0, [c.numLayers, N, H]).keep() : null;
        const c0 = c.c0 ? tensor(c.c0, [c.numLayers, N, H]).keep() : null;
        if (h0) h0.requiresGrad = true;
        if (c0) c0.requiresGrad = true;
        const state = h0 ? (c0 ? { h0, c0 } : { h0 }) : null;
        const r = m.forward(x, state, c.lengths);
        close(r.output.toArray(), c.output, TOL, 'output');
        close(r.hN.toArray(), c.hN, TOL, 'hN');
        if (c.cN) close(r.cN!.toArray(), c.cN, TOL, 'cN');
        else expect(r.cN).toBeUndefined();
        const loss = lossOf(c, r);
        expect(Math.abs(loss.item() - c.loss)).toBeLessThanOrEqual(TOL * Math.max(1, Math.abs(c.loss)) * 10);
        m.zeroGrad();
        loss.backward();
        for (const [name, p] of m.namedParameters()) close(p.grad.toArray(), c.grads[name], TOL, `grad ${name}`);
        close(x.grad!.toArray(), c.dx, TOL, 'dx');
        if (h0) close(h0.grad!.toArray(), c.dh0!, TOL, 'dh0');
        if (c0) close(c0.grad!.toArray(), c.dc0!, TOL, 'dc0');

        x.requiresGrad = false;
        if (h0) h0.requiresGrad = false;
        if (c0) c0.requiresGrad = false;
        m.loadStateDict(c.init);
        const opt = new SGD(m.parameters(), { lr });
        for (let s = 0; s < steps; s++) {
          opt.zeroGrad();
          const l = lossOf(c, m.forward(x, state, c.lengths));
          expect(Math.abs(l.item() - c.sgd_losses[s]), `loss at step ${s}`).toBeLessThanOrEqual(
            TOL_SGD * Math.max(1, Math.abs(c.sgd_losses[s])),
          );
          l.backward();
          opt.step();
        }
        const sd = m.stateDict();
        for (const k of c.state_keys) close(sd[k] as Float32Array, c.sgd_final[k], TOL_SGD, `after SGD: ${k}`);
        m.dispose();
        for (const t of [x, h0, c0]) t?.dispose();
      });
    }
  });
}
