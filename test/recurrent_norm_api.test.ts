// The BN-LSTM and LN-LSTM as modules: every bad argument throws its own message and changes nothing
// (state, tMax, memory), the state names, a safetensors round trip, foldBatchNorm leaving them alone,
// and memory flat over many training steps with evaluations.
import { describe, expect, it } from 'vitest';
import {
  F,
  foldBatchNorm,
  Generator,
  GRU,
  init,
  loadSafetensors,
  LSTM,
  memoryBytes,
  noGrad,
  RNN,
  saveSafetensors,
  Sequential,
  SGD,
  tensor,
} from '../src/index';
import { throwsLike, type ErrorClass } from './helpers';
import { randn } from './reference';

const I = 3,
  H = 4,
  T = 5,
  N = 3;

describe('constructor errors, nothing allocated', () => {
  const cases: [string, () => unknown, ErrorClass, RegExp][] = [
    ['GRU with recurrent-bn', () => new GRU(I, H, { norm: 'recurrent-bn' }), TypeError, /^GRU: norm: 'recurrent-bn' is for LSTM only/],
    ['RNN with layer', () => new RNN(I, H, { norm: 'layer' }), TypeError, /^RNN: norm: 'layer' is for LSTM only/],
    [
      'tMax without recurrent-bn',
      () => new LSTM(I, H, { tMax: 3 }),
      TypeError,
      /^LSTM: tMax: only norm 'recurrent-bn' keeps statistics per step/,
    ],
    ['tMax with layer', () => new LSTM(I, H, { norm: 'layer', tMax: 3 }), TypeError, /^LSTM: tMax: only norm 'recurrent-bn'/],
    [
      'tMax 0',
      () => new LSTM(I, H, { norm: 'recurrent-bn', tMax: 0 }),
      RangeError,
      /^LSTM: tMax: expected a positive integer, got number 0$/,
    ],
    [
      'tMax 2.5',
      () => new LSTM(I, H, { norm: 'recurrent-bn', tMax: 2.5 }),
      RangeError,
      /^LSTM: tMax: expected a positive integer, got number 2\.5$/,
    ],
    ['tMax on a GRU', () => new GRU(I, H, { tMax: 3 } as never), TypeError, /^GRU: .*tMax/],
  ];
  for (const [name, fn, cls, re] of cases) {
    it(name, async () => {
      await init({ backend: 'js' });
      const before = memoryBytes();
      throwsLike(fn, cls, re);
      expect(memoryBytes()).toBe(before);
    });
  }
});

describe('forward errors change nothing', () => {
  it('recurrent-bn in training with one sequence at some step: RangeError, no state moved, tMax not fixed', async () => {
    await init({ backend: 'wasm' });
    const m = new LSTM(I, H, { norm: 'recurrent-bn', numLayers: 2 });
    const before = m.stateDict();
    const x = tensor(randn(T * N * I, 1), [T, N, I]).keep();
    const mem = memoryBytes();
    throwsLike(
      () => m.forward(x, null, [5, 2, 3]),
      RangeError,
      /^LSTM\.forward: input: norm 'recurrent-bn' in training needs at least 2 sequences at every step \(batch statistics\), got 1 at step 3$/,
    );
    const one = tensor(randn(T * I, 2), [T, 1, I]).keep();
    throwsLike(() => m.forward(one), RangeError, /got 1 at step 0$/);
    throwsLike(
      () => m.forward(tensor(randn(T * N * 2, 3), [T, N, 2])),
      RangeError,
      /^LSTM\.forward: input: expected \[T, N, 3\], got \[5, 3, 2\]$/,
    );
    expect(memoryBytes()).toBeLessThanOrEqual(mem + 4 * T * N * 2 + 64);
    expect(m.stateDict()).toEqual(before);
    expect(m.toString()).not.toMatch(/tMax=\d/);
    // eval uses running statistics: one sequence is fine there
    m.eval();
    expect(noGrad(() => m.forward(one).output.shape)).toEqual([T, 1, H]);
    expect(m.stateDict()).toEqual(before);
    m.dispose();
    x.dispose();
    one.dispose();
  });
});

