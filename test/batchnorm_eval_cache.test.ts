// An eval forward reuses the constants (running mean, 1/√(running var + eps)) it computed last time
// while the running statistics keep their bits. Whatever changes them between two eval forwards
// (an optimizer step on γ and β, loadStateDict, a training forward, a write through view() or
// set(), F.batchNorm updating them in place), the next eval forward must equal both a float64
// reference of the current state and, bit for bit, a new layer loaded with that state: a stale
// constant would pass neither.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, batchNorm, foldBatchNorm, noGrad, BatchNorm1d, BatchNorm2d, Linear, Sequential, SGD, type Tensor } from '../src/index';
import { memoryBytes, runtime } from '../src/runtime/index';
import { countAllocations } from './alloc_count';
import { BACKENDS, bits, filled, values } from './helpers';
import { refBackward, refForwardEval, type Layout } from './reference';

const C = 4;
// f32 outputs of O(1) against the float64 reference: a few ulps of the inputs' rounding
const TOL = 1e-5;

type Bn = BatchNorm1d | BatchNorm2d;
const CASES: [Layout, number[], (o?: { momentum?: number }) => Bn][] = [
  ['NC', [6, C], (o) => new BatchNorm1d(C, o)],
  ['NCHW', [3, C, 2, 3], (o) => new BatchNorm2d(C, o)],
  ['NHWC', [3, 2, 3, C], (o) => new BatchNorm2d(C, { ...o, layout: 'NHWC' })],
];

/** A copy of t's values read around view(), which counts as a possible write and would hide a missed one. */
const peek = (t: Tensor) => runtime().f32(t.ptr, t.size).slice();

/** The layer's state as plain arrays. */
function state(bn: Bn) {
  return {
    weight: peek(bn.weight!),
    bias: peek(bn.bias!),
    running_mean: peek(bn.runningMean!),
    running_var: peek(bn.runningVar!),
    num_batches_tracked: bn.numBatchesTracked,
  };
}

/**
 * The eval forward of `bn` on x against the float64 reference of its current state and against a
 * new layer of the same class given that state (whose constants cannot be stale).
 */
function expectCurrent(bn: Bn, make: () => Bn, layout: Layout, x: Tensor): void {
  const s = state(bn);
  const got = noGrad(() => bn.eval().forward(x).toArray());
  const want = refForwardEval(x.toArray(), layout, x.shape, bn.eps, s.running_mean, s.running_var, s.weight, s.bias);
  for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want[i]), `y[${i}]`).toBeLessThanOrEqual(TOL);
  const fresh = make();
  fresh.loadStateDict(s);
  const ref = noGrad(() => fresh.eval().forward(x).toArray());
  expect(bits(got)).toEqual(bits(ref));
  fresh.dispose();
}

