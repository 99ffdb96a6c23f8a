// tensor(), Tensor.empty and Tensor.full reject bad data and shapes with a message naming the
// function, the argument, what was expected and what came. Runs against every backend.
import { beforeAll, beforeEach, describe, it, expect } from 'vitest';
import { init, backend, tensor, Tensor } from '../src/index';
import { caught, throwsLike } from './helpers';

const BACKENDS = ['wasm-simd', 'wasm', 'js'] as const;

for (const b of BACKENDS) {
  describe(b, () => {
    beforeAll(async () => {
      await init({ backend: b });
    });
    // Tests of one file run in order; this guards against describe blocks interleaving.
    beforeEach(() => {
      if (backend() !== b) throw new Error(`active backend is '${backend()}', expected '${b}'`);
    });

    describe('tensor()', () => {
      it('rejects data that is not a Float32Array, Float64Array or number[]', () => {
        const re = (got: string) => new RegExp(`^tensor: data: expected a Float32Array, Float64Array or number\\[\\], got ${got}$`);
        throwsLike(() => tensor(new Int32Array(3) as never), TypeError, re('Int32Array\\(3\\)'));
        throwsLike(() => tensor('abc' as never), TypeError, re("'abc'"));
        throwsLike(() => tensor({ length: 2 } as never), TypeError, re('Object'));
        throwsLike(() => tensor(undefined as never), TypeError, re('undefined'));
      });

      it('rejects a length that does not match the shape', () => {
        throwsLike(() => tensor([1, 2, 3], [2, 2]), RangeError, /^tensor: data has 3 values but shape \[2, 2\] needs 4$/);
        throwsLike(() => tensor(new Float32Array(5), [2, 3]), RangeError, /^tensor: data has 5 values but shape \[2, 3\] needs 6$/);
        throwsLike(() => tensor([], []), RangeError, /^tensor: data has 0 values but shape \[\] needs 1$/);
      });

      it('rejects bad shape entries and a shape that is not an array', () => {
        throwsLike(() => tensor([1, 2], [-2]), TypeError, /^tensor: shape\[0\]: expected a non-negative integer, got number -2$/);
        throwsLike(
          () => tensor([1, 2, 3], [1, 1.5, 2]),
          TypeError,
          /^tensor: shape\[1\]: expected a non-negative integer, got number 1.5$/,
        );
        throwsLike(() => tensor([1, 2], [NaN]), TypeError, /^tensor: shape\[0\]: expected a non-negative integer, got number NaN$/);
        throwsLike(() => tensor([1, 2], [2, Infinity]), TypeError, /shape\[1\]: expected a non-negative integer, got number Infinity$/);
        throwsLike(() => tensor([1, 2], ['2'] as never), TypeError, /^tensor: shape\[0\]: expected a non-negative integer, got '2'$/);
        throwsLike(
          () => tensor([1, 2], 2 as never),
          TypeError,
          /^tensor: shape: expected an array of non-negative integers, got number 2$/,
        );
        throwsLike(
          () => tensor([1, 2], new Int32Array([2]) as never),
          TypeError,
          /^tensor: shape: expected an array .*got Int32Array\(1\)$/,
        );
      });

      it('rejects an array holding a non-number, naming its index', () => {
        throwsLike(() => tensor([1, 'a'] as never, [2]), TypeError, /^tensor: data\[1\]: expected a number, got 'a'$/);
        throwsLike(() => tensor([1, 2, null] as never), TypeError, /^tensor: data\[2\]: expected a number, got null$/);
        throwsLike(() => tensor([0, 1n] as never), TypeError, /^tensor: data\[1\]: expected a number, got bigint 1$/);
      });

      // Array.prototype.forEach skips holes: a check written with it would let [1, , 3] through as
      // [1, NaN, 3].
      it('rejects a sparse array (holes are not numbers)', () => {
        // eslint-disable-next-line no-sparse-arrays
        throwsLike(() => tensor([1, , 3] as number[]), TypeError, /^tensor: data\[1\]: expected a number, got undefined$/);
      });

      // Tensor.empty and Tensor.full are exported: a negative or fractional dimension must not make
      // a tensor whose size disagrees with its memory.
      it('Tensor.empty and Tensor.full check the shape like tensor()', () => {
        throwsLike(() => Tensor.full([-2, -2], 7), TypeError, /shape\[0\]: expected a non-negative integer, got number -2$/);
        throwsLike(() => Tensor.empty([3, 1.5]), TypeError, /shape\[1\]: expected a non-negative integer, got number 1\.5$/);
      });

      if (b !== 'js') {
        // The byte count reaches the module's alloc as an i32: 2^30 floats (4 GiB) would wrap to a
        // 0-byte block, so such a size must be refused before it gets there.
        it('a tensor too large for 32-bit memory is refused with a message naming its shape', () => {
          expect(caught(() => Tensor.empty([2 ** 30])).message).toMatch(/\[1073741824\]/);
        });
      }
    });
  });
}
