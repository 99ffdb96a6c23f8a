// Losses with their gradients in one pass: softmax cross-entropy (log-sum-exp in f64, so large
// logits neither overflow nor lose the small probabilities) and mean squared error.
// see: https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html (label smoothing);
//      https://en.wikipedia.org/wiki/LogSumExp

/**
 * Mean over n rows of −Σ_c t_c·log softmax(z)_c with t = (1 − s)·onehot(label) + s/C; writes
 * dz = (softmax(z) − t)/n. Labels are i32. Returns the loss.
 */
export function softmaxCrossEntropy(z: usize, labels: usize, n: i32, c: i32, smoothing: f64, dz: usize): f64 {
  let total: f64 = 0;
  let off = smoothing / <f64>c, on = 1 - smoothing + off;
  for (let i = 0; i < n; i++) {
    let row = z + (<usize>i * <usize>c << 2), drow = dz + (<usize>i * <usize>c << 2);
    let label = load<i32>(labels + (<usize>i << 2));
    let mx: f64 = -Infinity;
    for (let j = 0; j < c; j++) mx = Math.max(mx, <f64>load<f32>(row + (<usize>j << 2)));
    let se: f64 = 0;
    for (let j = 0; j < c; j++) se += Math.exp(<f64>load<f32>(row + (<usize>j << 2)) - mx);
    let lse = mx + Math.log(se);
    let sumz: f64 = 0;
    for (let j = 0; j < c; j++) {
      let v = <f64>load<f32>(row + (<usize>j << 2));
      sumz += v;
      let t = j == label ? on : off;
      store<f32>(drow + (<usize>j << 2), <f32>((Math.exp(v - lse) - t) / <f64>n));
    }
    // −Σ t_j (z_j − lse) = lse − (1 − s)·z_label − (s/C)·Σz
    total += lse - (1 - smoothing) * <f64>load<f32>(row + (<usize>label << 2)) - off * sumz;
  }
  return n > 0 ? total / <f64>n : 0;
}

/** Mean of (p − t)² over n values; writes dp = 2(p − t)/n. Returns the loss. */
export function mseLoss(p: usize, t: usize, n: i32, dp: usize): f64 {
  let total: f64 = 0;
  for (let i = 0; i < n; i++) {
    let o = <usize>i << 2;
    let d = <f64>load<f32>(p + o) - <f64>load<f32>(t + o);
    total += d * d;
    store<f32>(dp + o, <f32>(2 * d / <f64>n));
  }
  return n > 0 ? total / <f64>n : 0;
}
