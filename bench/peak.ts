// The mul + add peak of one core as the SIMD build sees it (assembly/roofline.ts, rooflineMulAdds:
// 12 independent f32x4 chains of a multiply then an add, in registers). A GEMM that sums with mul +
// add cannot beat it, so the benches print "% of peak" beside GFLOP/s.
import { rooflineMulAdds } from '../src/kernels/roofline';
import { measure, type Budget } from './timing';

/** Flops per round of rooflineMulAdds in the SIMD build: 12 chains × (mul + add) × 4 lanes. */
const FLOP_PER_ROUND = 12 * 2 * 4;
const ROUNDS = 100_000;

/** GFLOP/s of the mul + add probe on the active backend (call with wasm-simd active). */
export function mulAddPeak(budget: Budget): number {
  // step 0 keeps every value as it starts: no overflow, no denormals
  const t = measure(() => {
    rooflineMulAdds(ROUNDS, 0);
  }, budget);
  return (ROUNDS * FLOP_PER_ROUND) / t.ms / 1e6;
}
