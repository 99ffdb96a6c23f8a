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

// Piecewise-linear activations of the mobile nets (ReLU6, Hardtanh/Clip, LeakyReLU, Hardswish,
// Hardsigmoid), in PyTorch's CPU kernels' operation order so that every build rounds alike.
// see: https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/native/cpu/Activation.cpp

/** y = min(max(x, lo), hi) over n values (Hardtanh, ReLU6 = [0, 6], ONNX Clip); NaN stays NaN. */
export function clampForward(x: usize, y: usize, n: i32, lo: f32, hi: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let l = f32x4.splat(lo),
      h = f32x4.splat(hi);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      v128.store(y + o, f32x4.min(f32x4.max(v128.load(x + o), l), h));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    store<f32>(y + o, min<f32>(max<f32>(load<f32>(x + o), lo), hi));
  }
}

/** dx = lo < x < hi ? dy : 0 over n values (PyTorch's hardtanh_backward: the bounds pass nothing). */
export function clampBackward(x: usize, dy: usize, dx: usize, n: i32, lo: f32, hi: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let l = f32x4.splat(lo),
      h = f32x4.splat(hi);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      let v = v128.load(x + o);
      let m = v128.and(f32x4.gt(v, l), f32x4.lt(v, h));
      v128.store(dx + o, v128.and(v128.load(dy + o), m));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let v = load<f32>(x + o);
    store<f32>(dx + o, v > lo && v < hi ? load<f32>(dy + o) : 0);
  }
}

/** y = x > 0 ? x : slope·x over n values. */
export function leakyReluForward(x: usize, y: usize, n: i32, slope: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let s = f32x4.splat(slope),
      z = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      let v = v128.load(x + o);
      v128.store(y + o, v128.bitselect(v, f32x4.mul(v, s), f32x4.gt(v, z)));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let v = load<f32>(x + o);
    store<f32>(y + o, v > 0 ? v : v * slope);
  }
}

/** dx = x > 0 ? dy : slope·dy over n values. */
export function leakyReluBackward(x: usize, dy: usize, dx: usize, n: i32, slope: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let s = f32x4.splat(slope),
      z = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      let g = v128.load(dy + o);
      v128.store(dx + o, v128.bitselect(g, f32x4.mul(g, s), f32x4.gt(v128.load(x + o), z)));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let g = load<f32>(dy + o);
    store<f32>(dx + o, load<f32>(x + o) > 0 ? g : g * slope);
  }
}

/** y = x·min(max(x + 3, 0), 6) / 6 over n values (Howard et al. 2019, MobileNetV3). */
export function hardswishForward(x: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let three = f32x4.splat(3),
      six = f32x4.splat(6),
      z = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      let v = v128.load(x + o);
      let r = f32x4.min(f32x4.max(f32x4.add(v, three), z), six);
      v128.store(y + o, f32x4.div(f32x4.mul(v, r), six));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let v = load<f32>(x + o);
    store<f32>(y + o, (v * min<f32>(max<f32>(v + 3, 0), 6)) / 6);
  }
}

/**
 * dx = dy·(x < −3 ? 0 : x < 3 ? x/3 + 1/2 : 1) over n values.
 * NOTE: at x = 3 this is PyTorch's vectorized rule (dy), which its kernel applies to all but a tail.
 */
export function hardswishBackward(x: usize, dy: usize, dx: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    let o = <usize>i << 2;
    let v = load<f32>(x + o),
      g = load<f32>(dy + o);
    store<f32>(dx + o, v < -3 ? 0 : v < 3 ? g * (v / 3 + 0.5) : g);
  }
}

/** y = min(max(x + 3, 0), 6) / 6 over n values. */
export function hardsigmoidForward(x: usize, y: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let three = f32x4.splat(3),
      six = f32x4.splat(6),
      z = f32x4.splat(0);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      v128.store(y + o, f32x4.div(f32x4.min(f32x4.max(f32x4.add(v128.load(x + o), three), z), six), six));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    store<f32>(y + o, min<f32>(max<f32>(load<f32>(x + o) + 3, 0), 6) / 6);
  }
}

/** dx = −3 < x < 3 ? dy/6 : 0 over n values (PyTorch multiplies by a rounded 1/6). */
export function hardsigmoidBackward(x: usize, dy: usize, dx: usize, n: i32): void {
  const sixth: f32 = 1.0 / 6.0;
  for (let i = 0; i < n; i++) {
    let o = <usize>i << 2;
    let v = load<f32>(x + o);
    store<f32>(dx + o, v > -3 && v < 3 ? load<f32>(dy + o) * sixth : 0);
  }
}
