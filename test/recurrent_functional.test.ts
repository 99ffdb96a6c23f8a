// F.rnn, F.lstm and F.gru: the same op as the modules, so from a module's weights they give the
// module's output, hN, cN and gradients bit for bit (the modules are checked against PyTorch and
// finite differences); weights given as plain tensors with requiresGrad get their .grad from
// loss.backward(); every bad argument throws a specific error and changes nothing.
import { describe, expect, it } from 'vitest';
import { F, Generator, GRU, init, LSTM, memoryBytes, RNN, tensor, type Tensor } from '../src/index';
import { BACKENDS, bits, throwsLike } from './helpers';
import { randn } from './reference';

const T = 5,
  N = 3,
  I = 4,
  H = 6,
  L = 2;
const LENGTHS = [5, 2, 4];

for (const b of BACKENDS) {
  describe(`${b}: F.rnn, F.lstm, F.gru`, () => {
    for (const kind of ['rnn', 'lstm', 'gru'] as const) {
      it(`F.${kind} equals the module bit for bit, forward and backward`, async () => {
        await init({ backend: b });
        const gen = new Generator(6);
        const m =
          kind === 'lstm'
            ? new LSTM(I, H, { numLayers: L, batchFirst: true, generator: gen })
            : kind === 'gru'
              ? new GRU(I, H, { numLayers: L, batchFirst: true, generator: gen })
              : new RNN(I, H, { numLayers: L, batchFirst: true, nonlinearity: 'relu', generator: gen });
        const x = tensor(randn(N * T * I, 2), [N, T, I]).keep();
        const h0 = tensor(randn(L * N * H, 3), [L, N, H]).keep();
        const c0 = tensor(randn(L * N * H, 4), [L, N, H]).keep();
        // leaves holding copies of the module's weights
        const sd = m.stateDict();
        const leaf = (k: string, shape: readonly number[]) => {
          const t = tensor(sd[k] as Float32Array, shape).keep();
          t.requiresGrad = true;
          return t;
        };
        const weights = Array.from({ length: L }, (_, l) => ({
          weightIh: leaf(`weight_ih_l${l}`, m.weights[`weight_ih_l${l}`].shape),
          weightHh: leaf(`weight_hh_l${l}`, m.weights[`weight_hh_l${l}`].shape),
          biasIh: leaf(`bias_ih_l${l}`, m.weights[`bias_ih_l${l}`].shape),
          biasHh: leaf(`bias_hh_l${l}`, m.weights[`bias_hh_l${l}`].shape),
        }));
        const state = kind === 'lstm' ? { h0, c0 } : { h0 };
        const loss = (r: { output: Tensor; hN: Tensor; cN?: Tensor }) => {
          const l = F.add(F.sum(F.mul(r.output, r.output)), F.sum(r.hN));
          return r.cN ? F.add(l, F.sum(F.mul(r.cN, 0.5))) : l;
        };
        const rm = m.forward(x, state, LENGTHS);
        const opts = { ...state, lengths: LENGTHS, batchFirst: true };
        const rf = kind === 'rnn' ? F.rnn(x, weights, { ...opts, nonlinearity: 'relu' }) : F[kind](x, weights, opts);
        expect(bits(rf.output.toArray())).toEqual(bits(rm.output.toArray()));
        expect(bits(rf.hN.toArray())).toEqual(bits(rm.hN.toArray()));
        if (kind === 'lstm') expect(bits(rf.cN!.toArray())).toEqual(bits(rm.cN!.toArray()));
        else expect(rf.cN).toBeUndefined();
        m.zeroGrad();
        loss(rm).backward();
        loss(rf).backward();
        weights.forEach((w, l) => {
          expect(bits(w.weightIh.grad!.toArray())).toEqual(bits(m.weights[`weight_ih_l${l}`].grad.toArray()));
          expect(bits(w.weightHh.grad!.toArray())).toEqual(bits(m.weights[`weight_hh_l${l}`].grad.toArray()));
          expect(bits(w.biasIh.grad!.toArray())).toEqual(bits(m.weights[`bias_ih_l${l}`].grad.toArray()));
          expect(bits(w.biasHh.grad!.toArray())).toEqual(bits(m.weights[`bias_hh_l${l}`].grad.toArray()));
        });
        m.dispose();
        for (const t of [x, h0, c0, ...weights.flatMap((w) => Object.values(w))]) t.dispose();
      });
    }

    it('bad arguments throw specific errors and change nothing', async () => {
      await init({ backend: b });
      const w = (shape: number[]) => tensor(new Float32Array(shape.reduce((p, v) => p * v, 1)), shape).keep();
      const x = w([T, N, I]),
        wi = w([4 * H, I]),
        wh = w([4 * H, H]),
        bb = w([4 * H]),
        bad = w([4 * H, 5]),
        h = w([1, N, H]),
        h2 = w([2, N, H]),
        x5 = w([T, N, 5]);
      const before = memoryBytes();
      const cases: [() => unknown, ErrorConstructor | RangeErrorConstructor | TypeErrorConstructor, RegExp][] = [
        [() => F.lstm(x, []), TypeError, /^F\.lstm: weights: expected a non-empty array of \{ weightIh, weightHh, biasIh\?, biasHh\? \}/],
        [() => F.lstm(x, [null as never]), TypeError, /^F\.lstm: weights\[0\]: expected an object, got null$/],
        [
          () => F.lstm(x, [{ weightIh: wi, weightHh: bad }]),
          RangeError,
          /^F\.lstm: weights\[0\]\.weightHh: expected \[20, 5\], got \[24, 5\]$/,
        ],
        [
          () => F.gru(x, [{ weightIh: wi, weightHh: wh }]),
          RangeError,
          /^F\.gru: weights\[0\]\.weightHh: expected \[18, 6\], got \[24, 6\]$/,
        ],
        [
          () => F.lstm(x, [{ weightIh: wi, weightHh: wh, biasIh: wh }]),
          RangeError,
          /^F\.lstm: weights\[0\]\.biasIh: expected \[24\], got \[24, 6\]$/,
        ],
        [() => F.lstm(x, [{ weightIh: wi, weightHh: wh }], { h0: h2 }), RangeError, /^F\.lstm: h0: expected \[1, 3, 6\], got \[2, 3, 6\]$/],
        [
          () => F.rnn(x, [{ weightIh: wi, weightHh: wh }], { nonlinearity: 'gelu' as never }),
          TypeError,
          /^F\.rnn: nonlinearity: expected 'tanh' or 'relu'/,
        ],
        [
          () => F.gru(x, [{ weightIh: wi, weightHh: wh }], { nonlinearity: 'relu' } as never),
          TypeError,
          /^F\.gru: unknown option 'nonlinearity'/,
        ],
        [() => F.rnn(x, [{ weightIh: bb, weightHh: wh }], { c0: h }), TypeError, /^F\.rnn: c0: only an LSTM has a cell state/],
        [() => F.lstm(x, [{ weightIh: wi, weightHh: wh }], { lengths: [1, 2] }), RangeError, /^F\.lstm: lengths: expected 3 lengths/],
        [
          () => F.lstm(x, [{ weightIh: wi, weightHh: wh }], { dropout: -1 }),
          RangeError,
          /^F\.lstm: dropout: expected a number in \[0, 1\]/,
        ],
        [() => F.lstm(x5, [{ weightIh: wi, weightHh: wh }]), RangeError, /^F\.lstm: input: expected \[T, N, 4\], got \[5, 3, 5\]$/],
      ];
      for (const [fn, cls, re] of cases) throwsLike(fn, cls, re);
      expect(memoryBytes()).toBe(before);
      const r = F.lstm(x, [{ weightIh: wi, weightHh: wh, biasIh: bb, biasHh: bb }], { h0: h, c0: h, lengths: [5, 1, 3] });
      expect(r.output.shape).toEqual([T, N, H]);
      for (const t of [x, wi, wh, bb, bad, h, h2, x5, r.output, r.hN, r.cN!]) t.dispose();
    });
  });
}