describe('state names, safetensors, foldBatchNorm', () => {
  it('names in PyTorch style: bn_ih_l0.weight, bn_c_l0.bias, bn_hh_l1.running_mean [tMax·4H]; ln_…', async () => {
    await init({ backend: 'wasm' });
    const bn = new LSTM(I, H, { norm: 'recurrent-bn', numLayers: 2, tMax: 7 });
    const sd = bn.stateDict();
    const names = Object.keys(sd);
    for (const l of [0, 1]) {
      for (const k of ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh']) expect(names).toContain(`${k}_l${l}`);
      for (const k of ['ih', 'hh']) {
        expect(sd[`bn_${k}_l${l}.weight`]).toEqual(new Float32Array(4 * H).fill(Math.fround(0.1)));
        expect(names).not.toContain(`bn_${k}_l${l}.bias`);
        expect((sd[`bn_${k}_l${l}.running_mean`] as Float32Array).length).toBe(7 * 4 * H);
        expect(sd[`bn_${k}_l${l}.running_var`]).toEqual(new Float32Array(7 * 4 * H).fill(1));
      }
      expect(sd[`bn_c_l${l}.bias`]).toEqual(new Float32Array(H));
      expect((sd[`bn_c_l${l}.running_mean`] as Float32Array).length).toBe(7 * H);
    }
    expect(bn.parameters().length).toBe(2 * (4 + 4));
    const ln = new LSTM(I, H, { norm: 'layer' });
    expect(Object.keys(ln.stateDict()).filter((k) => k.startsWith('ln_'))).toEqual([
      'ln_ih_l0.weight',
      'ln_ih_l0.bias',
      'ln_hh_l0.weight',
      'ln_hh_l0.bias',
      'ln_c_l0.weight',
      'ln_c_l0.bias',
    ]);
    bn.dispose();
    ln.dispose();
  });

  for (const norm of ['recurrent-bn', 'layer'] as const) {
    it(`${norm}: trained, saved to safetensors and loaded into a new LSTM: the same eval outputs bit for bit`, async () => {
      await init({ backend: 'wasm-simd' });
      const make = (seed: number) =>
        new LSTM(I, H, { norm, numLayers: 2, generator: new Generator(seed), ...(norm === 'recurrent-bn' ? { tMax: T } : {}) });
      const a = make(1);
      const opt = new SGD(a.parameters(), { lr: 0.1 });
      for (let s = 0; s < 3; s++) {
        opt.zeroGrad();
        F.sum(a.forward(tensor(randn(T * N * I, 10 + s), [T, N, I])).hN).backward();
        opt.step();
      }
      const bytes = saveSafetensors(a as never);
      const b = make(2);
      loadSafetensors(b as never, bytes);
      expect(b.stateDict()).toEqual(a.stateDict());
      a.eval();
      b.eval();
      const x = tensor(randn(7 * N * I, 20), [7, N, I]);
      const ya = noGrad(() => a.forward(x).output.toArray()),
        yb = noGrad(() => b.forward(x).output.toArray());
      expect(yb).toEqual(ya);
      a.dispose();
      b.dispose();
    });
  }

  it('foldBatchNorm leaves a BN-LSTM in a Sequential as it is (only a Linear/Conv2d followed by a BatchNorm folds)', async () => {
    await init({ backend: 'wasm' });
    const m = new LSTM(I, H, { norm: 'recurrent-bn', tMax: T });
    const model = new Sequential(m as never);
    const before = m.stateDict();
    const folded = foldBatchNorm(model);
    expect(folded.layers[0]).toBe(m);
    expect(m.stateDict()).toEqual(before);
    m.dispose();
  });
});

describe('memory', () => {
  for (const norm of ['recurrent-bn', 'layer'] as const) {
    it(`${norm}: flat over 600 training steps with evaluations under noGrad and lengths`, async () => {
      await init({ backend: 'wasm-simd' });
      const m = new LSTM(I, H, { norm, numLayers: 2, generator: new Generator(3) });
      const opt = new SGD(m.parameters(), { lr: 0.05 });
      const x = randn(T * N * I, 4),
        held = randn(T * 8 * I, 5);
      const samples: number[] = [];
      for (let s = 1; s <= 600; s++) {
        opt.zeroGrad();
        F.sum(F.mul(m.forward(tensor(x, [T, N, I]), null, [T, T - 1, T]).hN, 0.1)).backward();
        opt.step();
        if (s % 100 === 50) {
          m.eval();
          noGrad(() => m.forward(tensor(held, [T, 8, I]), null, [1, 2, 3, 4, 5, 5, 4, 3]).output.toArray());
          m.train();
        }
        if (s % 100 === 0) samples.push(memoryBytes());
      }
      expect(samples).toEqual(samples.map(() => samples[0]));
      m.dispose();
    });
  }
});
