// Reductions shared by layers: column sums (the bias gradient of Linear, and of Conv2d in NHWC).

/** out[j] += Σ_i x[i][j] for x[m][n] (f32 sums of ≤ m terms per lane, in row order). */
export function addColumnSums(x: usize, m: i32, n: i32, out: usize): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    // a cache line (16 columns) a walk down the rows: four columns a walk read each line four times
    // over (from L2 once m rows outgrow L1); each lane's sum is the same, so are the bits
    for (; j + 16 <= n; j += 16) {
      let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
      let p = x + (<usize>j << 2), stride = <usize>n << 2;
      for (let i = 0; i < m; i++) {
        let q = p + <usize>i * stride;
        s0 = f32x4.add(s0, v128.load(q));
        s1 = f32x4.add(s1, v128.load(q, 16));
        s2 = f32x4.add(s2, v128.load(q, 32));
        s3 = f32x4.add(s3, v128.load(q, 48));
      }
      let o = out + (<usize>j << 2);
      v128.store(o, f32x4.add(v128.load(o), s0));
      v128.store(o, f32x4.add(v128.load(o, 16), s1), 16);
      v128.store(o, f32x4.add(v128.load(o, 32), s2), 32);
      v128.store(o, f32x4.add(v128.load(o, 48), s3), 48);
    }
    for (; j + 4 <= n; j += 4) {
      let s = f32x4.splat(0);
      let p = x + (<usize>j << 2), stride = <usize>n << 2;
      for (let i = 0; i < m; i++) s = f32x4.add(s, v128.load(p + <usize>i * stride));
      let o = out + (<usize>j << 2);
      v128.store(o, f32x4.add(v128.load(o), s));
    }
  }
  for (; j < n; j++) {
    let s: f32 = 0;
    for (let i = 0; i < m; i++) s += load<f32>(x + ((<usize>i * <usize>n + <usize>j) << 2));
    let o = out + (<usize>j << 2);
    store<f32>(o, load<f32>(o) + s);
  }
}
