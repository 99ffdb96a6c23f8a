// Elementwise arithmetic for autograd: y = a ∘ b with b repeated over the leading axes of a
// (broadcasting over rows), y = a ∘ s with a scalar, and an f64 sum. Plain f32 IEEE operations in
// every build, so SIMD, scalar and JS give the same bits.
// see: https://pytorch.org/docs/stable/notes/broadcasting.html

/** The operations, by code: 0 add, 1 sub, 2 mul, 3 div, 4 add then ReLU (ewBinary only). */
@inline function apply(op: i32, a: f32, b: f32): f32 {
  if (op == 4) {
    // reluForward's scalar rule on the f32 sum, so the bits are those of add then ReLU
    let v = a + b;
    return 0 < v ? v : (v != v ? v : 0);
  }
  return op == 0 ? a + b : op == 1 ? a - b : op == 2 ? a * b : a / b;
}

@inline function applyV(op: i32, a: v128, b: v128): v128 {
  // op 4: reluForward's pmax on the sum (a residual block's end, one pass instead of two)
  if (op == 4) return f32x4.pmax(f32x4.add(a, b), f32x4.splat(0));
  return op == 0 ? f32x4.add(a, b) : op == 1 ? f32x4.sub(a, b) : op == 2 ? f32x4.mul(a, b) : f32x4.div(a, b);
}

/** y[r·m + j] = a[r·m + j] ∘ b[j] for r < rows, j < m (op: 0 add, 1 sub, 2 mul, 3 div, 4 max(a + b, 0)). */
export function ewBinary(op: i32, a: usize, b: usize, y: usize, rows: i32, m: i32): void {
  let rowBytes = <usize>m << 2;
  for (let r = 0; r < rows; r++) {
    let ar = a + <usize>r * rowBytes, yr = y + <usize>r * rowBytes;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 4 <= m; j += 4) {
        let o = <usize>j << 2;
        v128.store(yr + o, applyV(op, v128.load(ar + o), v128.load(b + o)));
      }
    }
    for (; j < m; j++) {
      let o = <usize>j << 2;
      store<f32>(yr + o, apply(op, load<f32>(ar + o), load<f32>(b + o)));
    }
  }
}

/** y = a ∘ s over n values, or s ∘ a when `swap` (op: 0 add, 1 sub, 2 mul, 3 div). */
export function ewScalar(op: i32, a: usize, s: f32, y: usize, n: i32, swap: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let sv = f32x4.splat(s);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      let v = v128.load(a + o);
      v128.store(y + o, swap ? applyV(op, sv, v) : applyV(op, v, sv));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let v = load<f32>(a + o);
    store<f32>(y + o, swap ? apply(op, s, v) : apply(op, v, s));
  }
}

/** Σ x over n values, accumulated in f64 in index order. */
export function sumAll(x: usize, n: i32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += <f64>load<f32>(x + (<usize>i << 2));
  return s;
}
