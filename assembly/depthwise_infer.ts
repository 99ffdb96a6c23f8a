// Inference depthwise convolution for the shape MobileNets use everywhere: 3×3 filters, padding 1,
// stride 1 or 2, one filter per channel, NCHW. The nine weights stay in registers for a whole
// channel, the interior of each output row runs eight (stride 1) or four (stride 2) outputs at a
// time, and the write-out adds the bias and clamps to [lo, hi] (ReLU, ReLU6, Hardtanh), so a folded
// Conv-BN-ReLU6 is one pass over y.
// NOTE: every output is summed as depthwise.ts sums it (from 0, taps inside the image in (i, j)
// order, mul then add, the bias last), so y equals depthwiseForward's followed by the clamp, bit for
// bit, in every build and in src/js/depthwise_infer.ts.
// see: Howard et al. 2017, MobileNets, https://arxiv.org/abs/1704.04861; Sandler et al. 2018,
//      MobileNetV2, https://arxiv.org/abs/1801.04381 (3×3 depthwise, ReLU6)

/** One output from memory, skipping the taps outside the image (the borders, and the scalar build). */
// @ts-ignore: decorator
@inline function edge(xo: usize, wo: usize, oy: i32, ox: i32, h: i32, w: i32, s: i32, hasBias: bool, bias: f32, lo: f32, hi: f32): f32 {
  let acc: f32 = 0;
  for (let i = 0; i < 3; i++) {
    let iy = oy * s - 1 + i;
    if (iy < 0 || iy >= h) continue;
    for (let j = 0; j < 3; j++) {
      let ix = ox * s - 1 + j;
      if (ix < 0 || ix >= w) continue;
      acc += load<f32>(xo + (<usize>(iy * w + ix) << 2)) * load<f32>(wo + (<usize>(i * 3 + j) << 2));
    }
  }
  if (hasBias) acc += bias;
  return min<f32>(max<f32>(acc, lo), hi);
}

/** acc + x[0]·a + x[1]·b + x[2]·c for four neighbouring outputs at stride 1 (x: the first tap's address). */
// @ts-ignore: decorator
@inline function row1(acc: v128, x: usize, a: v128, b: v128, c: v128): v128 {
  acc = f32x4.add(acc, f32x4.mul(v128.load(x), a));
  acc = f32x4.add(acc, f32x4.mul(v128.load(x, 4), b));
  return f32x4.add(acc, f32x4.mul(v128.load(x, 8), c));
}

/** As row1 for four outputs at stride 2: the even lanes of eight inputs from x, x + 1 and x + 2. */
// @ts-ignore: decorator
@inline function row2(acc: v128, x: usize, a: v128, b: v128, c: v128): v128 {
  let p = v128.load(x),
    q = v128.load(x, 16);
  acc = f32x4.add(acc, f32x4.mul(v128.shuffle<f32>(p, q, 0, 2, 4, 6), a));
  acc = f32x4.add(acc, f32x4.mul(v128.shuffle<f32>(p, q, 1, 3, 5, 7), b));
  let r = v128.load(x, 8),
    t = v128.load(x, 24);
  return f32x4.add(acc, f32x4.mul(v128.shuffle<f32>(r, t, 0, 2, 4, 6), c));
}

/** + bias, then the clamp to [l, u], for four outputs. */
// @ts-ignore: decorator
@inline function finish4(acc: v128, hasBias: bool, vb: v128, l: v128, u: v128): v128 {
  if (hasBias) acc = f32x4.add(acc, vb);
  return f32x4.min(f32x4.max(acc, l), u);
}

