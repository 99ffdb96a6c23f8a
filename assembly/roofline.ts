// Memory roofline: the fastest a v128 loop can read (reduction) and read+write (copy) a buffer.
// Benchmarks divide a kernel's bytes/s by these to report "% of roof". Also the vector-add
// throughput, which bounds a statistics pass (two additions per vector: Σx and Σx²), and the
// mul + add throughput, which bounds a matrix product (bench/gemm.ts: "% of peak").

/**
 * Sums `bytes` (multiple of 64) at `src` with v128 loads; returns a value so the loop is kept. Reads
 * the two halves at once: beyond the caches two streams read 1.3× faster than one, and than four
 * (in cache all the same).
 */
export function rooflineRead(src: usize, bytes: usize): f32 {
  if (ASC_FEATURE_SIMD) {
    let h = (bytes >> 1) & ~63;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let p = src, end = src + h; p < end; p += 32) {
      a0 = f32x4.add(a0, v128.load(p)); a1 = f32x4.add(a1, v128.load(p + h));
      a2 = f32x4.add(a2, v128.load(p, 16)); a3 = f32x4.add(a3, v128.load(p + h, 16));
    }
    // the last bytes − 2h (0 or 64)
    for (let p = src + 2 * h, end = src + bytes; p < end; p += 16) a0 = f32x4.add(a0, v128.load(p));
    let s = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
    return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
  }
  let s: f32 = 0;
  for (let p = src, end = src + bytes; p < end; p += 4) s += load<f32>(p);
  return s;
}

/** Copies `bytes` (multiple of 64) from `src` to `dst` with v128 loads and stores. */
export function rooflineCopy(src: usize, dst: usize, bytes: usize): void {
  if (ASC_FEATURE_SIMD) {
    for (let i: usize = 0; i < bytes; i += 64) {
      let p = src + i, q = dst + i;
      v128.store(q, v128.load(p));
      v128.store(q, v128.load(p, 16), 16);
      v128.store(q, v128.load(p, 32), 32);
      v128.store(q, v128.load(p, 48), 48);
    }
    return;
  }
  for (let i: usize = 0; i < bytes; i += 4) store<f32>(dst + i, load<f32>(src + i));
}

/**
 * `rounds` rounds of 8 independent f32x4 additions, in registers (no memory): 8·rounds adds at the
 * core's add throughput. Returns a value so the loop is kept.
 */
export function rooflineAdds(rounds: i32, step: f32): f32 {
  if (ASC_FEATURE_SIMD) {
    let k = f32x4.splat(step);
    let a0 = k, a1 = k, a2 = k, a3 = k, a4 = k, a5 = k, a6 = k, a7 = k;
    for (let i = 0; i < rounds; i++) {
      a0 = f32x4.add(a0, k); a1 = f32x4.add(a1, k); a2 = f32x4.add(a2, k); a3 = f32x4.add(a3, k);
      a4 = f32x4.add(a4, k); a5 = f32x4.add(a5, k); a6 = f32x4.add(a6, k); a7 = f32x4.add(a7, k);
    }
    let s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
    return f32x4.extract_lane(s, 0);
  }
  let a0 = step, a1 = step, a2 = step, a3 = step, a4 = step, a5 = step, a6 = step, a7 = step;
  for (let i = 0; i < rounds; i++) {
    a0 += step; a1 += step; a2 += step; a3 += step; a4 += step; a5 += step; a6 += step; a7 += step;
  }
  return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
}

/**
 * `rounds` rounds of 12 independent chains a = a + a·step (a mul then an add each, f32x4), in
 * registers: 96 flops a round at the core's mul + add throughput, the most a GEMM that sums with
 * mul + add (no FMA) can reach. Twelve chains cover the add's latency (3–4 cycles) at two adds a
 * cycle and fit V8's x64 registers with `step` and a temporary. Returns a value so the loop is kept.
 * Pass step = 0 to keep the values in range: denormals would slow the loop.
 */
export function rooflineMulAdds(rounds: i32, step: f32): f32 {
  if (ASC_FEATURE_SIMD) {
    let y = f32x4.splat(step);
    let a0 = f32x4.splat(1), a1 = f32x4.splat(2), a2 = f32x4.splat(3), a3 = f32x4.splat(4);
    let a4 = f32x4.splat(5), a5 = f32x4.splat(6), a6 = f32x4.splat(7), a7 = f32x4.splat(8);
    let a8 = f32x4.splat(9), a9 = f32x4.splat(10), a10 = f32x4.splat(11), a11 = f32x4.splat(12);
    for (let i = 0; i < rounds; i++) {
      a0 = f32x4.add(a0, f32x4.mul(a0, y)); a1 = f32x4.add(a1, f32x4.mul(a1, y));
      a2 = f32x4.add(a2, f32x4.mul(a2, y)); a3 = f32x4.add(a3, f32x4.mul(a3, y));
      a4 = f32x4.add(a4, f32x4.mul(a4, y)); a5 = f32x4.add(a5, f32x4.mul(a5, y));
      a6 = f32x4.add(a6, f32x4.mul(a6, y)); a7 = f32x4.add(a7, f32x4.mul(a7, y));
      a8 = f32x4.add(a8, f32x4.mul(a8, y)); a9 = f32x4.add(a9, f32x4.mul(a9, y));
      a10 = f32x4.add(a10, f32x4.mul(a10, y)); a11 = f32x4.add(a11, f32x4.mul(a11, y));
    }
    let s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
    s = f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)));
    return f32x4.extract_lane(s, 0);
  }
  // the scalar build: the same 12 chains, one lane each
  let a0: f32 = 1, a1: f32 = 2, a2: f32 = 3, a3: f32 = 4, a4: f32 = 5, a5: f32 = 6;
  let a6: f32 = 7, a7: f32 = 8, a8: f32 = 9, a9: f32 = 10, a10: f32 = 11, a11: f32 = 12;
  for (let i = 0; i < rounds; i++) {
    a0 += a0 * step; a1 += a1 * step; a2 += a2 * step; a3 += a3 * step; a4 += a4 * step; a5 += a5 * step;
    a6 += a6 * step; a7 += a7 * step; a8 += a8 * step; a9 += a9 * step; a10 += a10 * step; a11 += a11 * step;
  }
  return ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)) + ((a8 + a9) + (a10 + a11));
}
