// A call that throws changes nothing: no running statistic, no num_batches_tracked, no gradient,
// no optimizer step, no allocation left behind. Each layer kind gets bad calls, and its state dict,
// gradients and live allocations are compared before and after. Runs against every backend.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  Tensor,
  Adam,
  AdamW,
  AvgPool2d,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  Conv2d,
  CrossEntropyLoss,
  Dropout,
  Flatten,
  Generator,
  Linear,
  MaxPool2d,
  Module,
  ReLU,
  Sequential,
  SGD,
  Sigmoid,
  Tanh,
} from '../src/index';
import { BACKENDS } from './helpers';
import { randn } from './reference';
import { caught, countAllocations, type AllocationCounter } from './alloc_count';

const filled = (shape: number[], seed = 1): Tensor =>
  tensor(
    randn(
      shape.reduce((a, b) => a * b, 1),
      seed,
      0,
      1,
    ),
    shape,
  );

interface Snapshot {
  state: Record<string, unknown>;
  grads: Float32Array[];
  live: number;
}

/** One layer kind: how to make it, an input it takes, and inputs its forward rejects. */
interface Case {
  name: string;
  make: () => Module;
  input: number[];
  bad: number[][];
}

const CASES: Case[] = [
  {
    name: 'BatchNorm1d',
    make: () => new BatchNorm1d(3),
    input: [4, 3],
    bad: [
      [4, 5],
      [1, 3],
      [4, 3, 2, 1],
    ],
  },
  {
    name: 'BatchNorm2d NHWC fused ReLU',
    make: () => new BatchNorm2d(2, { layout: 'NHWC', activation: 'relu' }),
    input: [2, 3, 3, 2],
    bad: [
      [2, 2, 3, 3],
      [1, 1, 1, 2],
    ],
  },
  {
    name: 'BatchNorm3d',
    make: () => new BatchNorm3d(2, { momentum: null }),
    input: [2, 2, 2, 1, 2],
    bad: [
      [2, 3, 2, 1, 2],
      [2, 2, 2, 2],
    ],
  },
  { name: 'Linear', make: () => new Linear(3, 2, { generator: new Generator(1) }), input: [4, 3], bad: [[4, 2], [3]] },
  {
    name: 'Conv2d',
    make: () => new Conv2d(2, 3, 2, { generator: new Generator(1) }),
    input: [2, 2, 4, 4],
    bad: [
      [2, 3, 4, 4],
      [2, 2, 1, 1],
    ],
  },
  {
    name: 'Conv2d NHWC',
    make: () => new Conv2d(2, 3, 3, { padding: 1, layout: 'NHWC', generator: new Generator(1) }),
    input: [1, 4, 4, 2],
    bad: [[1, 4, 4, 3]],
  },
  {
    name: 'MaxPool2d',
    make: () => new MaxPool2d(2),
    input: [1, 2, 4, 4],
    bad: [
      [1, 2, 1, 4],
      [2, 4],
    ],
  },
  { name: 'AvgPool2d', make: () => new AvgPool2d(2, { layout: 'NHWC' }), input: [1, 4, 4, 2], bad: [[1, 1, 4, 2]] },
  { name: 'ReLU', make: () => new ReLU(), input: [2, 3], bad: [] },
  { name: 'Sigmoid', make: () => new Sigmoid(), input: [2, 3], bad: [] },
  { name: 'Tanh', make: () => new Tanh(), input: [2, 3], bad: [] },
  { name: 'Dropout', make: () => new Dropout(0.5, { generator: new Generator(1) }), input: [2, 3], bad: [] },
  { name: 'Flatten', make: () => new Flatten(), input: [2, 3, 2], bad: [[]] },
  // BN accepts what Flatten then Linear reject: the whole chain is checked before BN moves
  {
    name: 'Sequential',
    make: () => new Sequential(new BatchNorm2d(2), new Flatten(), new Linear(8, 3, { generator: new Generator(1) })),
    input: [2, 2, 2, 2],
    bad: [
      [2, 2, 3, 3],
      [2, 3, 2, 2],
    ],
  },
];

