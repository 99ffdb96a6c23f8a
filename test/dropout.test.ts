// Dropout: a seeded mask of the expected rate, scaling by 1/(1 − p), the same mask backward, identity
// in eval.
import { describe, expect, it } from 'vitest';
import { init, tensor, Dropout, Generator } from '../src/index';
import { BACKENDS } from './helpers';

for (const b of BACKENDS) {
  describe(`${b}: Dropout`, () => {
    it('Dropout: seeded mask, scaling 1/(1 − p), the same mask backward, identity in eval', async () => {
      await init({ backend: b });
      const n = 4000;
      const d = new Dropout(0.25, { generator: new Generator(9) });
      using x = tensor(
        Float32Array.from({ length: n }, (_, i) => 1 + (i % 7)),
        [40, 100],
      );
      const y = d.forward(x).toArray();
      const zeros = y.filter((v) => v === 0).length;
      // binomial(4000, 0.25): σ ≈ 27; 5σ
      expect(Math.abs(zeros - 1000)).toBeLessThan(140);
      const xs = x.toArray();
      y.forEach((v, i) => {
        if (v !== 0) expect(v).toBe(Math.fround(xs[i] * Math.fround(1 / 0.75)));
      });
      using dy = tensor(new Float32Array(n).fill(1), [40, 100]);
      const dx = d.backward(dy).toArray();
      dx.forEach((v, i) => expect(v === 0).toBe(y[i] === 0));
      const again = new Dropout(0.25, { generator: new Generator(9) });
      expect(again.forward(x).toArray()).toEqual(y);
      again.eval();
      expect(again.forward(x).toArray()).toEqual(xs);
      expect(() => new Dropout(1)).toThrow(/^Dropout: p: expected a number in \[0, 1\), got number 1$/);
      d.dispose();
      again.dispose();
    });
  });
}
