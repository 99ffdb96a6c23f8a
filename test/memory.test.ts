// Tensor lifecycle and memory: disposed tensors, `using`, backend switches, 16-byte alignment, and
// memory that stays flat over long training loops.
import { beforeEach, describe, expect, it } from 'vitest';
import { init, backend, memoryBytes, tensor, Tensor, BatchNorm1d, BatchNorm2d, BatchNorm3d, batchNorm, type Layout } from '../src/index';
import { filled, throwsLike, values } from './helpers';

const BACKENDS = ['wasm-simd', 'wasm', 'js'] as const;
const STEPS = 10_000;

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

for (const b of BACKENDS) {
  describe(b, () => {
    const other = b === 'js' ? 'wasm' : 'js';
    // A fresh instance per test (WASM memory never shrinks); the check guards against describe
    // blocks interleaving.
    let previous: string | null = null;
    beforeEach(async () => {
      if (previous !== null && backend() !== previous) throw new Error(`active backend is '${backend()}', expected '${previous}'`);
      await init({ backend: b });
      previous = b;
    });

    describe('tensor lifecycle', () => {
      it('a disposed tensor throws a clear error on use; dispose twice frees once', () => {
        const t = tensor([1, 2, 3, 4], [2, 2]);
        const held = memoryBytes();
        t.dispose();
        expect(t.disposed).toBe(true);
        expect(String(t)).toBe(`Tensor([2, 2], f32, ${b}, disposed)`);
        throwsLike(() => t.toArray(), Error, /^tensor \[2, 2\] was disposed and cannot be used$/);
        throwsLike(() => t.view(), Error, /^tensor \[2, 2\] was disposed and cannot be used$/);
        throwsLike(() => t.ptr, Error, /^tensor \[2, 2\] was disposed/);
        const freed = memoryBytes();
        if (b === 'js') expect(freed).toBe(held - 16);
        expect(() => t.dispose()).not.toThrow();
        expect(memoryBytes()).toBe(freed);
        // a block freed twice would be handed out twice
        const next = [1, 2, 3, 4].map((v) => tensor([v, v, v, v], [2, 2]));
        expect(new Set(next.map((n) => n.ptr)).size).toBe(4);
        expect(next.map((n) => n.toArray()[0])).toEqual([1, 2, 3, 4]);
        for (const n of next) n.dispose();
      });

      it('passing a disposed tensor to forward, backward or batchNorm names the argument', () => {
        const bn = new BatchNorm2d(3);
        const x = filled([2, 3, 2, 2]);
        x.dispose();
        throwsLike(() => bn.forward(x), Error, /^BatchNorm2d\.forward: input: tensor \[2, 3, 2, 2\] was disposed$/);
        using x2 = filled([2, 3, 2, 2]);
        bn.forward(x2).dispose();
        const dy = filled([2, 3, 2, 2], 2);
        dy.dispose();
        throwsLike(() => bn.backward(dy), Error, /^BatchNorm2d\.backward: gradOutput: tensor \[2, 3, 2, 2\] was disposed$/);
        using rv = tensor([1, 1, 1]);
        const rm = tensor([0, 0, 0]);
        rm.dispose();
        throwsLike(() => batchNorm(x2, rm, rv), Error, /^batchNorm: runningMean: tensor \[3\] was disposed$/);
        throwsLike(() => batchNorm(x, null, null, { training: true }), Error, /^batchNorm: input: tensor \[2, 3, 2, 2\] was disposed$/);
        bn.dispose();
      });

      it('`using` disposes at the end of the block', () => {
        const before = memoryBytes();
        let ref: Tensor | undefined;
        {
          using t = tensor([1, 2, 3]);
          ref = t;
          expect(t.disposed).toBe(false);
          expect(Array.from(t.toArray())).toEqual([1, 2, 3]);
          if (b === 'js') expect(memoryBytes()).toBe(before + 12);
        }
        expect(ref.disposed).toBe(true);
        throwsLike(() => ref!.toArray(), Error, /^tensor \[3\] was disposed/);
        if (b === 'js') expect(memoryBytes()).toBe(before);
      });

      it(`a tensor or layer made under '${b}' throws, naming both backends, once init() switched to '${other}'`, async () => {
        const t = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
        const bn = new BatchNorm1d(3);
        await init({ backend: other });
        try {
          const both = `belongs to backend '${b}', but the active backend is '${other}'`;
          throwsLike(() => t.toArray(), Error, new RegExp(`^tensor \\[2, 3\\] ${both} \\(init\\(\\) was called again\\)$`));
          throwsLike(() => new BatchNorm1d(3).forward(t), Error, new RegExp(`^BatchNorm1d\\.forward: input: tensor ${both}$`));
          using fresh = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
          throwsLike(() => bn.forward(fresh), Error, new RegExp(`^BatchNorm1d\\.forward: this \\(the layer\\): tensor ${both}$`));
          throwsLike(() => batchNorm(t, null, null, { training: true }), Error, new RegExp(`^batchNorm: input: tensor ${both}$`));
          expect(() => t.dispose()).not.toThrow();
          expect(t.disposed).toBe(true);
          expect(() => bn.dispose()).not.toThrow();
        } finally {
          await init({ backend: b });
        }
      });

      it('init() of the same backend again makes a new memory: older tensors and layers then throw', async () => {
        using t = tensor([1, 2]);
        const bn = new BatchNorm1d(2);
        await init({ backend: b });
        throwsLike(
          () => t.toArray(),
          Error,
          new RegExp(`^tensor \\[2\\] belongs to backend '${b}', but the active backend is '${b}' \\(init\\(\\) was called again\\)$`),
        );
        using x = filled([3, 2]);
        throwsLike(() => bn.forward(x), Error, /^BatchNorm1d\.forward: this \(the layer\): tensor belongs to backend/);
      });

      // Tensors dropped without dispose() are freed by a FinalizationRegistry once collected. `gc` is
      // exposed by --expose-gc (vitest.config.ts; Chromium's --js-flags in vitest.browser.config.ts);
      // finalizers run in a later task, so each collection is followed by a turn of the event loop.
      it('a Tensor dropped without dispose() is freed once it is garbage-collected', async () => {
        const gc = (globalThis as { gc?: () => void }).gc;
        expect(gc, 'gc() (run with --expose-gc)').toBeTypeOf('function');
        const collect = async () => {
          for (let i = 0; i < 3; i++) {
            gc!();
            await new Promise((r) => setTimeout(r, 1));
          }
        };
        const MIB = 1 << 20,
          ROUNDS = 16;
        const drop = () => {
          tensor(new Float32Array(MIB / 4), [MIB / 4]);
        };
        await collect();
        const before = memoryBytes();
        for (let i = 0; i < ROUNDS; i++) {
          drop();
          await collect();
        }
        // js counts live bytes: all returned (and perhaps an earlier test's garbage whose finalizer ran
        // late, so at most `before`). WASM memory never shrinks, but a freed block is reused: without
        // the finalizer it would grow by ROUNDS MiB; with it by a few blocks at most (a busy machine
        // may run a finalizer a round late, so two or three blocks can be live at once).
        if (b === 'js') expect(memoryBytes()).toBeLessThanOrEqual(before);
        else expect(memoryBytes() - before).toBeLessThanOrEqual((ROUNDS / 4) * MIB);
      });
    });

    if (b !== 'js') {
      it('tensor, parameter, gradient, running-statistics and output pointers are 16-byte aligned (v128 loads)', () => {
        const ptrs: number[] = [];
        const live: Tensor[] = [];
        for (let n = 1; n <= 70; n++) {
          live.push(tensor(new Float32Array(n)));
          if (n % 3 === 0) live.splice((n * 7) % live.length, 1)[0].dispose(); // interleave frees
        }
        for (const t of live) ptrs.push(t.ptr);
        for (const [make, shape] of [
          [() => new BatchNorm1d(5), [3, 5, 7]],
          [() => new BatchNorm2d(7, { layout: 'NHWC' }), [3, 1, 3, 7]],
          [() => new BatchNorm3d(3), [2, 3, 1, 3, 1]],
        ] as const) {
          const bn = make();
          using x = filled([...shape]);
          using y = bn.forward(x);
          using dx = bn.backward(x);
          ptrs.push(
            x.ptr,
            y.ptr,
            dx.ptr,
            bn.weight!.ptr,
            bn.weight!.grad.ptr,
            bn.bias!.ptr,
            bn.bias!.grad.ptr,
            bn.runningMean!.ptr,
            bn.runningVar!.ptr,
          );
          bn.dispose();
        }
        expect(ptrs.length).toBeGreaterThan(70);
        expect(ptrs.filter((p) => p % 16 !== 0)).toEqual([]);
        for (const t of live) t.dispose();
      });
    }

    describe('memory over a training loop', () => {
      for (const layout of ['NCHW', 'NHWC'] as const) {
        it(`${STEPS} forward+backward steps of BatchNorm2d ${layout} [4, 8, 5, 5] keep memory flat`, () => {
          const shape = layout === 'NCHW' ? [4, 8, 5, 5] : [4, 5, 5, 8];
          const xs = values(count(shape), 1),
            gs = values(count(shape), 2);
          const bn = new BatchNorm2d(8, { layout });
          const base = memoryBytes();
          const step = () => {
            using x = tensor(xs, shape);
            using y = bn.forward(x);
            using dy = tensor(gs, shape);
            using dx = bn.backward(dy);
            bn.eval();
            using ye = bn.forward(x);
            bn.train();
          };
          step();
          const afterFirst = memoryBytes();
          // live bytes: every step frees what it allocates; the first backward made γ's and β's gradients
          if (b === 'js') expect(afterFirst).toBe(base + 2 * 8 * 4);
          for (let i = 1; i < STEPS; i++) step();
          expect(memoryBytes()).toBe(afterFirst);
          expect(bn.numBatchesTracked).toBe(STEPS);
          expect(bn.weight!.grad.toArray().every(Number.isFinite)).toBe(true);
          bn.dispose();
        });
      }

      it(`${STEPS} calls of the functional batchNorm keep memory flat`, () => {
        using x = filled([4, 6, 3, 3]);
        using rm = tensor(new Float32Array(6));
        using rv = tensor(new Float32Array(6).fill(1));
        using w = tensor(values(6, 3));
        using xh = filled([4, 3, 3, 6], 2);
        const step = () => {
          using y = batchNorm(x, rm, rv, { training: true, weight: w });
          using yh = batchNorm(xh, rm, rv, { layout: 'NHWC' });
        };
        const base = memoryBytes();
        step();
        const afterFirst = memoryBytes();
        if (b === 'js') expect(afterFirst).toBe(base);
        for (let i = 1; i < STEPS; i++) step();
        expect(memoryBytes()).toBe(afterFirst);
      });

      it('batch sizes that vary in a cycle keep memory flat once the cycle has been seen', () => {
        const bn = new BatchNorm2d(4, { layout: 'NHWC' });
        const cycle = [2, 7, 1, 5, 3, 8];
        const run = () => {
          for (const n of cycle) {
            const shape = [n, 3, 3, 4];
            using x = filled(shape, n);
            using y = bn.forward(x);
            using dx = bn.backward(y);
          }
        };
        run();
        run();
        const settled = memoryBytes();
        for (let i = 0; i < 1000; i++) run();
        expect(memoryBytes()).toBe(settled);
        bn.dispose();
      });
    });

    if (b === 'js') {
      describe('live bytes (js backend)', () => {
        it('each allocation is accounted exactly and returned on dispose', () => {
          const base = memoryBytes();
          const t = tensor(new Float32Array(10), [2, 5]);
          expect(memoryBytes()).toBe(base + 40);
          for (const layout of ['NCHW', 'NHWC'] as const) {
            const shape = layout === 'NCHW' ? [2, 3, 2, 2] : [2, 2, 2, 3];
            const bn = new BatchNorm2d(3, { layout });
            const withLayer = memoryBytes();
            using x = filled(shape);
            const withX = memoryBytes();
            expect(withX).toBe(withLayer + 96);
            const y = bn.forward(x);
            // the output, and the batch statistics its op keeps for the tape (3·C f64): the workspace was freed
            const saved = 3 * 3 * 8;
            expect(memoryBytes()).toBe(withX + 96 + saved);
            const dx = bn.backward(y);
            // dx, and γ's and β's gradients: allocated at this first backward that adds to them
            const grads = 2 * 3 * 4;
            expect(memoryBytes()).toBe(withX + 192 + saved + grads);
            // the statistics go with the op, once y (the tape's hold) is disposed
            const ye = bn.eval().forward(x);
            expect(memoryBytes()).toBe(withX + 288 + saved + grads);
            for (const r of [y, dx, ye]) r.dispose();
            expect(memoryBytes()).toBe(withX + grads);
            const yf = batchNorm(x, null, null, { training: true, layout });
            expect(memoryBytes()).toBe(withX + grads + 96); // only the output: the saved statistics were freed
            yf.dispose();
            bn.dispose();
            expect(memoryBytes()).toBe(base + 40 + 96); // t and x
          }
          expect(memoryBytes()).toBe(base + 40);
          t.dispose();
          expect(memoryBytes()).toBe(base);
        });

        it('layer.dispose() frees the parameters, gradients, running statistics and saved statistics', () => {
          const base = memoryBytes();
          for (const options of [{}, { affine: false }, { trackRunningStats: false }, { affine: false, trackRunningStats: false }]) {
            const bn = new BatchNorm3d(5, options);
            expect(memoryBytes()).toBeGreaterThan(base);
            const x = filled([2, 5, 1, 2, 2]);
            bn.forward(x).dispose();
            bn.dispose();
            bn.dispose();
            x.dispose();
            expect(memoryBytes()).toBe(base);
          }
        });
      });
    }
  });
}
