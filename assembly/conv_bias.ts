// The convolution's bias gradient over a range of channels: convBiasGradNCHW (conv.ts) takes all of
// them, a part of the threaded build (parts_conv.ts) a block; each channel's sum is the same.

/** db[ch] += Σ dy[i, ch, :] for channels c0..c1 of dy [n, c, l], as convBiasGradNCHW. */
export function biasGradChannels(dy: usize, n: i32, c: i32, l: i32, db: usize, c0: i32, c1: i32): void {
  for (let ch = c0; ch < c1; ch++) {
    let total: f64 = 0;
    for (let i = 0; i < n; i++) {
      let p = dy + ((<usize>i * <usize>c + <usize>ch) * <usize>l << 2);
      let s: f32 = 0;
      let j = 0;
      if (ASC_FEATURE_SIMD) {
        let v = f32x4.splat(0);
        for (; j + 4 <= l; j += 4) v = f32x4.add(v, v128.load(p + (<usize>j << 2)));
        s = (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
      }
      for (; j < l; j++) s += load<f32>(p + (<usize>j << 2));
      total += <f64>s;
    }
    let o = db + (<usize>ch << 2);
    store<f32>(o, <f32>(<f64>load<f32>(o) + total));
  }
}
