// Elementwise activations and their backward passes. Each backward reads what its forward saved
// (the output y for sigmoid/tanh, the input x for ReLU), as autograd frameworks do.
// see: https://pytorch.org/docs/stable/nn.html#non-linear-activations-weighted-sum-nonlinearity

/** y = max(x, 0) over n values. */
export function reluForward(x: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let z = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      // pmax(x, 0) = x < 0 ? 0 : x, which keeps NaN as NaN like torch.relu
      v128.store(y + o, f32x4.pmax(v128.load(x + o), z));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let v = load<f32>(x + o);
    store<f32>(y + o, 0 < v ? v : (v != v ? v : 0));
  }
}

/** dx = x > 0 ? dy : 0 over n values. */
export function reluBackward(x: usize, dy: usize, dx: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let z = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      let g = v128.and(v128.load(dy + o), f32x4.gt(v128.load(x + o), z));
      v128.store(dx + o, g);
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let g: f32 = load<f32>(x + o) > 0 ? load<f32>(dy + o) : 0;
    store<f32>(dx + o, g);
  }
}

/** y = 1 / (1 + e^(−x)) over n values, without overflow for large |x|. */
export function sigmoidForward(x: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    let o = <usize>i << 2;
    let v = <f64>load<f32>(x + o);
    // e^(−|x|) ≤ 1 never overflows; the two branches are the same function
    let e = Math.exp(-Math.abs(v));
    store<f32>(y + o, <f32>(v >= 0 ? 1 / (1 + e) : e / (1 + e)));
  }
}

/** dx = dy·y·(1 − y) over n values, from the forward's output y. */
export function sigmoidBackward(y: usize, dy: usize, dx: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let one = f32x4.splat(1);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      let s = v128.load(y + o);
      let g = f32x4.mul(v128.load(dy + o), f32x4.mul(s, f32x4.sub(one, s)));
      v128.store(dx + o, g);
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let s = load<f32>(y + o);
    let g = load<f32>(dy + o) * (s * (1 - s));
    store<f32>(dx + o, g);
  }
}

/** y = tanh(x) over n values. */
export function tanhForward(x: usize, y: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    let o = <usize>i << 2;
    // tanh(x) = sign(x)·(1 − e^(−2|x|)) / (1 + e^(−2|x|)): no overflow, exact sign
    let v = <f64>load<f32>(x + o);
    let e = Math.exp(-2 * Math.abs(v));
    let t = (1 - e) / (1 + e);
    store<f32>(y + o, <f32>(v < 0 ? -t : (v != v ? v : t)));
  }
}

/** dx = dy·(1 − y²) over n values, from the forward's output y. */
export function tanhBackward(y: usize, dy: usize, dx: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let one = f32x4.splat(1);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      let t = v128.load(y + o);
      let g = f32x4.mul(v128.load(dy + o), f32x4.sub(one, f32x4.mul(t, t)));
      v128.store(dx + o, g);
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let t = load<f32>(y + o);
    let g = load<f32>(dy + o) * (1 - t * t);
    store<f32>(dx + o, g);
  }
}

/** y = a·b elementwise over n values (Dropout applies its scaled mask with it, both ways). */
export function mulElementwise(a: usize, b: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      v128.store(y + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    store<f32>(y + o, load<f32>(a + o) * load<f32>(b + o));
  }
}
