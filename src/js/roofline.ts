// Pure-JS memory roofline: the same entry points as assembly/roofline.ts, so the bench can put the
// JS backend's kernel rates beside what plain JS loops read, copy and add.
import { f32 } from './memory';

/** Sums `bytes` of floats at `src` (the JS memory roofline). */
export function rooflineRead(src: number, bytes: number): number {
  const a = f32(src, bytes >> 2);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

/** Copies `bytes` from `src` to `dst`. */
export function rooflineCopy(src: number, dst: number, bytes: number): void {
  f32(dst, bytes >> 2).set(f32(src, bytes >> 2));
}

/** `rounds` rounds of 8 float additions (the JS add throughput). */
export function rooflineAdds(rounds: number, step: number): number {
  let a0 = step,
    a1 = step,
    a2 = step,
    a3 = step,
    a4 = step,
    a5 = step,
    a6 = step,
    a7 = step;
  for (let i = 0; i < rounds; i++) {
    a0 += step;
    a1 += step;
    a2 += step;
    a3 += step;
    a4 += step;
    a5 += step;
    a6 += step;
    a7 += step;
  }
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
}

/** `rounds` rounds of 12 chains a = a + a·step (the JS mul + add throughput); returns their sum. */
export function rooflineMulAdds(rounds: number, step: number): number {
  const a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  let [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11] = a;
  for (let i = 0; i < rounds; i++) {
    a0 += a0 * step;
    a1 += a1 * step;
    a2 += a2 * step;
    a3 += a3 * step;
    a4 += a4 * step;
    a5 += a5 * step;
    a6 += a6 * step;
    a7 += a7 * step;
    a8 += a8 * step;
    a9 += a9 * step;
    a10 += a10 * step;
    a11 += a11 * step;
  }
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
}
