// The SIMD gather the max and average pooling kernels share (pool.ts, pool_infer.ts): four outputs
// of a row of one channel read their windows' columns at the stride apart. Not a WASM export.
/** Four floats at p, p + s, p + 2s, p + 3s (s in floats; s = 2 reads p + 7 too). */
// @ts-ignore: decorator
@inline export function gather4(p: usize, s: i32): v128 {
  if (s == 1) return v128.load(p);
  if (s == 2) return i32x4.shuffle(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
  let sb = <usize>s << 2;
  let v = f32x4.splat(load<f32>(p));
  v = f32x4.replace_lane(v, 1, load<f32>(p + sb));
  v = f32x4.replace_lane(v, 2, load<f32>(p + 2 * sb));
  return f32x4.replace_lane(v, 3, load<f32>(p + 3 * sb));
}
