// The bench's roofline loops are instruments: they must read, copy and add what they say, at every
// size the bench can give them (multiples of 64 bytes; the read takes two halves at once plus a tail).
import { describe, expect, it } from 'vitest';
import { init } from '../src/index';
import { runtime } from '../src/runtime/index';

for (const b of ['wasm-simd', 'wasm', 'js'] as const) {
  describe(`${b}: roofline loops`, () => {
    for (const bytes of [64, 128, 192, 256, 320, 4096 + 64, 65536 + 192]) {
      it(`read and copy ${bytes} bytes`, async () => {
        await init({ backend: b });
        const rt = runtime(),
          k = rt.k,
          n = bytes / 4;
        const x = k.alloc(bytes),
          y = k.alloc(bytes);
        try {
          // small integers: every partial sum is exact in f32, so any order gives the exact total
          const v = Float32Array.from({ length: n }, (_, i) => (i % 7) - 3 + (i % 64 === 0 ? 5 : 0));
          rt.f32(x, n).set(v);
          const want = v.reduce((s, t) => s + t, 0);
          expect(k.rooflineRead(x, bytes)).toBe(want);
          k.rooflineCopy(x, y, bytes);
          expect(rt.f32(y, n)).toEqual(v);
        } finally {
          k.free(x);
          k.free(y);
        }
      });
    }

    it('adds 8 values a round', async () => {
      await init({ backend: b });
      // 8 accumulators start at `step` and each adds it once a round: 8·(rounds + 1)·step
      expect(runtime().k.rooflineAdds(10, 0.5)).toBe(8 * 11 * 0.5);
    });

    it('multiplies and adds 12 chains a round', async () => {
      await init({ backend: b });
      // chain i starts at i and becomes i·(1 + step)^rounds: exact in f32 for these values
      const want = (rounds: number, step: number) => 78 * (1 + step) ** rounds;
      expect(runtime().k.rooflineMulAdds(3, 0.5)).toBe(want(3, 0.5));
      expect(runtime().k.rooflineMulAdds(5, -0.5)).toBe(want(5, -0.5));
      expect(runtime().k.rooflineMulAdds(1000, 0)).toBe(78);
    });
  });
}
