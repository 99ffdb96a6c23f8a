// Every bad argument of RNN, LSTM and GRU gets a specific error naming the class, the argument and
// what was expected, and changes nothing: parameters, gradients and (on the JS backend, where
// memoryBytes() counts live bytes) memory are as before, and the next good forward and backward run.
import { describe, expect, it } from 'vitest';
import { F, Generator, GRU, init, LSTM, memoryBytes, RNN, tensor } from '../src/index';
import { BACKENDS, bits, throwsLike, type ErrorClass } from './helpers';

const T = 3,
  N = 2,
  I = 4,
  H = 5;

describe('constructor arguments', () => {
  const cases: [string, () => unknown, ErrorClass, RegExp][] = [
    ['inputSize 0', () => new LSTM(0, H), RangeError, /^LSTM: inputSize: expected a positive integer, got number 0$/],
    ['hiddenSize 1.5', () => new GRU(I, 1.5), RangeError, /^GRU: hiddenSize: expected a positive integer, got number 1\.5$/],
    ['numLayers 0', () => new RNN(I, H, { numLayers: 0 }), RangeError, /^RNN: numLayers: expected a positive integer, got number 0$/],
    ['bias a string', () => new LSTM(I, H, { bias: 'yes' as never }), TypeError, /^LSTM: bias: expected a boolean/],
    ['batchFirst 1', () => new GRU(I, H, { batchFirst: 1 as never }), TypeError, /^GRU: batchFirst: expected a boolean/],
    ['dropout 2', () => new LSTM(I, H, { dropout: 2 }), RangeError, /^LSTM: dropout: expected a number in \[0, 1\], got number 2$/],
    ['an unknown option', () => new LSTM(I, H, { hidden: 3 } as never), TypeError, /^LSTM: unknown option 'hidden'/],
    ['nonlinearity on an LSTM', () => new LSTM(I, H, { nonlinearity: 'relu' } as never), TypeError, /^LSTM: unknown option 'nonlinearity'/],
    [
      'nonlinearity sigmoid',
      () => new RNN(I, H, { nonlinearity: 'sigmoid' as never }),
      TypeError,
      /^RNN: nonlinearity: expected 'tanh' or 'relu', got 'sigmoid'$/,
    ],
    [
      'norm of another kind',
      () => new LSTM(I, H, { norm: 'group' as never }),
      TypeError,
      /^LSTM: norm: expected 'sequence-bn', 'recurrent-bn', 'layer' or null, got 'group'$/,
    ],
    ['generator a number', () => new GRU(I, H, { generator: 3 as never }), TypeError, /^GRU: generator: expected a Generator, got/],
    ['a size beyond memory', () => new LSTM(I, 2 ** 16), RangeError, /^LSTM: hiddenSize = 65536: .* more than WebAssembly's 4 GiB memory$/],
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

for (const b of BACKENDS) {
  describe(`${b}: forward arguments, nothing changed`, () => {
    for (const kind of ['RNN', 'LSTM', 'GRU'] as const) {
      it(`${kind}: every bad input, state and lengths`, async () => {
        await init({ backend: b });
        const gen = new Generator(1);
        const m =
          kind === 'LSTM'
            ? new LSTM(I, H, { numLayers: 2, generator: gen })
            : kind === 'GRU'
              ? new GRU(I, H, { numLayers: 2, generator: gen })
              : new RNN(I, H, { numLayers: 2, generator: gen });
        const x = tensor(new Float32Array(T * N * I).fill(0.5), [T, N, I]).keep();
        const h = (shape: number[]) => tensor(new Float32Array(shape.reduce((p, v) => p * v, 1)), shape).keep();
        const dead = h([T, N, I]);
        dead.dispose();
        const good = h([2, N, H]);
        // a first step, so that gradients are not all zero
        F.sum(m.forward(x).output).backward();
        const a = {
          rank2: h([T, I]),
          size3: h([T, N, 3]),
          noSteps: h([0, N, I]),
          noSeqs: h([T, 0, I]),
          oneLayer: h([1, N, H]),
          batch3: h([2, 3, H]),
          c4: h([2, N, 4]),
        };
        const snapshot = () => m.namedParameters().map(([n, p]) => [n, bits(p.toArray()), bits(p.grad.toArray())]);
        const params = snapshot();
        const before = memoryBytes();
        const w = kind;
        const cases: [string, () => unknown, ErrorClass, RegExp][] = [
          ['input not a tensor', () => m.forward([1, 2] as never), TypeError, new RegExp(`^${w}\\.forward: input: expected a Tensor`)],
          ['a disposed input', () => m.forward(dead), Error, new RegExp(`^${w}\\.forward: input: tensor \\[3, 2, 4\\] was disposed$`)],
          [
            'input of rank 2',
            () => m.forward(a.rank2),
            RangeError,
            new RegExp(`^${w}\\.forward: input: expected \\[T, N, 4\\], got \\[3, 4\\]$`),
          ],
          [
            'input of the wrong size',
            () => m.forward(a.size3),
            RangeError,
            new RegExp(`^${w}\\.forward: input: expected \\[T, N, 4\\], got \\[3, 2, 3\\]$`),
          ],
          ['no steps', () => m.forward(a.noSteps), RangeError, /input: expected at least one step and one sequence, got \[0, 2, 4\]$/],
          ['no sequences', () => m.forward(a.noSeqs), RangeError, /input: expected at least one step and one sequence, got \[3, 0, 4\]$/],
          ['state a tensor', () => m.forward(x, good as never), TypeError, new RegExp(`^${w}\\.forward: state: expected an object \\{ h0`)],
          ['state with an unknown key', () => m.forward(x, { h: good } as never), TypeError, /state: unexpected key 'h' \(expected h0/],
          [
            'h0 of one layer',
            () => m.forward(x, { h0: a.oneLayer }),
            RangeError,
            new RegExp(`^${w}\\.forward: h0: expected \\[2, 2, 5\\], got \\[1, 2, 5\\]$`),
          ],
          ['h0 for another batch', () => m.forward(x, { h0: a.batch3 }), RangeError, /h0: expected \[2, 2, 5\], got \[2, 3, 5\]$/],
          ['h0 not a tensor', () => m.forward(x, { h0: [0] as never }), TypeError, /h0: expected a Tensor/],
          [
            'lengths of the wrong count',
            () => m.forward(x, null, [3]),
            RangeError,
            /lengths: expected 2 lengths \(one per sequence\), got 1$/,
          ],
          [
            'a length of 0',
            () => m.forward(x, null, [3, 0]),
            RangeError,
            /lengths\[1\]: expected an integer in \[1, 3\] \(the steps of the input\), got number 0$/,
          ],
          [
            'a length past the input',
            () => m.forward(x, null, [4, 1]),
            RangeError,
            /lengths\[0\]: expected an integer in \[1, 3\] \(the steps of the input\), got number 4$/,
          ],
          ['a fractional length', () => m.forward(x, null, [2.5, 1]), RangeError, /lengths\[0\]: expected an integer in \[1, 3\]/],
          ['lengths a number', () => m.forward(x, null, 3 as never), TypeError, /lengths: expected an array of 2 integers, got/],
        ];
        if (kind === 'LSTM') {
          cases.push([
            'c0 of the wrong shape',
            () => m.forward(x, { h0: good, c0: a.c4 }),
            RangeError,
            /^LSTM\.forward: c0: expected \[2, 2, 5\], got \[2, 2, 4\]$/,
          ]);
        } else {
          cases.push([
            'c0 on a cell without one',
            () => m.forward(x, { h0: good, c0: good }),
            TypeError,
            new RegExp(`^${w}\\.forward: state: unexpected key 'c0' \\(expected h0\\)$`),
          ]);
        }
        for (const [name, fn, cls, re] of cases) {
          try {
            throwsLike(fn, cls, re);
          } catch (e) {
            throw new Error(`${name}: ${(e as Error).message}`);
          }
        }
        expect(snapshot(), 'parameters and gradients').toEqual(params);
        expect(memoryBytes(), 'memory').toBe(before);
        // the next good call runs
        const r = m.forward(x, { h0: good }, [3, 1]);
        expect(r.output.shape).toEqual([T, N, H]);
        F.sum(r.output).backward();
        m.dispose();
        for (const t of [x, good, ...Object.values(a)]) t.dispose();
      });
    }

    it('the layer disposed', async () => {
      await init({ backend: b });
      const m = new GRU(I, H);
      const x = tensor(new Float32Array(T * N * I), [T, N, I]).keep();
      m.dispose();
      throwsLike(() => m.forward(x), Error, /^GRU\.forward: the layer was disposed$/);
      x.dispose();
    });
  });
}
