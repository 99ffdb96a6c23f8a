// The seeded generator behind weight initialisation, Dropout and data shuffling. Integer-only
// arithmetic (xoshiro128**) and exactly representable floats, so a seed gives bit-identical values
// in every JavaScript runtime.
// see: Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c; splitmix32 for seeding
import { describe } from './validate';

/** A seeded random generator (xoshiro128**), PyTorch's torch.Generator: same seed, same numbers in every runtime. */
export class Generator {
  #s = new Uint32Array(4);

  constructor(seed = 0) {
    this.#reseed('new Generator', seed);
  }

  /** Restarts the sequence from `seed` (an integer). */
  seed(seed: number): void {
    this.#reseed('Generator.seed', seed);
  }

  /** `where` names the public function that was called, for the error. */
  #reseed(where: string, seed: number): void {
    if (!Number.isSafeInteger(seed)) throw new TypeError(`${where}: seed: expected an integer, got ${describe(seed)}`);
    // splitmix32 spreads any seed (including 0) over the four words
    let z = (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b) >>> 0;
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (t ^ (t >>> 16)) >>> 0;
    }
  }

  /** The next 32 random bits. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 24 random bits: every value is an exact f32. */
  uniform(): number {
    return (this.nextUint32() >>> 8) * 2 ** -24;
  }

  /** Fills `out` with uniform values in [low, high). */
  fillUniform(out: Float32Array, low: number, high: number): Float32Array {
    if (!(out instanceof Float32Array)) throw new TypeError(`Generator.fillUniform: out: expected a Float32Array, got ${describe(out)}`);
    if (typeof low !== 'number' || typeof high !== 'number' || !Number.isFinite(low) || !Number.isFinite(high) || low > high) {
      throw new RangeError(
        `Generator.fillUniform: low, high: expected finite numbers with low <= high, got ${describe(low)}, ${describe(high)}`,
      );
    }
    for (let i = 0; i < out.length; i++) out[i] = low + (high - low) * this.uniform();
    return out;
  }

  /** A uniform integer in [0, n). */
  below(n: number): number {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`Generator.below: n: expected a positive integer, got ${describe(n)}`);
    return Math.floor(this.uniform() * n);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The default generator, used when a layer is given none. */
export const defaultGenerator = new Generator(0);

/** Seeds the default generator (PyTorch's torch.manual_seed). */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed)) throw new TypeError(`manualSeed: seed: expected an integer, got ${describe(seed)}`);
  defaultGenerator.seed(seed);
}
