// Size limits, alike on every backend: a block over the allocator's cap, a shape whose element
// count is not a safe integer, and a WASM memory that cannot grow give clear RangeErrors.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor, BatchNorm1d, Generator, Linear, Parameter, Tensor, manualSeed } from '../src/index';
import { runtime } from '../src/runtime/index';
import { MAX_BLOCK_BYTES } from '../src/js/memory';
import { BACKENDS, caught } from './helpers';

for (const b of BACKENDS) {
  describe(`size limits (${b})`, () => {
    beforeAll(async () => {
      await init({ backend: b });
    });

    it('one block holds at most 2^30 - 64 bytes on every backend (the WASM allocator aborts above)', () => {
      const p = runtime().k.alloc(MAX_BLOCK_BYTES); // the cap itself is allocated (lazily zeroed: nothing is touched)
      runtime().k.free(p);
      const e = caught(() => runtime().k.alloc(MAX_BLOCK_BYTES + 64));
      expect(e).toBeInstanceOf(RangeError);
      expect(e.message).toBe(
        `out of memory: could not allocate ${MAX_BLOCK_BYTES + 64} bytes (one block holds at most ${MAX_BLOCK_BYTES} bytes on every backend)`,
      );
    });

    it('layers and tensors too large for a block throw a RangeError naming the shape, before any allocation', () => {
      const e = caught(() => Tensor.empty([2 ** 30]));
      expect(e).toBeInstanceOf(RangeError);
      expect(e.message).toBe(
        `Tensor.empty: could not allocate 4294967296 bytes for shape [1073741824]: out of memory: could not allocate 4294967296 bytes (one block holds at most ${MAX_BLOCK_BYTES} bytes on every backend)`,
      );
      const held = runtime().memoryBytes();
      expect(caught(() => new BatchNorm1d(2 ** 31))).toBeInstanceOf(RangeError);
      // the layers name themselves and the argument that made them too large
      expect(caught(() => new BatchNorm1d(2 ** 31)).message).toMatch(
        /^BatchNorm1d: numFeatures = 2147483648: \d+ bytes of parameters, gradients and state, more than WebAssembly's 4 GiB memory$/,
      );
      expect(caught(() => new Linear(65536, 65536, { generator: new Generator(0) })).message).toMatch(
        /^Linear: inFeatures × outFeatures = 65536 × 65536 = 4294967296: /,
      );
      // below the layer's total but above one block: the allocation says so and names the shape
      expect(caught(() => new Linear(8192, 32768, { generator: new Generator(0) })).message).toMatch(
        /could not allocate 1073741824 bytes for shape \[32768, 8192\]: out of memory/,
      );
      if (b === 'js') expect(runtime().memoryBytes()).toBe(held); // live bytes: nothing kept
    });

    it('a shape whose element count is not a safe integer is refused, not given size NaN', () => {
      const e = caught(() => Tensor.empty([1e200, 1e200, 0]));
      expect(e).toBeInstanceOf(TypeError);
      expect(e.message).toBe('Tensor.empty: shape[0]: expected a non-negative integer, got number 1e+200');
      expect(caught(() => Tensor.empty([2 ** 53, 0])).message).toBe(
        'Tensor.empty: shape[0]: expected a non-negative integer, got number 9007199254740992',
      );
      expect(caught(() => Tensor.full([2 ** 40, 2 ** 40], 0)).message).toBe(
        'Tensor.full: shape [1099511627776, 1099511627776]: the element count passes 2^53 - 1',
      );
      expect(caught(() => tensor([1], [2 ** 40, 2 ** 40, 1])).message).toBe(
        'tensor: shape [1099511627776, 1099511627776, 1]: the element count passes 2^53 - 1',
      );
      using z = Tensor.empty([2 ** 40, 2 ** 40, 0]); // a zero dim makes any size 0
      expect(z.size).toBe(0);
    });

    if (b !== 'js') {
      it('a WASM memory that cannot grow gives an out-of-memory RangeError, and stays usable', () => {
        const k = runtime().k,
          held: number[] = [];
        let e: Error | null = null;
        try {
          // 1 GiB blocks until the 4 GiB memory is full (untouched pages cost no RAM)
          for (let i = 0; i < 5; i++) held.push(k.alloc(MAX_BLOCK_BYTES));
        } catch (err) {
          e = err as Error;
        } finally {
          for (const p of held) k.free(p);
        }
        expect(e).toBeInstanceOf(RangeError);
        expect(e!.message).toMatch(
          new RegExp(
            `^out of memory: could not allocate ${MAX_BLOCK_BYTES} bytes \\(WebAssembly memory holds \\d+ of at most 4294967296 bytes\\)`,
          ),
        );
        using t = tensor([1, 2, 3]);
        expect([...t.toArray()]).toEqual([1, 2, 3]);
      });
    }
  });
}

