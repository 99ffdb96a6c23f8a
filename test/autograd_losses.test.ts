// Softmax, log-softmax and the losses of F: values and gradients against float64 references by
// central differences, on every backend; PyTorch's reductions, class weights and ignored index.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor, F } from '../src/index';
import { BACKENDS } from './helpers';
import { check } from './autograd_check';

/** (log) softmax of x viewed as [outer][c][inner] along the middle axis, in f64. */
function softmaxRef(x: Float64Array, outer: number, c: number, inner: number, log: boolean): Float64Array {
  const y = new Float64Array(x.length);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const idx = (j: number) => (o * c + j) * inner + i;
      let mx = -Infinity;
      for (let j = 0; j < c; j++) mx = Math.max(mx, x[idx(j)]);
      let se = 0;
      for (let j = 0; j < c; j++) se += Math.exp(x[idx(j)] - mx);
      for (let j = 0; j < c; j++) y[idx(j)] = log ? x[idx(j)] - mx - Math.log(se) : Math.exp(x[idx(j)] - mx) / se;
    }
  return y;
}

const LABELS = [2, 0, 3, 1, 3];
const WEIGHT = [0.5, 2, 1, 0.25];
/** PyTorch's nll_loss over [5, 4] in f64. */
function nllRef(lp: Float64Array, reduction: 'mean' | 'sum' | 'none', w: number[] | null, ignore = -100): number[] {
  const per: number[] = [];
  let total = 0,
    ws = 0;
  LABELS.forEach((t, i) => {
    if (t === ignore) return per.push(0);
    const wi = w ? w[t] : 1;
    per.push(-wi * lp[i * 4 + t]);
    total += -wi * lp[i * 4 + t];
    ws += wi;
  });
  return reduction === 'none' ? per : reduction === 'sum' ? [total] : [total / ws];
}

