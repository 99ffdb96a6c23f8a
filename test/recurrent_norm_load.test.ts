// A BN-LSTM whose tMax is left to the data (fixed by its first training forward) takes the number of
// steps of a state being loaded: loadStateDict and loadSafetensors into a fresh default LSTM give the
// saved model's outputs bit for bit; a refused load leaves tMax unfixed and the state as it was.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, loadSafetensors, LSTM, Generator, noGrad, saveSafetensors, tensor, type Module } from '../src/index';
import { bits } from './helpers';
import { randn } from './reference';

const I = 3,
  H = 4,
  T = 5,
  N = 3;

const tMaxOf = (m: LSTM) => (m.children().find(([n]) => n === 'bn_c_l0')![1] as Module & { tMax: number | null }).tMax;

/** A BN-LSTM trained on a forward of T steps (its tMax fixed to T), then in eval mode. */
function trained(): LSTM {
  const m = new LSTM(I, H, { norm: 'recurrent-bn', numLayers: 2, generator: new Generator(1) });
  m.train();
  noGrad(() => m.forward(tensor(randn(T * N * I, 2), [T, N, I])));
  m.eval();
  return m;
}

const evalOut = (m: LSTM) => noGrad(() => m.forward(tensor(randn(T * N * I, 3), [T, N, I])).output.toArray());

describe('BN-LSTM state into a default-tMax LSTM', () => {
  beforeAll(async () => {
    await init();
  });

  it('loadStateDict fixes tMax to the saved steps and gives the same outputs', () => {
    const a = trained();
    const b = new LSTM(I, H, { norm: 'recurrent-bn', numLayers: 2 });
    expect(tMaxOf(b)).toBe(null);
    b.loadStateDict(a.stateDict());
    b.eval();
    expect(tMaxOf(b)).toBe(T);
    expect(bits(evalOut(b))).toEqual(bits(evalOut(a)));
    expect(b.stateDict()).toEqual(a.stateDict());
    // a later training forward of another length keeps the loaded statistics' size
    b.train();
    noGrad(() => b.forward(tensor(randn(2 * T * N * I, 4), [2 * T, N, I])));
    expect(tMaxOf(b)).toBe(T);
    a.dispose();
    b.dispose();
  });

  it('loadSafetensors does the same', () => {
    const a = trained();
    const b = new LSTM(I, H, { norm: 'recurrent-bn', numLayers: 2 });
    loadSafetensors(b, saveSafetensors(a));
    b.eval();
    expect(tMaxOf(b)).toBe(T);
    expect(bits(evalOut(b))).toEqual(bits(evalOut(a)));
    a.dispose();
    b.dispose();
  });

  it('a refused load (one weight of the wrong length) leaves tMax unfixed and the state unchanged', () => {
    const a = trained();
    const sd = a.stateDict();
    sd['weight_hh_l1'] = new Float32Array(3);
    const b = new LSTM(I, H, { norm: 'recurrent-bn', numLayers: 2 });
    const before = b.stateDict();
    expect(() => b.loadStateDict(sd)).toThrow(/^LSTM\.loadStateDict: weight_hh_l1: expected length 64, got 3$/);
    expect(tMaxOf(b)).toBe(null);
    expect(b.stateDict()).toEqual(before);
    const bytes = saveSafetensors(a);
    const c = new LSTM(I, H + 1, { norm: 'recurrent-bn', numLayers: 2 });
    expect(() => loadSafetensors(c, bytes)).toThrow(/^loadSafetensors: '\w+': expected shape \[\d+(, 3)?\], got \[16(, 3)?\]$/);
    expect(tMaxOf(c)).toBe(null);
    for (const m of [a, b, c]) m.dispose();
  });
});
