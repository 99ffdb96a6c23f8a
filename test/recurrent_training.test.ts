// Recurrent layers inside a model: a Module subclass with an LSTM (or GRU) and a Linear head trains
// with loss.backward() and SGD on a task that needs memory across steps; the same seed gives the
// same bits twice on each backend; memory stays flat over 10 000 training steps of a small LSTM
// with a held-out evaluation under noGrad; dropout between layers acts in training mode only.
import { beforeAll, describe, expect, it } from 'vitest';
import { F, Generator, GRU, init, Linear, LSTM, memoryBytes, Module, noGrad, SGD, tensor, type Tensor } from '../src/index';
import { BACKENDS, bits } from './helpers';

const T = 6,
  B = 8,
  I = 2;

/** Sequences of ±1 pairs; the class is whether the first step's first feature is positive (needs memory over T steps). */
function data(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const g = new Generator(seed);
  const x = Float32Array.from({ length: T * n * I }, () => (g.uniform() < 0.5 ? -1 : 1));
  // time-first: x[t, n, i] at (t·n + r)·I + i
  const y = Int32Array.from({ length: n }, (_, r) => (x[r * I] > 0 ? 1 : 0));
  return { x, y };
}

/** An LSTM or GRU over the sequence, a Linear head on hN of its last layer. */
class Classifier extends Module {
  rnn: LSTM | GRU;
  head: Linear;
  constructor(kind: 'lstm' | 'gru', gen: Generator, hidden = 8) {
    super();
    this.rnn = kind === 'lstm' ? new LSTM(I, hidden, { generator: gen }) : new GRU(I, hidden, { generator: gen });
    this.head = new Linear(hidden, 2, { generator: gen });
  }
  forward(x: Tensor): Tensor {
    const { hN } = this.rnn.forward(x);
    return this.head.forward(F.reshape(hN, [-1, this.rnn.hiddenSize]));
  }
}

function train(kind: 'lstm' | 'gru', steps: number, seed: number) {
  const gen = new Generator(seed);
  const net = new Classifier(kind, gen);
  const opt = new SGD(net.parameters(), { lr: 0.5, momentum: 0.9 });
  const d = data(B * 8, seed + 1);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const k = s % 8;
    const xb = new Float32Array(T * B * I);
    for (let t = 0; t < T; t++) xb.set(d.x.subarray((t * B * 8 + k * B) * I, (t * B * 8 + (k + 1) * B) * I), t * B * I);
    opt.zeroGrad();
    const loss = F.crossEntropy(net.forward(tensor(xb, [T, B, I])), d.y.subarray(k * B, (k + 1) * B));
    loss.backward();
    opt.step();
    losses.push(loss.item());
  }
  return { net, losses };
}

for (const backend of BACKENDS) {
  describe(`${backend}: recurrent layers in training`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    for (const kind of ['lstm', 'gru'] as const) {
      it(`a Module subclass with ${kind === 'lstm' ? 'an LSTM' : 'a GRU'} learns a task that needs memory across steps`, () => {
        const { net, losses } = train(kind, 300, 3);
        const mean = (a: number[]) => a.reduce((p, v) => p + v, 0) / a.length;
        expect(mean(losses.slice(0, 8))).toBeGreaterThan(0.5);
        expect(mean(losses.slice(-8))).toBeLessThan(0.05);
        net.dispose();
      });
    }

    it('the same seed gives the same bits twice', () => {
      const a = train('lstm', 20, 11),
        b = train('lstm', 20, 11);
      expect(a.losses).toEqual(b.losses);
      const sa = a.net.stateDict(),
        sb = b.net.stateDict();
      for (const k of Object.keys(sa)) expect(bits(sb[k] as Float32Array), k).toEqual(bits(sa[k] as Float32Array));
      a.net.dispose();
      b.net.dispose();
    });

    it('dropout between layers: in training mode only, and never on the last layer', () => {
      const gen = new Generator(4);
      const m = new LSTM(I, 5, { numLayers: 2, dropout: 0.5, generator: gen });
      const x = tensor(data(B, 2).x, [T, B, I]).keep();
      const a = noGrad(() => m.forward(x).output.toArray()),
        b = noGrad(() => m.forward(x).output.toArray());
      expect(bits(a)).not.toEqual(bits(b)); // two dropout masks
      m.eval();
      const c = noGrad(() => m.forward(x).output.toArray()),
        d = noGrad(() => m.forward(x).output.toArray());
      expect(bits(c)).toEqual(bits(d));
      const one = new LSTM(I, 5, { dropout: 0.5, generator: new Generator(4) });
      const e = noGrad(() => one.forward(x).output.toArray()),
        f = noGrad(() => one.forward(x).output.toArray());
      expect(bits(e)).toEqual(bits(f)); // one layer: nothing to drop between
      for (const t of [m, one, x]) t.dispose();
    });

    it('memory is flat over 10 000 training steps of a small LSTM with evaluations under noGrad', () => {
      const STEPS = 10_000,
        SETTLED = 100;
      const gen = new Generator(9);
      const net = new Classifier('lstm', gen, 6);
      const opt = new SGD(net.parameters(), { lr: 0.2, momentum: 0.9 });
      const d = data(B, 10),
        held = data(16, 12);
      const samples: number[] = [];
      let first = NaN,
        last = NaN;
      for (let s = 1; s <= STEPS; s++) {
        opt.zeroGrad();
        const loss = F.crossEntropy(net.forward(tensor(d.x, [T, B, I])), d.y);
        loss.backward();
        opt.step();
        last = loss.item();
        if (s === 1) first = last;
        if (s % 1000 === 500) {
          net.eval();
          noGrad(() => net.forward(tensor(held.x, [T, 16, I])).toArray());
          // the layer alone too, with states and lengths, outside noGrad on data: nothing records
          const lengths = Array.from({ length: 16 }, (_, r) => 1 + (r % T));
          const out = noGrad(() => net.rnn.forward(tensor(held.x, [T, 16, I]), null, lengths));
          out.output.dispose();
          out.hN.dispose();
          out.cN!.dispose();
          net.train();
        }
        if (s === SETTLED || s % 1000 === 0) samples.push(memoryBytes());
      }
      expect(samples).toEqual(samples.map(() => samples[0]));
      expect(last).toBeLessThan(first * 0.5);
      net.dispose();
    });
  });
}
