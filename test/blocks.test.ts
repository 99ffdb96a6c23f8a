// Typed blocks (src/runtime/block.ts): f64 and i32 data in backend memory as what they are, not as
// an f32 Tensor. BatchNorm's saved statistics are an F64Block and keep f64 values an f32 store would
// round; MaxPool's argmax and the labels of CrossEntropyLoss are I32Blocks, freed with their owner.
import { describe, expect, it } from 'vitest';
import { init, memoryBytes, tensor, BatchNorm1d, CrossEntropyLoss, MaxPool2d } from '../src/index';
import { runtime } from '../src/runtime/index';
import { F64Block, I32Block } from '../src/runtime/block';
import { forwardCore, Stats } from '../src/nn/bn_core';
import { geometry } from '../src/kernels/batchnorm';
import { BACKENDS } from './helpers';
import { randn, refForwardTrain } from './reference';

for (const b of BACKENDS) {
  describe(`${b}: typed blocks`, () => {
    it('an F64Block keeps f64 values exactly (an f32 store would round every one of them)', async () => {
      await init({ backend: b });
      const want = [1 / 3, Math.PI, 1e300, -5e-324, 2 ** 53 - 1];
      using blk = new F64Block(want.length);
      expect([blk.dtype, blk.length]).toEqual(['f64', 5]);
      blk.f64().set(want);
      // a fresh view over the same bytes, after an allocation that may have moved memory
      using other = new F64Block(1 << 16);
      expect(other.f64().length).toBe(1 << 16);
      expect(Array.from(blk.f64())).toEqual(want);
      for (const v of want) expect(Math.fround(v)).not.toBe(v);
    });

    it("an I32Block keeps integers exactly, past f32's 2^24", async () => {
      await init({ backend: b });
      const want = [2 ** 24 + 1, -(2 ** 31), 2 ** 31 - 1, 0, 7];
      using blk = new I32Block(want.length);
      blk.i32().set(want);
      expect(Array.from(runtime().i32(blk.ptr, want.length))).toEqual(want);
      expect(Math.fround(want[0])).not.toBe(want[0]);
    });

    it('dispose frees the block once; later use throws naming it', async () => {
      await init({ backend: b });
      const before = memoryBytes();
      const blk = new I32Block(1000);
      expect(blk.disposed).toBe(false);
      blk.dispose();
      blk.dispose();
      expect(blk.disposed).toBe(true);
      expect(() => blk.ptr).toThrow(/^i32 block \[1000\] was disposed and cannot be used$/);
      expect(() => blk.i32()).toThrow(/^i32 block \[1000\] was disposed/);
      expect(() => blk.check('Here.there', 'stats')).toThrow(/^Here\.there: stats: i32 block \[1000\] was disposed/);
      if (b === 'js') expect(memoryBytes()).toBe(before);
    });

    it('a block of length 0 still has a pointer; bad lengths throw', async () => {
      await init({ backend: b });
      using z = new F64Block(0);
      expect(z.ptr).toBeGreaterThan(0);
      expect(z.f64().length).toBe(0);
      expect(() => new F64Block(-1)).toThrow(/^f64 block: length: expected a non-negative integer, got number -1$/);
      expect(() => new I32Block(1.5)).toThrow(/^i32 block: length: expected a non-negative integer, got number 1.5$/);
    });

    it('a block made under another backend throws naming both', async () => {
      await init({ backend: b });
      const blk = new F64Block(3);
      const other = b === 'js' ? 'wasm' : 'js';
      await init({ backend: other });
      try {
        expect(() => blk.ptr).toThrow(new RegExp(`^f64 block \\[3\\] belongs to backend '${b}', but the active backend is '${other}'$`));
        expect(() => blk.dispose()).not.toThrow();
      } finally {
        await init({ backend: b });
      }
    });

    it("BatchNorm's saved statistics are an F64Block of mean, biased var and invstd, kept in f64", async () => {
      await init({ backend: b });
      const c = 3,
        shape = [5, c, 4],
        eps = 1e-5;
      const x = randn(60, 11, 0.7, 2);
      using xt = tensor(x, shape);
      const g = geometry('NCL', shape);
      const stats = new Stats(c);
      try {
        expect(stats.block).toBeInstanceOf(F64Block);
        expect([stats.mean, stats.vari, stats.invstd]).toEqual([0, 8 * c, 16 * c].map((o) => stats.block.ptr + o));
        forwardCore(g, xt, null, null, true, eps, stats, null, null).dispose();
        const v = stats.block.f64();
        const ref = refForwardTrain(x, 'NCL', shape, eps);
        for (let ch = 0; ch < c; ch++) {
          // the kernels' statistics agree with a float64 two-pass reference to well below f32's 6e-8
          expect(Math.abs(v[ch] - ref.mean[ch])).toBeLessThan(1e-9 * (1 + Math.abs(ref.mean[ch])));
          expect(Math.abs(v[c + ch] / ref.var[ch] - 1)).toBeLessThan(1e-9);
          // invstd is 1/√(var + eps) of the stored f64 var, and itself stored in f64
          expect(Math.abs(v[2 * c + ch] * Math.sqrt(v[c + ch] + eps) - 1)).toBeLessThan(4e-16);
        }
        expect(Array.from(v).some((s) => Math.fround(s) !== s)).toBe(true);
      } finally {
        stats.block.dispose();
      }
      if (b === 'js') {
        // a layer frees its statistics' block on dispose
        const before = memoryBytes();
        const bn = new BatchNorm1d(c);
        bn.forward(xt).dispose();
        bn.dispose();
        expect(memoryBytes()).toBe(before);
      }
    });

    it("MaxPool2d's argmax block is replaced by each forward and freed on dispose; CrossEntropyLoss leaves no labels behind", async () => {
      await init({ backend: b });
      using x = tensor(randn(2 * 3 * 6 * 6, 5), [2, 3, 6, 6]);
      using dy = tensor(randn(2 * 3 * 3 * 3, 6), [2, 3, 3, 3]);
      const pool = new MaxPool2d(2);
      pool.forward(x).dispose();
      const held = memoryBytes();
      for (let i = 0; i < 5; i++) pool.forward(x).dispose();
      expect(memoryBytes()).toBe(held);
      // each gradient lands on its window's maximum (random inputs: no ties), read through the argmax block
      using dx = pool.backward(dy);
      const X = x.toArray(),
        D = dx.toArray(),
        G = dy.toArray();
      for (let p = 0; p < 18; p++) {
        for (let oy = 0; oy < 3; oy++) {
          for (let ox = 0; ox < 3; ox++) {
            let best = -Infinity,
              at = -1;
            for (const [dyy, dxx] of [
              [0, 0],
              [0, 1],
              [1, 0],
              [1, 1],
            ]) {
              const i = p * 36 + (2 * oy + dyy) * 6 + 2 * ox + dxx;
              if (X[i] > best) [best, at] = [X[i], i];
            }
            expect(D[at]).toBe(G[p * 9 + oy * 3 + ox]);
          }
        }
      }
      if (b === 'js') {
        pool.dispose();
        const loss = new CrossEntropyLoss();
        using logits = tensor(randn(12, 3), [4, 3]);
        const before = memoryBytes();
        loss.forward(logits, [0, 2, 1, 2]);
        // what stays is the kept gradient [4, 3], not the labels' block
        expect(memoryBytes() - before).toBe(12 * 4);
      }
    });
  });
}
