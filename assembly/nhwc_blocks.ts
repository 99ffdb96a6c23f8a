// Channels-last inner loop over a block of 16 channels (one 64-byte cache line per row) and a few
// rows, with the block's constants held in registers; batchnorm_nhwc.ts uses it for data in cache.

/** Rows per block pass: 32 rows of one 64-byte line stay in L1 alongside their outputs. */
export const BLOCK_ROWS: i32 = 32;

/** y = max(x·a + b, floor) (folded) or max((x − s)·a + b, floor) for channels g..g+15 over `r` rows; constants f32[16] at ps, pa, pb. */
export function block16Normalize(px: usize, py: usize, r: i32, stride: usize, ps: usize, pa: usize, pb: usize, folded: bool, floor: f32): void {
  let f = f32x4.splat(floor);
  let a0 = v128.load(pa), a1 = v128.load(pa, 16), a2 = v128.load(pa, 32), a3 = v128.load(pa, 48);
  let b0 = v128.load(pb), b1 = v128.load(pb, 16), b2 = v128.load(pb, 32), b3 = v128.load(pb, 48);
  let end = px + <usize>r * stride;
  let d = py - px;
  if (folded) {
    for (let p = px; p < end; p += stride) {
      v128.store(p + d, f32x4.pmax(f32x4.add(f32x4.mul(v128.load(p), a0), b0), f));
      v128.store(p + d, f32x4.pmax(f32x4.add(f32x4.mul(v128.load(p, 16), a1), b1), f), 16);
      v128.store(p + d, f32x4.pmax(f32x4.add(f32x4.mul(v128.load(p, 32), a2), b2), f), 32);
      v128.store(p + d, f32x4.pmax(f32x4.add(f32x4.mul(v128.load(p, 48), a3), b3), f), 48);
    }
    return;
  }
  let s0 = v128.load(ps), s1 = v128.load(ps, 16), s2 = v128.load(ps, 32), s3 = v128.load(ps, 48);
  for (let p = px; p < end; p += stride) {
    v128.store(p + d, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v128.load(p), s0), a0), b0), f));
    v128.store(p + d, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v128.load(p, 16), s1), a1), b1), f), 16);
    v128.store(p + d, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v128.load(p, 32), s2), a2), b2), f), 32);
    v128.store(p + d, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v128.load(p, 48), s3), a3), b3), f), 48);
  }
}
