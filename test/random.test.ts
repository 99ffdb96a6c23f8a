// The seeded generator against an independent BigInt restatement of xoshiro128**, and weight
// initialisation bounds.
import { describe, expect, it } from 'vitest';
import { init, Generator, Parameter, kaimingUniform, xavierUniform } from '../src/index';
import { BACKENDS } from './helpers';

/** xoshiro128** and splitmix32 seeding, in BigInt arithmetic (a different implementation). */
function reference(seed: number, count: number): number[] {
  const M = 0xffffffffn;
  const mul = (a: bigint, b: bigint) => (a * b) & M;
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M;
  let z = BigInt(seed >>> 0);
  const s: bigint[] = [];
  for (let i = 0; i < 4; i++) {
    z = (z + 0x9e3779b9n) & M;
    let t = z;
    t = mul(t ^ (t >> 16n), 0x85ebca6bn);
    t = mul(t ^ (t >> 13n), 0xc2b2ae35n);
    s.push(t ^ (t >> 16n));
  }
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(Number(mul(rotl(mul(s[1], 5n), 7n), 9n)));
    const t = (s[1] << 9n) & M;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11n);
  }
  return out;
}

describe('Generator', () => {
  it('matches the BigInt reference for several seeds', () => {
    for (const seed of [0, 1, 42, 2 ** 31 + 7]) {
      const g = new Generator(seed);
      expect(Array.from({ length: 50 }, () => g.nextUint32())).toEqual(reference(seed, 50));
    }
  });

  it('uniform values are exact f32 in [0, 1) with mean ≈ 1/2', () => {
    const g = new Generator(3);
    let sum = 0;
    for (let i = 0; i < 20000; i++) {
      const u = g.uniform();
      expect(u >= 0 && u < 1 && Math.fround(u) === u).toBe(true);
      sum += u;
    }
    // σ of the mean of 20 000 uniforms is 0.002: 5σ
    expect(Math.abs(sum / 20000 - 0.5)).toBeLessThan(0.01);
  });
});

for (const b of BACKENDS) {
  describe(`${b}: weight initialisation`, () => {
    it("kaimingUniform and xavierUniform stay within PyTorch's bounds and fill them", async () => {
      await init({ backend: b });
      const w = new Parameter([100, 784], 0);
      const k = kaimingUniform(w, Math.sqrt(5), new Generator(1)).toArray();
      const bound = 1 / Math.sqrt(784);
      expect(Math.max(...k)).toBeLessThanOrEqual(bound);
      expect(Math.min(...k)).toBeGreaterThanOrEqual(-bound);
      expect(Math.max(...k)).toBeGreaterThan(0.99 * bound);
      const x = xavierUniform(w, 1, new Generator(1)).toArray();
      expect(Math.max(...x)).toBeLessThanOrEqual(Math.sqrt(6 / 884));
      // same seed ⇒ same weights
      expect(kaimingUniform(w, Math.sqrt(5), new Generator(1)).toArray()).toEqual(k);
      w.dispose();
    });
  });
}