/** One channel's outputs with the SIMD interior (taps inside the row) and edge() at the borders. */
function channelSimd(xo: usize, wo: usize, yo: usize, h: i32, w: i32, s: i32, oh: i32, ow: i32, ox0: i32, ox1: i32, hasBias: bool, bias: f32, lo: f32, hi: f32): void {
  let w0 = v128.load32_splat(wo), w1 = v128.load32_splat(wo + 4), w2 = v128.load32_splat(wo + 8);
  let w3 = v128.load32_splat(wo + 12), w4 = v128.load32_splat(wo + 16), w5 = v128.load32_splat(wo + 20);
  let w6 = v128.load32_splat(wo + 24), w7 = v128.load32_splat(wo + 28), w8 = v128.load32_splat(wo + 32);
  let vb = f32x4.splat(bias), l = f32x4.splat(lo), u = f32x4.splat(hi), zero = f32x4.splat(0);
  for (let oy = 0; oy < oh; oy++) {
    let iy = oy * s - 1;
    let ok0 = iy >= 0, ok1 = iy + 1 < h, ok2 = iy + 2 < h;
    let yr = yo + (<usize>(oy * ow) << 2);
    // the first tap of output ox in row iy + i: x[iy + i, ox·s − 1] (a row outside is never read)
    let xr0 = xo + (<usize>(iy * w - 1) << 2), xr1 = xr0 + (<usize>w << 2), xr2 = xr1 + (<usize>w << 2);
    let ox = 0;
    for (; ox < ox0; ox++) store<f32>(yr + (<usize>ox << 2), edge(xo, wo, oy, ox, h, w, s, hasBias, bias, lo, hi));
    if (s == 1) {
      for (; ox + 8 <= ox1; ox += 8) {
        let o = <usize>ox << 2;
        let a = zero, z = zero;
        if (ok0) {
          a = row1(a, xr0 + o, w0, w1, w2);
          z = row1(z, xr0 + o + 16, w0, w1, w2);
        }
        if (ok1) {
          a = row1(a, xr1 + o, w3, w4, w5);
          z = row1(z, xr1 + o + 16, w3, w4, w5);
        }
        if (ok2) {
          a = row1(a, xr2 + o, w6, w7, w8);
          z = row1(z, xr2 + o + 16, w6, w7, w8);
        }
        v128.store(yr + o, finish4(a, hasBias, vb, l, u));
        v128.store(yr + o, finish4(z, hasBias, vb, l, u), 16);
      }
      for (; ox + 4 <= ox1; ox += 4) {
        let o = <usize>ox << 2;
        let a = zero;
        if (ok0) a = row1(a, xr0 + o, w0, w1, w2);
        if (ok1) a = row1(a, xr1 + o, w3, w4, w5);
        if (ok2) a = row1(a, xr2 + o, w6, w7, w8);
        v128.store(yr + o, finish4(a, hasBias, vb, l, u));
      }
    } else {
      // the last read of four outputs is x[2·ox + 8]: it must stay in the row
      for (; ox + 4 <= ox1 && 2 * ox + 9 <= w; ox += 4) {
        let o = <usize>(2 * ox) << 2;
        let a = zero;
        if (ok0) a = row2(a, xr0 + o, w0, w1, w2);
        if (ok1) a = row2(a, xr1 + o, w3, w4, w5);
        if (ok2) a = row2(a, xr2 + o, w6, w7, w8);
        v128.store(yr + (<usize>ox << 2), finish4(a, hasBias, vb, l, u));
      }
    }
    for (; ox < ow; ox++) store<f32>(yr + (<usize>ox << 2), edge(xo, wo, oy, ox, h, w, s, hasBias, bias, lo, hi));
  }
}

/**
 * y = clamp(x ⋆ w + b, lo, hi) per channel for n NCHW images x [n, c, h, w], w [c, 3, 3], b [c] or 0
 * for none, padding 1, stride s (1 or 2) along both axes; y [n, c, oh, ow].
 */
export function depthwise3x3Infer(x: usize, wt: usize, b: usize, y: usize, n: i32, c: i32, h: i32, w: i32, s: i32, oh: i32, ow: i32, lo: f32, hi: f32): void {
  let hasBias = b != 0;
  // the outputs whose three taps lie inside the row: ox ≥ 1 and ox·s + 1 < w
  let ox1 = w < 2 ? 0 : min(ow, (w - 2) / s + 1);
  let ox0 = min(1, ox1);
  for (let q = 0; q < n; q++) {
    for (let ch = 0; ch < c; ch++) {
      let xo = x + (<usize>((q * c + ch) * h * w) << 2),
        wo = wt + (<usize>(ch * 9) << 2),
        yo = y + (<usize>((q * c + ch) * oh * ow) << 2);
      let bias: f32 = hasBias ? load<f32>(b + (<usize>ch << 2)) : 0;
      if (ASC_FEATURE_SIMD) channelSimd(xo, wo, yo, h, w, s, oh, ow, ox0, ox1, hasBias, bias, lo, hi);
      else
        for (let oy = 0; oy < oh; oy++)
          for (let ox = 0; ox < ow; ox++) store<f32>(yo + (<usize>(oy * ow + ox) << 2), edge(xo, wo, oy, ox, h, w, s, hasBias, bias, lo, hi));
    }
  }
}