for (const b of BACKENDS) {
  describe(`${b}: a throwing call changes nothing`, () => {
    let count: AllocationCounter;
    beforeEach(async () => {
      await init({ backend: b });
      count = countAllocations();
    });
    afterEach(() => count.stop());

    const snapshot = (m: Module): Snapshot => ({
      state: m.stateDict(),
      grads: m.parameters().map((p) => p.grad.toArray()),
      live: count.live(),
    });

    for (const c of CASES) {
      it(`${c.name}: bad forward and backward calls leave state, gradients and memory as they were`, () => {
        const layer = c.make();
        const x = filled(c.input);
        const y = layer.forward(x);
        const dy = filled([...y.shape], 2);
        const dx0 = layer.backward(dy);
        const bad = [...c.bad.map((s, i) => filled(s, 3 + i)), filled([y.size + 1], 9), tensor([1], [])];
        const before = snapshot(layer);
        for (const t of bad.slice(0, c.bad.length)) {
          expect(caught(() => layer.forward(t)).message).toMatch(/\.forward: (input: )?expected/);
          expect(snapshot(layer)).toEqual(before);
        }
        expect(caught(() => layer.forward('x' as never)).message).toMatch(
          /\.forward: input: expected a Tensor \(see tensor\(\)\), got 'x'$/,
        );
        for (const g of bad.slice(c.bad.length)) {
          expect(caught(() => layer.backward(g)).message).toMatch(/\.backward: gradOutput: expected/);
          expect(snapshot(layer)).toEqual(before);
        }
        // what the last forward saved still stands: backward gives what it gave
        const dx1 = layer.backward(dy);
        expect(dx1.toArray()).toEqual(dx0.toArray());
        for (const t of [x, y, dy, dx0, dx1, ...bad]) t.dispose();
        layer.dispose();
      });
    }

    it("Sequential.forward whose third layer rejects the shape leaves the first BN's running statistics alone", () => {
      const bn = new BatchNorm2d(2);
      const model = new Sequential(bn, new Flatten(), new Linear(8, 3, { generator: new Generator(1) }));
      const x = filled([2, 2, 3, 3]);
      const before = snapshot(model);
      expect(caught(() => model.forward(x)).message).toBe('Linear.forward: input: expected [N, 8], got [2, 18]');
      expect(snapshot(model)).toEqual(before);
      expect(bn.numBatchesTracked).toBe(0);
      x.dispose();
      model.dispose();
    });

    for (const manual of [false, true]) {
      it(`Sequential.forward whose later layer cannot allocate puts back the running statistics moved before it (${manual ? 'after backward(dy)' : 'recording'})`, () => {
        const model = new Sequential(
          new BatchNorm2d(2),
          new Flatten(),
          new BatchNorm1d(8, { momentum: null }),
          new Linear(8, 3, { generator: new Generator(1) }),
        );
        const x = filled([3, 2, 2, 2]);
        const y0 = model.forward(x);
        // backward(dy) switches the layers to their own saved-state path (the model then owns its intermediates)
        if (manual) {
          model.backward(filled([3, 3], 1)).dispose();
          model.forward(x).dispose(); // the first forward by the layers' own path lets go of the recorded ops
        }
        y0.dispose();
        const before = snapshot(model),
          start = count.calls();
        model.forward(x).dispose();
        const n = count.calls() - start;
        const moved = snapshot(model);
        expect(moved.state['0.num_batches_tracked']).toBe(manual ? 3 : 2);
        for (let k = 1; k <= n; k++) {
          // a fresh forward from `before`, failing at its k-th allocation
          model.loadStateDict(before.state as never);
          count.failAt(k);
          expect(caught(() => model.forward(x)).message).toMatch(/this allocation fails/);
          const after = snapshot(model);
          expect({ ...after, live: 0 }).toEqual({ ...before, live: 0 });
          // by hand, the model owned the last forward's three intermediate outputs and frees them first
          if (manual) expect(after.live).toBe(before.live - 3);
          else {
            // recording, each layer that ran holds its newest op until its next forward: the same failure
            // again holds the same, nothing accumulates
            model.loadStateDict(before.state as never);
            count.failAt(k);
            caught(() => model.forward(x));
            expect(count.live()).toBe(after.live);
          }
        }
        x.dispose();
        model.dispose();
      });
    }

    it('Sequential.forward in eval with one nested BN set to train still puts its statistics back', () => {
      const bn = new BatchNorm1d(4);
      const model = new Sequential(
        new Sequential(new Linear(3, 4, { generator: new Generator(1) }), bn),
        new Linear(4, 2, { generator: new Generator(2) }),
      ).eval();
      bn.train();
      const x = filled([5, 3]);
      const before = snapshot(model);
      // the allocations: the inner Linear's output (and workspace), BN's output and workspace, then the outer Linear's
      const start = count.calls();
      model.forward(x).dispose();
      const n = count.calls() - start;
      model.loadStateDict(before.state as never);
      count.failAt(n);
      expect(caught(() => model.forward(x)).message).toMatch(/this allocation fails/);
      expect(snapshot(model).state).toEqual(before.state);
      expect(bn.numBatchesTracked).toBe(0);
      x.dispose();
      model.dispose();
    });

    it('Sequential.backward with the input disposed throws at layer 0 before a later layer adds to its gradient', () => {
      const model = new Sequential(
        new Linear(3, 4, { generator: new Generator(1) }),
        new BatchNorm1d(4),
        new ReLU(),
        new Linear(4, 2, { generator: new Generator(2) }),
      );
      const x = filled([5, 3]);
      const y = model.forward(x);
      const dy = filled([5, 2], 4);
      x.dispose();
      const before = snapshot(model);
      for (const run of [() => model.backward(dy), () => model.backwardParams(dy)]) {
        expect(caught(run).message).toMatch(
          /^Linear\.backward(Params)?: the input of the last forward\(\) was disposed; backward needs it$/,
        );
        expect(snapshot(model)).toEqual(before);
      }
      for (const t of [y, dy]) t.dispose();
      model.dispose();
    });

    it('Sequential.backward before any forward, or after a layer was disposed, touches no gradient', () => {
      const last = new Linear(3, 2, { generator: new Generator(1) });
      const fresh = new Sequential(new ReLU(), last);
      const dy = filled([4, 2]);
      expect(caught(() => fresh.backward(dy)).message).toBe('ReLU.backward: call forward() first');
      const model = new Sequential(new BatchNorm1d(3), new Linear(3, 2, { generator: new Generator(1) }));
      const x = filled([4, 3]);
      model.forward(x).dispose();
      (model.layers[0] as BatchNorm1d).dispose();
      const grad = (model.layers[1] as Linear).weight.grad.toArray();
      expect(caught(() => model.backward(dy)).message).toBe('BatchNorm1d.backward: the layer was disposed');
      expect((model.layers[1] as Linear).weight.grad.toArray()).toEqual(grad);
      for (const t of [x, dy]) t.dispose();
      fresh.dispose();
      model.dispose();
    });

    for (const [name, make] of [
      ['SGD', (p: Module) => new SGD(p.parameters(), { lr: 0.1, momentum: 0.9 })],
      ['Adam', (p: Module) => new Adam(p.parameters())],
      ['AdamW', (p: Module) => new AdamW(p.parameters())],
    ] as const) {
      it(`${name}.step() after dispose() throws naming the function, and moves nothing`, () => {
        const model = new Linear(3, 2, { generator: new Generator(1) });
        const opt = make(model);
        model.weight.grad.view().fill(0.5);
        opt.step();
        opt.dispose();
        const before = snapshot(model);
        expect(caught(() => opt.step()).message).toBe(`${name}.step: the optimizer was disposed`);
        expect(opt.steps).toBe(1);
        expect(snapshot(model)).toEqual(before);
        model.dispose();
      });
    }

    it('CrossEntropyLoss.forward with a label out of range, negative or not an integer throws before any state', () => {
      const loss = new CrossEntropyLoss();
      const logits = filled([3, 4]);
      loss.forward(logits, [0, 1, 2]);
      const live = count.live();
      for (const [labels, got] of [
        [[0, 4, 1], 'number 4'],
        [[0, -1, 1], 'number -1'],
        [[0, 1.5, 1], 'number 1.5'],
        [[0, 1, NaN], 'number NaN'],
      ] as const) {
        const e = caught(() => loss.forward(logits, labels));
        expect(e).toBeInstanceOf(RangeError);
        expect(e.message).toMatch(
          new RegExp(`^CrossEntropyLoss.forward: labels\\[\\d\\]: expected an integer class in \\[0, 4\\), got ${got}$`),
        );
        expect(count.live()).toBe(live);
      }
      // the gradient of the forward that succeeded is still the one handed out
      const g = loss.backward();
      const ref = new CrossEntropyLoss();
      ref.forward(logits, [0, 1, 2]);
      const want = ref.backward();
      expect(g.toArray()).toEqual(want.toArray());
      for (const t of [g, want, logits]) t.dispose();
    });
  });
}
