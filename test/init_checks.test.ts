// The initialisers reject what would fill weights with NaN (a NaN gain, non-number bounds, a
// reversed range) and leave the tensor as it was; valid calls draw U(low, high) from the generator.
import { beforeEach, describe, expect, it } from 'vitest';
import { init, Generator, Parameter, kaimingUniform, uniform, xavierUniform } from '../src/index';
import { BACKENDS } from './helpers';
import { caught } from './alloc_count';

for (const b of BACKENDS) {
  describe(`${b}: weight initialisers`, () => {
    beforeEach(async () => {
      await init({ backend: b });
    });

    it('reject a gain or bound that is not a finite number, naming the function and argument', () => {
      const w = new Parameter([3, 4], 0.25);
      const cases: [() => unknown, ErrorConstructor, string][] = [
        [() => kaimingUniform(w, NaN), TypeError, 'kaimingUniform: a: expected a finite number, got number NaN'],
        [() => kaimingUniform(w, 'x' as never), TypeError, "kaimingUniform: a: expected a finite number, got 'x'"],
        [() => xavierUniform(w, Infinity), TypeError, 'xavierUniform: gain: expected a finite number, got number Infinity'],
        [() => uniform(w, 'a' as never, 'b' as never), TypeError, "uniform: low: expected a finite number, got 'a'"],
        [() => uniform(w, 0, NaN), TypeError, 'uniform: high: expected a finite number, got number NaN'],
        [() => uniform(w, 1, -1), RangeError, 'uniform: high: expected a number ≥ low (1), got number -1'],
        [() => uniform(w, 0, 1, {} as Generator), TypeError, 'uniform: generator: expected a Generator, got Object'],
        [() => kaimingUniform([1, 2] as never), TypeError, 'kaimingUniform: tensor: expected a Tensor (see tensor()), got array(2)'],
      ];
      for (const [fn, cls, msg] of cases) {
        const e = caught(fn);
        expect(e).toBeInstanceOf(cls);
        expect(e.message).toBe(msg);
        expect(Array.from(w.toArray())).toEqual(new Array(12).fill(0.25));
      }
      w.dispose();
      expect(caught(() => uniform(w, 0, 1)).message).toBe('uniform: tensor: tensor [3, 4] was disposed');
    });

    it('valid calls fill U(low, high) from the generator, a twin generator giving the same draws', () => {
      const w = new Parameter([5, 7], 0);
      uniform(w, -2, 3, new Generator(11));
      const twin = new Generator(11);
      const want = Float32Array.from({ length: 35 }, () => -2 + 5 * twin.uniform());
      expect(w.toArray()).toEqual(want);
      // kaiming, a = 0: bound = √2·√(3/fan_in) with fan_in = 7
      kaimingUniform(w, 0, new Generator(12));
      const bound = Math.sqrt(2) * Math.sqrt(3 / 7);
      const g = new Generator(12);
      expect(w.toArray()).toEqual(Float32Array.from({ length: 35 }, () => -bound + 2 * bound * g.uniform()));
      w.dispose();
    });
  });
}
