// A constructor or call that throws leaves no allocation behind: counted by wrapping the backend's
// alloc/free, and by making each allocation of a call fail in turn. Runs against every backend.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  init,
  tensor,
  batchNorm,
  Adam,
  AvgPool2d,
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  Conv2d,
  Dropout,
  Flatten,
  Generator,
  Linear,
  manualSeed,
  MaxPool2d,
  Module,
  Parameter,
  ReLU,
  Sequential,
  SGD,
  Sigmoid,
  foldBatchNorm,
} from '../src/index';
import { BACKENDS } from './helpers';
import { caught, countAllocations, type AllocationCounter } from './alloc_count';

/** A trained-looking Linear-BN model whose second BN cannot be folded (no running statistics). */
function unfoldable(): Sequential {
  const gen = new Generator(2);
  return new Sequential(
    new Linear(3, 4, { generator: gen }),
    new BatchNorm1d(4),
    new ReLU(),
    new Linear(4, 2, { generator: gen }),
    new BatchNorm1d(2, { trackRunningStats: false }),
  );
}

for (const b of BACKENDS) {
  describe(`${b}: no allocation left behind by a throw`, () => {
    let count: AllocationCounter;
    beforeEach(async () => {
      await init({ backend: b });
      count = countAllocations();
    });
    afterEach(() => count.stop());

    it('a layer given a bad generator throws before allocating', () => {
      for (const make of [
        () => new Linear(4, 3, { generator: {} as Generator }),
        () => new Conv2d(2, 3, 2, { generator: 5 as unknown as Generator }),
      ]) {
        const e = caught(make);
        expect(e).toBeInstanceOf(TypeError);
        expect(e.message).toMatch(/^(Linear|Conv2d): generator: expected a Generator, got (Object|number 5)$/);
        expect(count.live()).toBe(0);
      }
    });

    it('Dropout checks its generator and options when made, not in a forward that then leaks', () => {
      expect(caught(() => new Dropout(0.5, { generator: 5 as unknown as Generator })).message).toBe(
        'Dropout: generator: expected a Generator, got number 5',
      );
      expect(caught(() => new Dropout(0.5, { seed: 1 } as never)).message).toBe(
        "Dropout: unknown option 'seed' (expected one of generator)",
      );
      expect(caught(() => new Dropout(0.5, null as never)).message).toBe('Dropout: options: expected an object, got null');
      expect(count.live()).toBe(0);
    });

    it('new Parameter with a non-integer shape or a non-number value throws before allocating', () => {
      expect(caught(() => new Parameter([1.5], 0)).message).toBe('Parameter: shape[0]: expected a non-negative integer, got number 1.5');
      expect(caught(() => new Parameter([2], 'a' as never)).message).toBe("Parameter: value: expected a number, got 'a'");
      expect(count.live()).toBe(0);
    });

    it('foldBatchNorm failing at its second fold frees the first and leaves the default generator alone', () => {
      const model = unfoldable();
      const held = count.live();
      manualSeed(7);
      const e = caught(() => foldBatchNorm(model));
      expect(e.message).toBe('foldBatchNorm: layer 4: a BatchNorm without running statistics cannot be folded');
      expect(count.live()).toBe(held);
      // the default generator is where manualSeed(7) put it: a Linear made now equals one made from Generator(7)
      const after = new Linear(3, 2),
        fresh = new Linear(3, 2, { generator: new Generator(7) });
      expect(after.weight.toArray()).toEqual(fresh.weight.toArray());
      expect(after.bias!.toArray()).toEqual(fresh.bias!.toArray());
      after.dispose();
      fresh.dispose();
      model.dispose();
      expect(count.live()).toBe(0);
    });

    it('foldBatchNorm frees what it made when makeFolded throws at a later layer', () => {
      class Custom extends Module {
        weight = new Parameter([2, 4], 0.5);
        forward(x: never): never {
          return x;
        }
        backward(x: never): never {
          return x;
        }
        protected ownParameters(): [string, Parameter][] {
          return [['weight', this.weight]];
        }
      }
      const model = new Sequential(new Linear(3, 4, { generator: new Generator(1) }), new BatchNorm1d(4), new Custom(), new BatchNorm1d(2));
      const held = count.live();
      const e = caught(() =>
        foldBatchNorm(model, {
          makeFolded: () => {
            throw new Error('cannot');
          },
        }),
      );
      expect(e.message).toBe('cannot');
      expect(count.live()).toBe(held);
      model.dispose();
    });

    it('foldBatchNorm rejects unknown options and a makeFolded that is not a function', () => {
      const model = unfoldable();
      const held = count.live();
      expect(caught(() => foldBatchNorm(model, { makeFolder: () => null } as never)).message).toBe(
        "foldBatchNorm: unknown option 'makeFolder' (expected one of makeFolded)",
      );
      expect(caught(() => foldBatchNorm(model, { makeFolded: 3 } as never)).message).toBe(
        'foldBatchNorm: makeFolded: expected a function, got number 3',
      );
      expect(caught(() => foldBatchNorm(model, null as never)).message).toBe('foldBatchNorm: options: expected an object, got null');
      expect(count.live()).toBe(held);
      model.dispose();
    });

    it('a layer too large names the layer and the argument, and allocates nothing', () => {
      const cases: [() => unknown, RegExp][] = [
        [
          () => new Linear(65536, 65536),
          /^Linear: inFeatures × outFeatures = 65536 × 65536 = 4294967296: \d+ bytes of parameters, gradients and state, more than WebAssembly's 4 GiB memory$/,
        ],
        [() => new Linear(20000, 30000), /^Linear: inFeatures × outFeatures = 20000 × 30000 = 600000000: /],
        [() => new BatchNorm1d(2 ** 31), /^BatchNorm1d: numFeatures = 2147483648: \d+ bytes/],
        [() => new BatchNorm2d(2 ** 28), /^BatchNorm2d: numFeatures = 268435456: 12884901888 bytes/],
        [() => new Conv2d(4096, 4096, 64), /^Conv2d: outChannels × inChannels × kh × kw = 4096 × 4096 × 64 × 64 = 68719476736: /],
      ];
      for (const [make, re] of cases) {
        const e = caught(make);
        expect(e).toBeInstanceOf(RangeError);
        expect(e.message).toMatch(re);
      }
      expect(count.calls()).toBe(0);
    });

    // Each constructor (and fold) is run with its 1st, 2nd, … allocation failing: every run throws
    // the allocation's error and leaves nothing allocated. A Parameter makes one (its gradient waits
    // for its first read: test/limits.test.ts), a layer several.
    const params = () => [new Parameter([3], 1), new Parameter([2, 2], 1)];
    const constructors: [string, () => { dispose(): void } | void][] = [
      ['BatchNorm1d', () => new BatchNorm1d(3)],
      ['BatchNorm2d (no affine)', () => new BatchNorm2d(3, { affine: false })],
      ['BatchNorm3d', () => new BatchNorm3d(2)],
      ['Linear', () => new Linear(3, 2)],
      ['Conv2d NHWC', () => new Conv2d(2, 3, 2, { layout: 'NHWC' })],
      ['Parameter', () => new Parameter([3], 0)],
    ];
    for (const [name, make] of constructors) {
      it(`${name}: any allocation failing frees those before it`, () => {
        make()?.dispose();
        const n = count.calls();
        expect(n).toBeGreaterThan(name === 'Parameter' ? 0 : 1);
        expect(count.live()).toBe(0);
        for (let k = 1; k <= n; k++) {
          count.failAt(k);
          expect(caught(make).message).toMatch(/this allocation fails/);
          expect(count.live()).toBe(0);
        }
      });
    }

    for (const [name, make] of [
      ['SGD with momentum', (p: Parameter[]) => new SGD(p, { lr: 0.1, momentum: 0.9 })],
      ['Adam', (p: Parameter[]) => new Adam(p)],
    ] as const) {
      it(`${name}: any allocation of its state failing frees the rest`, () => {
        const p = params();
        const held = count.live(),
          start = count.calls();
        make(p).dispose();
        const n = count.calls() - start;
        expect(n).toBeGreaterThan(1);
        for (let k = 1; k <= n; k++) {
          count.failAt(k);
          expect(caught(() => make(p)).message).toMatch(/this allocation fails/);
          expect(count.live()).toBe(held);
        }
        for (const q of p) q.dispose();
      });
    }

    it('foldBatchNorm: any allocation failing frees the layers already folded', () => {
      const gen = new Generator(3);
      const model = new Sequential(
        new Linear(3, 4, { generator: gen }),
        new BatchNorm1d(4),
        new ReLU(),
        new Linear(4, 2, { generator: gen }),
        new BatchNorm1d(2),
      );
      const held = count.live(),
        start = count.calls();
      foldBatchNorm(model).layers.forEach((l, i) => {
        if (i !== 1) l.dispose();
      });
      const n = count.calls() - start;
      expect(count.live()).toBe(held);
      for (let k = 1; k <= n; k++) {
        count.failAt(k);
        expect(caught(() => foldBatchNorm(model)).message).toMatch(/this allocation fails/);
        expect(count.live()).toBe(held);
      }
      model.dispose();
    });

    // A forward whose k-th allocation fails (its output, a workspace) frees the others and keeps
    // what the last forward saved: the backward that follows gives what it gave before.
    const forwards: [string, () => Module, number[]][] = [
      ['BatchNorm2d', () => new BatchNorm2d(2), [3, 2, 2, 2]],
      ['BatchNorm1d NLC fused ReLU', () => new BatchNorm1d(3, { layout: 'NLC', activation: 'relu' }), [2, 5, 3]],
      ['Linear', () => new Linear(5, 3, { generator: new Generator(1) }), [4, 5]],
      ['Conv2d', () => new Conv2d(2, 3, 3, { padding: 1, generator: new Generator(1) }), [2, 2, 5, 5]],
      ['Conv2d NHWC', () => new Conv2d(2, 3, 3, { layout: 'NHWC', generator: new Generator(1) }), [2, 5, 5, 2]],
      ['MaxPool2d', () => new MaxPool2d(2), [1, 2, 4, 4]],
      ['AvgPool2d', () => new AvgPool2d(2), [1, 2, 4, 4]],
      ['Sigmoid', () => new Sigmoid(), [3, 4]],
      ['Flatten', () => new Flatten(), [3, 2, 2]],
    ];
    for (const [name, make, shape] of forwards) {
      it(`${name}.forward: any allocation failing frees the others and keeps the last forward's state`, () => {
        const layer = make();
        const x = tensor(
          Float32Array.from({ length: shape.reduce((a, c) => a * c, 1) }, (_, i) => Math.sin(i)),
          shape,
        );
        const y = layer.forward(x);
        const dy = tensor(new Float32Array(y.size).fill(0.5), [...y.shape]);
        const dx0 = layer.backward(dy);
        // the first forward recorded on the tape; after backward(dy) the layer runs its own path, whose
        // first forward may allocate what later ones reuse (Conv2d NHWC's rearranged weight)
        layer.forward(x).dispose();
        const start = count.calls();
        // kept, not disposed: Sigmoid's backward needs the output of its last forward
        const y2 = layer.forward(x);
        const n = count.calls() - start,
          held = count.live();
        for (let k = 1; k <= n; k++) {
          count.failAt(k);
          expect(caught(() => layer.forward(x)).message).toMatch(/this allocation fails/);
          expect(count.live()).toBe(held);
        }
        const dx1 = layer.backward(dy);
        expect(dx1.toArray()).toEqual(dx0.toArray());
        for (const t of [x, y, y2, dy, dx0, dx1]) t.dispose();
        layer.dispose();
      });
    }

    it('Linear.backward: any allocation failing (dx, a product workspace) adds nothing to the gradients', () => {
      const layer = new Linear(5, 3, { generator: new Generator(1) });
      const x = tensor(
        Float32Array.from({ length: 20 }, (_, i) => Math.sin(i)),
        [4, 5],
      );
      const y = layer.forward(x);
      const dy = tensor(new Float32Array(12).fill(0.5), [4, 3]);
      const grads = () => layer.parameters().map((p) => Array.from(p.grad.toArray()));
      const before = grads(),
        start = count.calls();
      layer.backward(dy).dispose();
      const n = count.calls() - start;
      layer.zeroGrad();
      for (let k = 1; k <= n; k++) {
        count.failAt(k);
        const held = count.live();
        expect(caught(() => layer.backward(dy)).message).toMatch(/this allocation fails/);
        expect(count.live()).toBe(held);
        expect(grads()).toEqual(before);
      }
      for (const t of [x, y, dy]) t.dispose();
      layer.dispose();
    });

    it('batchNorm (functional): any allocation failing frees the others and leaves the running statistics', () => {
      const x = tensor(
        Float32Array.from({ length: 24 }, (_, i) => Math.cos(i)),
        [4, 3, 2],
      );
      const rm = tensor([0.5, 0, -0.5], [3]),
        rv = tensor([1, 2, 3], [3]);
      const rm0 = tensor([0, 0, 0], [3]),
        rv0 = tensor([1, 1, 1], [3]);
      const held = count.live(),
        start = count.calls();
      batchNorm(x, rm0, rv0, { training: true }).dispose();
      const n = count.calls() - start;
      expect(count.live()).toBe(held);
      for (let k = 1; k <= n; k++) {
        const live = count.live();
        count.failAt(k);
        expect(caught(() => batchNorm(x, rm, rv, { training: true })).message).toMatch(/this allocation fails/);
        expect(count.live()).toBe(live);
        expect(Array.from(rm.toArray())).toEqual([0.5, 0, -0.5]);
        expect(Array.from(rv.toArray())).toEqual([1, 2, 3]);
      }
      expect(count.live()).toBe(held);
      for (const t of [x, rm, rv, rm0, rv0]) t.dispose();
    });

    it('Dropout.forward: an allocation failing frees the output and keeps the last mask', () => {
      const drop = new Dropout(0.5, { generator: new Generator(1) });
      const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
      const y = drop.forward(x);
      const held = count.live();
      for (const k of [1, 2]) {
        count.failAt(k);
        expect(caught(() => drop.forward(x)).message).toMatch(/this allocation fails/);
        expect(count.live()).toBe(held);
      }
      // backward still uses the mask of the forward that succeeded: dx = dy · mask
      const dy = tensor([1, 1, 1, 1, 1, 1], [2, 3]);
      const dx = drop.backward(dy).toArray(),
        yv = y.toArray();
      for (let i = 0; i < 6; i++) expect(dx[i]).toBe(yv[i] / (i + 1));
      for (const t of [x, y, dy]) t.dispose();
      drop.dispose();
    });
  });
}
