// Sequential checks the whole chain before any layer runs (and puts back what moved if a layer still
// throws); it remembers the last accepted input shape and layer modes, and must still refuse what a
// changed shape or mode makes invalid, with no state moved.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor, Sequential, Linear, BatchNorm1d, ReLU, Generator } from '../src/index';
import { caught, values } from './helpers';

describe('Sequential: the chain check after a change of shape or mode', () => {
  beforeAll(async () => {
    await init({ backend: 'wasm-simd' });
  });

  it('a batch of one is refused in training after the same shape passed in eval, before any state moves', () => {
    const model = new Sequential(new BatchNorm1d(4), new Linear(4, 3, { generator: new Generator(1) }), new ReLU(), new BatchNorm1d(3));
    const one = tensor(values(4, 2), [1, 4]);
    model.eval();
    model.forward(one).dispose();
    model.train();
    const before = model.stateDict();
    expect(caught(() => model.forward(one)).message).toMatch(/^BatchNorm1d\.forward: .*more than 1 value/);
    expect(model.stateDict()).toEqual(before);
    // only the last layer in training: the error still comes before the first layer moves anything
    model.eval();
    model.layers[3].train();
    expect(caught(() => model.forward(one)).message).toMatch(/^BatchNorm1d\.forward: .*more than 1 value/);
    expect(model.stateDict()).toEqual(before);
    const wrong = tensor(values(10, 3), [2, 5]);
    expect(caught(() => model.forward(wrong)).message).toMatch(/^BatchNorm1d\.forward: input: expected/);
    for (const t of [one, wrong]) t.dispose();
    model.dispose();
  });
});
