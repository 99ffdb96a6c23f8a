// Thin wrappers over the memory-roofline loops (assembly/roofline.ts, src/js/roofline.ts): the
// bench's instruments, not used by any layer.
import { runtime } from '../runtime/index';

/** Sums `bytes` (a multiple of 64) of floats at `src`; the sum keeps the loop from being dropped. */
export function rooflineRead(src: number, bytes: number): number {
  return runtime().k.rooflineRead(src, bytes);
}

/** Copies `bytes` (a multiple of 64) from `src` to `dst`. */
export function rooflineCopy(src: number, dst: number, bytes: number): void {
  runtime().k.rooflineCopy(src, dst, bytes);
}

/** `rounds` rounds of 8 float additions of `step`; returns their sum. */
export function rooflineAdds(rounds: number, step: number): number {
  return runtime().k.rooflineAdds(rounds, step);
}

/** `rounds` rounds of 12 chains a = a + a·step (48 multiplies and 48 adds in the SIMD build); returns their sum. */
export function rooflineMulAdds(rounds: number, step: number): number {
  return runtime().k.rooflineMulAdds(rounds, step);
}
