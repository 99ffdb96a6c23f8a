// The loss classes (forward → number, backward → dL/dinput) against the F losses they wrap, whose
// values and gradients are checked against float64 finite differences in autograd_losses.test.ts:
// the same loss and the same gradient, bit for bit, on every backend.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  F,
  BCELoss,
  BCEWithLogitsLoss,
  CrossEntropyLoss,
  HuberLoss,
  L1Loss,
  NLLLoss,
  SmoothL1Loss,
  type Tensor,
} from '../src/index';
import { BACKENDS } from './helpers';

const x = () =>
  tensor(
    Float32Array.from({ length: 12 }, (_, i) => Math.sin(i * 1.3)),
    [3, 4],
    { requiresGrad: true },
  );
const t = () =>
  tensor(
    Float32Array.from({ length: 12 }, (_, i) => 0.5 + 0.4 * Math.cos(i)),
    [3, 4],
  );
const labels = [2, 0, 3];

/** The F loss's value and gradient through the tape. */
function viaF(f: (x: Tensor) => Tensor): [number, Float32Array] {
  const input = x();
  const y = f(input);
  const v = y.item();
  y.backward();
  return [v, input.grad!.toArray()];
}

for (const backend of BACKENDS) {
  describe(`loss classes (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    const probs = (v: Tensor) => F.sigmoid(v);
    const cases: [
      string,
      () => { forward(a: Tensor, b: never): number; backward(): Tensor },
      (v: Tensor) => Tensor,
      () => unknown,
      boolean?,
    ][] = [
      ['L1Loss', () => new L1Loss(), (v) => F.l1Loss(v, t()), t],
      ['SmoothL1Loss sum β 0.5', () => new SmoothL1Loss({ reduction: 'sum', beta: 0.5 }), (v) => F.smoothL1Loss(v, t(), 'sum', 0.5), t],
      ['HuberLoss δ 0.3', () => new HuberLoss({ delta: 0.3 }), (v) => F.huberLoss(v, t(), 'mean', 0.3), t],
      ['BCEWithLogitsLoss', () => new BCEWithLogitsLoss(), (v) => F.binaryCrossEntropyWithLogits(v, t()), t],
      [
        'NLLLoss weighted, ignoring class 0',
        () => new NLLLoss({ weight: tensor([1, 2, 0.5, 1]), ignoreIndex: 0 }),
        (v) => F.nllLoss(v, labels, { weight: tensor([1, 2, 0.5, 1]), ignoreIndex: 0 }),
        () => labels,
      ],
      [
        'CrossEntropyLoss weighted, sum',
        () => new CrossEntropyLoss({ weight: tensor([1, 2, 0.5, 1]), reduction: 'sum' }),
        (v) => F.crossEntropy(v, labels, { weight: tensor([1, 2, 0.5, 1]), reduction: 'sum' }),
        () => labels,
      ],
    ];
    for (const [name, make, f, target] of cases) {
      it(`${name}: the F loss's value and gradient`, () => {
        const [want, grad] = viaF(f);
        const loss = make();
        expect(loss.forward(x(), target() as never)).toBe(want);
        expect(Array.from(loss.backward().toArray())).toEqual(Array.from(grad));
      });
    }

    it('BCELoss on probabilities', () => {
      const p = tensor(probs(x()).toArray(), [3, 4]);
      const input = tensor(p.toArray(), [3, 4], { requiresGrad: true });
      const y = F.binaryCrossEntropy(input, t());
      const want = y.item();
      y.backward();
      const loss = new BCELoss();
      expect(loss.forward(p, t())).toBe(want);
      expect(Array.from(loss.backward().toArray())).toEqual(Array.from(input.grad!.toArray()));
    });

    it('reduction none is the F function’s; bad options are named', () => {
      expect(() => new L1Loss({ reduction: 'none' as never })).toThrow(
        /^L1Loss: reduction: expected 'mean' or 'sum' \(for a loss per element use the F function with 'none'\), got 'none'$/,
      );
      expect(() => new HuberLoss({ delta: 0 })).toThrow(/^HuberLoss: delta: expected a number > 0, got number 0$/);
      expect(() => new NLLLoss({ ignoreIndex: 0.5 })).toThrow(/^NLLLoss: ignoreIndex: expected an integer, got number 0\.5$/);
      expect(() => new CrossEntropyLoss({ weights: 1 } as never)).toThrow(/^CrossEntropyLoss: unknown option 'weights'/);
      expect(() => new L1Loss().forward(x(), tensor([1, 2]))).toThrow(
        /^L1Loss\.forward: target: expected shape \[3, 4\] \(the input's\), got \[2\]$/,
      );
    });
  });
}