describe('Generator errors name the function called', () => {
  it('new Generator, Generator.seed, manualSeed, fillUniform and below each name themselves', () => {
    expect(caught(() => new Generator(1.5)).message).toBe('new Generator: seed: expected an integer, got number 1.5');
    expect(caught(() => new Generator(0).seed(NaN)).message).toBe('Generator.seed: seed: expected an integer, got number NaN');
    expect(caught(() => manualSeed('1' as never)).message).toBe("manualSeed: seed: expected an integer, got '1'");
    expect(caught(() => new Generator(0).fillUniform(new Float32Array(2), NaN, 1)).message).toMatch(
      /^Generator\.fillUniform: low, high: expected finite numbers with low <= high, got number NaN, number 1$/,
    );
    expect(caught(() => new Generator(0).below(0)).message).toBe('Generator.below: n: expected a positive integer, got number 0');
  });
});

for (const b of BACKENDS) {
  describe(`Parameter (${b})`, () => {
    beforeAll(async () => {
      await init({ backend: b });
    });

    it('checks its shape before allocating, allocates its gradient at the first read, names its caller when that fails', () => {
      const k = runtime().k,
        alloc = k.alloc,
        free = k.free;
      const live = new Set<number>();
      let calls = 0,
        failAt = 0;
      k.alloc = (bytes) => {
        if (++calls === failAt) throw new RangeError('no memory left (simulated)');
        const p = alloc(bytes);
        live.add(p);
        return p;
      };
      k.free = (p) => {
        live.delete(p);
        free(p);
      };
      try {
        expect(caught(() => new Parameter([1.5], 0)).message).toBe('Parameter: shape[0]: expected a non-negative integer, got number 1.5');
        expect(caught(() => new Parameter([2], '1' as never, 'Linear')).message).toBe("Linear: value: expected a number, got '1'");
        expect(calls).toBe(0);
        const q = new Parameter([4], 1, 'Linear');
        expect(calls).toBe(1); // the values only: no gradient until one is needed
        failAt = 2; // the gradient's allocation fails at its first read
        const e = caught(() => q.grad);
        expect(e.message).toBe('Linear (gradient): could not allocate 16 bytes for shape [4]: no memory left (simulated)');
        expect(q._grad).toBeNull(); // nothing half-made: the next read tries again
        expect([...q.toArray()]).toEqual([1, 1, 1, 1]);
        failAt = 0;
        expect([...q.grad.toArray()]).toEqual([0, 0, 0, 0]);
        expect(q.grad).toBe(q.grad); // allocated once
        q.dispose();
        expect([...live]).toEqual([]);
        const p = new Parameter([2, 3], 0.5, 'Linear');
        expect([...p.toArray()]).toEqual(Array(6).fill(0.5));
        expect([...p.grad.toArray()]).toEqual(Array(6).fill(0));
        p.dispose();
        expect([...live]).toEqual([]);
        expect(caught(() => p.grad.toArray()).message).toBe('tensor [2, 3] was disposed and cannot be used');
        const r = new Parameter([3], 0, 'Conv2d: bias');
        r.dispose(); // disposed before it had a gradient: a read names it instead of allocating one
        expect(caught(() => r.grad).message).toBe('Conv2d: bias (gradient): the parameter was disposed');
        expect([...live]).toEqual([]);
        expect(caught(() => new Parameter([2 ** 31], 0, 'BatchNorm1d')).message).toMatch(
          /^BatchNorm1d: could not allocate 8589934592 bytes for shape \[2147483648\]: out of memory/,
        );
      } finally {
        k.alloc = alloc;
        k.free = free;
      }
    });
  });
}
