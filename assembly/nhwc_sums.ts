// Channels-last inner loop of the reductions: per channel Σa and Σb over rows, where (statistics)
// a = x − K, b = (x − K)², or (backward) a = g, b = g·(x − K), g = dy, or for BN+ReLU dy where the
// forward's output was positive. `dot`, `shifted` (some K ≠ 0) and `relu` are literals at each call
// site: one branch-free copy of the loop per mode. R rows share each load of the constants and of
// the f32 partial sums, which take one tree-summed term per R rows.
import { reluMask } from './stats';

// @ts-ignore: decorator
@inline function termA(e: v128, g: v128, dot: bool): v128 {
  return dot ? g : e;
}

// @ts-ignore: decorator
@inline function termB(e: v128, g: v128, dot: bool): v128 {
  return f32x4.mul(dot ? g : e, e);
}

/** g for one row: dy, masked where the forward's output was not positive (relu); 0 unless dot. */
// @ts-ignore: decorator
@inline function gOf(p: usize, x: v128, fs: v128, fa: v128, fb: v128, dot: bool, relu: bool): v128 {
  if (!dot) return f32x4.splat(0);
  let g = v128.load(p);
  return relu ? v128.and(g, reluMask(x, fs, fa, fb)) : g;
}

/**
 * Adds Σa, Σb over R rows of 4 channels to the f32 partial sums at pa1, pa2: rows at p, p + stride,
 * p + far, p + far + stride, tree-summed: (r0 + r1) + (r2 + r3).
 */
// @ts-ignore: decorator
@inline function column4(p: usize, stride: usize, far: usize, ddy: usize, pk: usize, pa1: usize, pa2: usize, fs: usize, fa: usize, fb: usize, R: i32, dot: bool, shifted: bool, relu: bool): void {
  let z = f32x4.splat(0);
  let k = shifted ? v128.load(pk) : z;
  let vs = relu ? v128.load(fs) : z, va = relu ? v128.load(fa) : z, vb = relu ? v128.load(fb) : z;
  let x0 = v128.load(p);
  let e0 = shifted ? f32x4.sub(x0, k) : x0, g0 = gOf(p + ddy, x0, vs, va, vb, dot, relu);
  let sa = termA(e0, g0, dot), sb = termB(e0, g0, dot);
  if (R > 1) {
    let x1 = v128.load(p + stride);
    let e1 = shifted ? f32x4.sub(x1, k) : x1, g1 = gOf(p + stride + ddy, x1, vs, va, vb, dot, relu);
    sa = f32x4.add(sa, termA(e1, g1, dot)); sb = f32x4.add(sb, termB(e1, g1, dot));
  }
  if (R == 4) {
    let q = p + far;
    let x2 = v128.load(q), x3 = v128.load(q + stride);
    let e2 = shifted ? f32x4.sub(x2, k) : x2, g2 = gOf(q + ddy, x2, vs, va, vb, dot, relu);
    let e3 = shifted ? f32x4.sub(x3, k) : x3, g3 = gOf(q + stride + ddy, x3, vs, va, vb, dot, relu);
    sa = f32x4.add(sa, f32x4.add(termA(e2, g2, dot), termA(e3, g3, dot)));
    sb = f32x4.add(sb, f32x4.add(termB(e2, g2, dot), termB(e3, g3, dot)));
  }
  v128.store(pa1, f32x4.add(v128.load(pa1), sa));
  v128.store(pa2, f32x4.add(v128.load(pa2), sb));
}

/**
 * `steps` steps of R rows (R = 1, 2 or 4) of channels 0..c4 (a multiple of 4), 8 channels at a time:
 * a step's rows at p, p + stride, p + far, p + far + stride, steps `step` bytes apart. Adds to the
 * f32 partial sums at pa1, pa2 (f32[c]); shifts at pk, the forward's constants at fs, fa, fb (relu).
 */
// @ts-ignore: decorator
@inline export function rowsSums(x: usize, dy: usize, steps: i32, step: usize, stride: usize, far: usize, c4: i32, pk: usize, pa1: usize, pa2: usize, fs: usize, fa: usize, fb: usize, R: i32, dot: bool, shifted: bool, relu: bool): void {
  let ddy = dy - x, w = <usize>c4 << 2, w8 = <usize>(c4 & ~7) << 2;
  for (let px = x, end = x + <usize>steps * step; px < end; px += step) {
    let o: usize = 0;
    for (; o < w8; o += 32) {
      column4(px + o, stride, far, ddy, pk + o, pa1 + o, pa2 + o, fs + o, fa + o, fb + o, R, dot, shifted, relu);
      column4(px + o + 16, stride, far, ddy, pk + o + 16, pa1 + o + 16, pa2 + o + 16, fs + o + 16, fa + o + 16, fb + o + 16, R, dot, shifted, relu);
    }
    if (o < w) column4(px + o, stride, far, ddy, pk + o, pa1 + o, pa2 + o, fs + o, fa + o, fb + o, R, dot, shifted, relu);
  }
}