for (const backend of BACKENDS) {
  describe(`F losses (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('softmax and logSoftmax along the last axis and along an inner axis', () => {
      check(
        [[5, 7]],
        ([x]) => F.softmax(x),
        ([x]) => softmaxRef(x, 5, 7, 1, false),
      );
      check(
        [[5, 7]],
        ([x]) => F.logSoftmax(x, 1),
        ([x]) => softmaxRef(x, 5, 7, 1, true),
      );
      check(
        [[2, 3, 4]],
        ([x]) => F.softmax(x, 1),
        ([x]) => softmaxRef(x, 2, 3, 4, false),
      );
      check(
        [[2, 3, 4]],
        ([x]) => F.logSoftmax(x, -2),
        ([x]) => softmaxRef(x, 2, 3, 4, true),
      );
      // rows far from zero: the log-sum-exp is shifted by the maximum
      const big = F.logSoftmax(tensor([1000, 1001, -1000, 0], [2, 2])).toArray();
      expect(Array.from(big, (v) => Number(v.toFixed(4)))).toEqual([-1.3133, -0.3133, -1000, 0]);
    });

    it('nllLoss: mean, sum, none, class weights, an ignored index', () => {
      for (const reduction of ['mean', 'sum', 'none'] as const) {
        check(
          [[5, 4]],
          ([x]) => F.nllLoss(x, LABELS, { reduction }),
          ([x]) => nllRef(x, reduction, null),
        );
        check(
          [[5, 4]],
          ([x]) => F.nllLoss(x, LABELS, { reduction, weight: tensor(WEIGHT) }),
          ([x]) => nllRef(x, reduction, WEIGHT),
        );
      }
      check(
        [[5, 4]],
        ([x]) => F.nllLoss(x, LABELS, { ignoreIndex: 3 }),
        ([x]) => nllRef(x, 'mean', null, 3),
      );
    });

    it('crossEntropy = nllLoss(logSoftmax): fused, weighted, ignoring an index, per row', () => {
      const ce = (x: Float64Array, r: 'mean' | 'sum' | 'none', w: number[] | null, ignore = -100) =>
        nllRef(softmaxRef(x, 5, 4, 1, true), r, w, ignore);
      check(
        [[5, 4]],
        ([x]) => F.crossEntropy(x, LABELS),
        ([x]) => ce(x, 'mean', null),
      );
      check(
        [[5, 4]],
        ([x]) => F.crossEntropy(x, LABELS, { weight: tensor(WEIGHT) }),
        ([x]) => ce(x, 'mean', WEIGHT),
      );
      check(
        [[5, 4]],
        ([x]) => F.crossEntropy(x, LABELS, { ignoreIndex: 0, reduction: 'sum' }),
        ([x]) => ce(x, 'sum', null, 0),
      );
      check(
        [[5, 4]],
        ([x]) => F.crossEntropy(x, LABELS, { reduction: 'none' }),
        ([x]) => ce(x, 'none', null),
      );
    });

    it('mse, l1, smoothL1, huber: every reduction, gradients for input and target', () => {
      const red = (v: number[], r: 'mean' | 'sum' | 'none') =>
        r === 'none' ? v : r === 'sum' ? [v.reduce((a, b) => a + b, 0)] : [v.reduce((a, b) => a + b, 0) / v.length];
      const pairs = (p: Float64Array, t: Float64Array, f: (d: number) => number) => Array.from(p, (v, i) => f(v - t[i]));
      for (const r of ['mean', 'sum', 'none'] as const) {
        check(
          [
            [3, 4],
            [3, 4],
          ],
          ([p, t]) => F.mseLoss(p, t, r),
          ([p, t]) =>
            red(
              pairs(p, t, (d) => d * d),
              r,
            ),
        );
        check(
          [
            [3, 4],
            [3, 4],
          ],
          ([p, t]) => F.l1Loss(p, t, r),
          ([p, t]) => red(pairs(p, t, Math.abs), r),
        );
        check(
          [
            [3, 4],
            [3, 4],
          ],
          ([p, t]) => F.smoothL1Loss(p, t, r, 0.5),
          ([p, t]) =>
            red(
              pairs(p, t, (d) => (Math.abs(d) < 0.5 ? d * d : Math.abs(d) - 0.25)),
              r,
            ),
        );
        check(
          [
            [3, 4],
            [3, 4],
          ],
          ([p, t]) => F.huberLoss(p, t, r, 0.8),
          ([p, t]) =>
            red(
              pairs(p, t, (d) => (Math.abs(d) < 0.8 ? 0.5 * d * d : 0.8 * (Math.abs(d) - 0.4))),
              r,
            ),
        );
      }
    });

    it('binaryCrossEntropy on probabilities and on logits', () => {
      const bce = (p: number, t: number) => -(t * Math.log(p) + (1 - t) * Math.log(1 - p));
      const sig = (x: number) => 1 / (1 + Math.exp(-x));
      // probabilities in (0.1, 0.9) and targets in [0, 1]
      const inputs = (k: number, v: number) => (k === 0 ? 0.5 + 0.4 * Math.tanh(v) : 0.5 + 0.5 * Math.tanh(v));
      check(
        [
          [2, 5],
          [2, 5],
        ],
        ([p, t]) => F.binaryCrossEntropy(p, t),
        ([p, t]) => [Array.from(p, (v, i) => bce(v, t[i])).reduce((a, b) => a + b, 0) / 10],
        3,
        false,
        inputs,
      );
      const logit = (k: number, v: number) => (k === 0 ? 3 * v : 0.5 + 0.5 * Math.tanh(v));
      check(
        [
          [2, 5],
          [2, 5],
        ],
        ([x, t]) => F.binaryCrossEntropyWithLogits(x, t, 'sum'),
        ([x, t]) => [Array.from(x, (v, i) => bce(sig(v), t[i])).reduce((a, b) => a + b, 0)],
        4,
        false,
        logit,
      );
      // a logit of 100 does not overflow
      expect(F.binaryCrossEntropyWithLogits(tensor([100, -100]), tensor([1, 0])).item()).toBeLessThan(1e-40);
      expect(F.binaryCrossEntropyWithLogits(tensor([100]), tensor([0])).item()).toBe(100);
    });

    it('named errors', () => {
      const x = tensor(new Float32Array(8), [2, 4]);
      expect(() => F.softmax(x, 2)).toThrow(/^F\.softmax: dim: expected an integer in \[-2, 2\), got number 2$/);
      expect(() => F.nllLoss(x, [0, 1], { reduction: 'avg' as never })).toThrow(
        /^F\.nllLoss: reduction: expected 'mean', 'sum' or 'none', got 'avg'$/,
      );
      expect(() => F.nllLoss(x, [0, 1], { weight: tensor([1, 2]) })).toThrow(
        /^F\.nllLoss: weight: expected shape \[4\] \(one per class\), got \[2\]$/,
      );
      expect(() => F.nllLoss(x, [0, 4])).toThrow(/^F\.nllLoss: target\[1\]: expected an integer class index in \[0, 4\), got number 4$/);
      expect(() => F.crossEntropy(x, [0, 1], { labelSmoothing: 0.1, reduction: 'sum' })).toThrow(
        /^F\.crossEntropy: labelSmoothing with weight, ignoreIndex or reduction is not supported/,
      );
      expect(() => F.crossEntropy(x, [0, 1], { smoothing: 0.1 } as never)).toThrow(/^F\.crossEntropy: unknown option 'smoothing'/);
      expect(() => F.mseLoss(x, tensor([1, 2]))).toThrow(/^F\.mseLoss: target: expected shape \[2, 4\] like input, got \[2\]$/);
    });
  });
}
