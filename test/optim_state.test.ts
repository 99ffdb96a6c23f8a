// Optimizer state and parameter groups: 50 steps, save, load into a fresh model and optimizer, 50 more
// equals 100 straight, bit for bit; groups with their own lr and weight decay equal separate
// optimizers; schedulers scale each group from its own start; a bad state dict changes nothing.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  Adadelta,
  Adagrad,
  Adam,
  AdamW,
  BatchNorm1d,
  CrossEntropyLoss,
  Generator,
  Linear,
  ReLU,
  RMSprop,
  Sequential,
  SGD,
  StepLR,
  type Optimizer,
  type Parameter,
} from '../src/index';
import { BACKENDS } from './helpers';

const model = () =>
  new Sequential(
    new Linear(6, 8, { generator: new Generator(3) }),
    new BatchNorm1d(8),
    new ReLU(),
    new Linear(8, 3, { generator: new Generator(4) }),
  );
const X = Float32Array.from({ length: 16 * 6 }, (_, i) => Math.sin(i * 0.7) * 2);
const Y = Int32Array.from({ length: 16 }, (_, i) => (i * 7) % 3);

function train(m: Sequential, opt: Optimizer, steps: number): void {
  const lossFn = new CrossEntropyLoss();
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    using x = tensor(X, [16, 6]);
    using logits = m.forward(x);
    lossFn.forward(logits, Y);
    using g = lossFn.backward();
    m.backwardParams(g);
    opt.step();
  }
}

const weights = (m: Sequential) => Object.values(m.stateDict()).map((v) => (typeof v === 'number' ? [v] : Array.from(v)));

const OPTIMIZERS: [string, (p: Parameter[]) => Optimizer][] = [
  ['SGD momentum nesterov', (p) => new SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-3 })],
  ['Adam', (p) => new Adam(p, { lr: 0.01 })],
  ['AdamW', (p) => new AdamW(p, { lr: 0.01 })],
  ['RMSprop centered momentum', (p) => new RMSprop(p, { lr: 0.01, momentum: 0.5, centered: true })],
  ['Adagrad', (p) => new Adagrad(p, { lr: 0.1, lrDecay: 0.01 })],
  ['Adadelta', (p) => new Adadelta(p)],
];

for (const backend of BACKENDS) {
  describe(`optimizer state (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    for (const [name, make] of OPTIMIZERS) {
      it(`${name}: 50 steps, save, load, 50 more = 100 straight, bit for bit`, () => {
        const a = model();
        train(a, make(a.parameters()), 100);
        const b = model();
        const ob = make(b.parameters());
        train(b, ob, 50);
        const msd = b.stateDict(),
          osd = ob.stateDict();
        const c = model();
        const oc = make(c.parameters());
        c.loadStateDict(msd);
        oc.loadStateDict(osd);
        expect(oc.steps).toBe(50);
        train(c, oc, 50);
        expect(weights(c)).toEqual(weights(a));
      });
    }

    it('groups with their own lr and weight decay equal separate optimizers; StepLR scales each group', () => {
      const a = model(),
        b = model();
      const [pa, pb] = [a.parameters(), b.parameters()];
      const grouped = new SGD([{ params: pa.slice(0, 2), lr: 0.05, weightDecay: 0.01 }, { params: pa.slice(2) }], {
        lr: 0.2,
        momentum: 0.9,
      });
      const first = new SGD(pb.slice(0, 2), { lr: 0.05, weightDecay: 0.01, momentum: 0.9 });
      const rest = new SGD(pb.slice(2), { lr: 0.2, momentum: 0.9 });
      const both = { zeroGrad: () => (first.zeroGrad(), rest.zeroGrad()), step: () => (first.step(), rest.step()) } as unknown as Optimizer;
      train(a, grouped, 20);
      train(b, both, 20);
      expect(weights(a)).toEqual(weights(b));
      const sched = new StepLR(grouped, { stepSize: 1, gamma: 0.5 });
      sched.step();
      expect(grouped.paramGroups.map((g) => g.lr)).toEqual([0.025, 0.1]);
      expect(grouped.stateDict().paramGroups).toEqual([
        { lr: 0.025, weightDecay: 0.01, params: [0, 1] },
        { lr: 0.1, params: [2, 3, 4, 5] },
      ]);
    });

    it('a bad state dict or group throws by name and changes nothing', () => {
      const m = model();
      const opt = new Adam(m.parameters(), { lr: 0.01 });
      train(m, opt, 3);
      const good = opt.stateDict();
      const before = JSON.stringify(good, (_, v) => (v instanceof Float32Array ? Array.from(v) : v));
      const bad = [
        [{ ...good, steps: -1 }, /^Adam\.loadStateDict: steps: expected a non-negative integer, got number -1$/],
        [{ ...good, paramGroups: [] }, /^Adam\.loadStateDict: paramGroups: expected 1 groups, got array\(0\)$/],
        [
          { ...good, state: { ...good.state, 5: { exp_avg: new Float32Array(2), exp_avg_sq: new Float32Array(3) } } },
          /^Adam\.loadStateDict: state\[5\]\.exp_avg: expected a Float32Array\(3\), got Float32Array\(2\)$/,
        ],
        [
          { ...good, state: { ...good.state, 0: { ...good.state[0], extra: new Float32Array(48) } } },
          /^Adam\.loadStateDict: state\[0\]: unknown entry 'extra'$/,
        ],
      ] as const;
      for (const [sd, re] of bad) expect(() => opt.loadStateDict(sd as never)).toThrow(re);
      expect(JSON.stringify(opt.stateDict(), (_, v) => (v instanceof Float32Array ? Array.from(v) : v))).toBe(before);
      const p = m.parameters();
      expect(() => new SGD([{ params: p, lr: -1 }], { lr: 0.1 })).toThrow(
        /^SGD: params\[0\]\.lr: expected a finite number > 0, got number -1$/,
      );
      expect(() => new SGD([{ params: p, momentum: 0.9 } as never], { lr: 0.1 })).toThrow(/^SGD: params\[0\]: unknown option 'momentum'/);
      expect(() => new SGD([{ params: p.slice(0, 2) }, { params: p.slice(1) }], { lr: 0.1 })).toThrow(
        /^SGD: params: a parameter appears more than once$/,
      );
    });
  });
}