describe.each(BACKENDS)('%s', (b) => {
  beforeAll(async () => {
    await init({ backend: b });
  });

  describe.each(CASES)('%s', (layout, shape, make) => {
    const fresh = () => make();

    it('after an optimizer step on γ and β', () => {
      const bn = make(),
        x = filled(shape, 3);
      expectCurrent(bn, fresh, layout, x);
      bn.weight!.grad.set(values(C, 5));
      bn.bias!.grad.set(values(C, 6));
      const opt = new SGD(bn.parameters(), { lr: 0.5 });
      opt.step();
      expectCurrent(bn, fresh, layout, x);
      opt.dispose();
      bn.dispose();
      x.dispose();
    });

    it('after loadStateDict, and after a change of one ulp in one running variance', () => {
      const bn = make(),
        x = filled(shape, 4);
      expectCurrent(bn, fresh, layout, x);
      bn.loadStateDict({ ...state(bn), running_mean: values(C, 7), running_var: values(C, 8).map((v) => v * v + 0.5) });
      expectCurrent(bn, fresh, layout, x);
      const rv = peek(bn.runningVar!);
      new Uint32Array(rv.buffer)[C - 1] += 1;
      bn.loadStateDict({ ...state(bn), running_var: rv });
      expectCurrent(bn, fresh, layout, x);
      bn.dispose();
      x.dispose();
    });

    it('after a training forward moved the running statistics, on the tape and off it', () => {
      const bn = make(),
        x = filled(shape, 5),
        xt = filled(shape, 6);
      expectCurrent(bn, fresh, layout, x);
      bn.train().forward(xt).dispose(); // records on the tape (γ requires a gradient)
      expectCurrent(bn, fresh, layout, x);
      noGrad(() => bn.train().forward(xt)); // the layer's own statistics
      expectCurrent(bn, fresh, layout, x);
      bn.dispose();
      x.dispose();
      xt.dispose();
    });

    it('after a training forward that leaves the running statistics (momentum 0) but overwrites the saved ones', () => {
      const bn = make({ momentum: 0 }),
        x = filled(shape, 7),
        xt = filled(shape, 8);
      bn.loadStateDict({ ...state(bn), running_mean: values(C, 9), running_var: values(C, 10).map((v) => v * v + 0.5) });
      expectCurrent(bn, () => make({ momentum: 0 }), layout, x);
      const before = bits(peek(bn.runningVar!));
      noGrad(() => bn.train().forward(xt));
      expect(bits(peek(bn.runningVar!))).toEqual(before);
      expectCurrent(bn, () => make({ momentum: 0 }), layout, x);
      bn.dispose();
      x.dispose();
      xt.dispose();
    });

    it('after writes through view() and set(), and F.batchNorm updating the statistics in place', () => {
      const bn = make(),
        x = filled(shape, 9),
        xt = filled(shape, 10);
      expectCurrent(bn, fresh, layout, x);
      bn.runningMean!.view()[1] = 0.25;
      expectCurrent(bn, fresh, layout, x);
      bn.runningVar!.set(values(C, 11).map((v) => v * v + 0.1));
      expectCurrent(bn, fresh, layout, x);
      batchNorm(xt, bn.runningMean, bn.runningVar, { training: true, layout }).dispose();
      expectCurrent(bn, fresh, layout, x);
      bn.dispose();
      x.dispose();
      xt.dispose();
    });

    it('after γ and β are assigned through set()', () => {
      const bn = make(),
        x = filled(shape, 16);
      expectCurrent(bn, fresh, layout, x);
      bn.weight!.set(values(C, 17));
      expectCurrent(bn, fresh, layout, x);
      bn.bias!.set(values(C, 18));
      expectCurrent(bn, fresh, layout, x);
      bn.dispose();
      x.dispose();
    });

    it('a call in steady state allocates its output and one workspace (and on the tape its statistics), and memory stays flat', () => {
      const bn = make(),
        x = filled(shape, 19);
      const calls = (fn: () => void) => {
        // the first two calls may make saved statistics: the layer holds its last op's until its next forward
        fn();
        fn();
        const bytes = memoryBytes(),
          n = countAllocations();
        try {
          for (let i = 0; i < 20; i++) fn();
          return { live: n.live(), perCall: n.calls() / 20, grew: memoryBytes() - bytes };
        } finally {
          n.stop();
        }
      };
      // on the tape (γ requires a gradient): the op's saved statistics too, freed when the op is done
      expect(calls(() => bn.train().forward(x).dispose())).toEqual({ live: 1, perCall: 3, grew: 0 }); // the layer holds its last op (and its statistics) until its next forward
      expect(calls(() => noGrad(() => void bn.train().forward(x)))).toEqual({ live: 0, perCall: 2, grew: 0 });
      expect(calls(() => noGrad(() => void bn.eval().forward(x)))).toEqual({ live: 0, perCall: 2, grew: 0 });
      bn.dispose();
      x.dispose();
    });

    it("an eval backward uses its forward's constants, and a later eval forward the new ones", () => {
      const bn = make(),
        x = filled(shape, 11),
        dy = filled(shape, 12);
      bn.loadStateDict({ ...state(bn), running_mean: values(C, 13), running_var: values(C, 14).map((v) => v * v + 0.5) });
      const s = state(bn);
      // an eval forward on data records nothing: backward(dy) runs the layer's saved-state path
      bn.eval().forward(x).dispose();
      // the running statistics change after the forward: the backward still differentiates that forward
      bn.loadStateDict({ ...s, running_var: values(C, 15).map((v) => v * v + 2) });
      const dx = bn.backward(dy);
      const want = refBackward(x.toArray(), dy.toArray(), layout, shape, bn.eps, s.weight, false, s.running_mean, s.running_var);
      const got = dx.toArray();
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want.dx[i]), `dx[${i}]`).toBeLessThanOrEqual(TOL);
      dx.dispose();
      expectCurrent(bn, fresh, layout, x);
      bn.dispose();
      x.dispose();
      dy.dispose();
    });
  });

  it('foldBatchNorm: the folded model equals the layer it read, and the layer stays current', () => {
    const x = filled([6, C], 20);
    const lin = new Linear(C, C),
      bn = new BatchNorm1d(C);
    bn.loadStateDict({ ...state(bn), running_mean: values(C, 21), running_var: values(C, 22).map((v) => v * v + 0.5) });
    const model = new Sequential(lin, bn).eval();
    const want = noGrad(() => model.forward(x).toArray());
    const folded = foldBatchNorm(model);
    const got = noGrad(() => folded.forward(x).toArray());
    // a = γ/√(var + eps) folded into W and b: f32 rounding of the products, O(1) values
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - want[i]), `y[${i}]`).toBeLessThanOrEqual(1e-5);
    bn.loadStateDict({ ...state(bn), running_var: values(C, 23).map((v) => v * v + 2) });
    const y = noGrad(() => lin.forward(x).keep());
    expectCurrent(bn, () => new BatchNorm1d(C), 'NC', y);
    y.dispose();
    folded.dispose();
    model.dispose();
    x.dispose();
  });
});
