// Softmax and log-softmax along one axis of a tensor viewed as [outer][c][inner], with their
// backward passes. The log-sum-exp is taken in f64 after subtracting the maximum, so large logits
// neither overflow nor lose the small probabilities.
// see: https://en.wikipedia.org/wiki/LogSumExp

@inline function at(base: usize, o: i32, j: i32, i: i32, c: i32, inner: i32): usize {
  return base + (((<usize>o * <usize>c + <usize>j) * <usize>inner + <usize>i) << 2);
}

/** y = log softmax(x) (`log` = 1) or softmax(x) (`log` = 0) along the axis of size c. */
export function softmaxForward(x: usize, y: usize, outer: i32, c: i32, inner: i32, log: i32): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let mx: f64 = -Infinity;
      for (let j = 0; j < c; j++) mx = Math.max(mx, <f64>load<f32>(at(x, o, j, i, c, inner)));
      let se: f64 = 0;
      for (let j = 0; j < c; j++) se += Math.exp(<f64>load<f32>(at(x, o, j, i, c, inner)) - mx);
      let lse = mx + Math.log(se);
      for (let j = 0; j < c; j++) {
        let v = <f64>load<f32>(at(x, o, j, i, c, inner)) - lse;
        store<f32>(at(y, o, j, i, c, inner), <f32>(log ? v : Math.exp(v)));
      }
    }
  }
}

/**
 * dx from dy and the forward's output y along the axis of size c: for log-softmax
 * dx = dy − e^y·Σdy; for softmax dx = y·(dy − Σ dy·y). Sums in f64.
 */
export function softmaxBackward(y: usize, dy: usize, dx: usize, outer: i32, c: i32, inner: i32, log: i32): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let s: f64 = 0;
      for (let j = 0; j < c; j++) {
        let g = <f64>load<f32>(at(dy, o, j, i, c, inner));
        s += log ? g : g * <f64>load<f32>(at(y, o, j, i, c, inner));
      }
      for (let j = 0; j < c; j++) {
        let v = <f64>load<f32>(at(y, o, j, i, c, inner)), g = <f64>load<f32>(at(dy, o, j, i, c, inner));
        store<f32>(at(dx, o, j, i, c, inner), <f32>(log ? g - Math.exp(v) * s : v * (g - s)));
      }
    }
  }
}
