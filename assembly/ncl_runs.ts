// The channel-first passes over x[n][c][l] one run of l values at a time, in memory order (batch
// item, then channel): the statistics and backward sums, the normalize pass and the dx pass, each
// with the per-channel constants of the workspace (see bn_driver.ts).
// see: docs/performance.md#runs-in-memory-order
import { SHIFT_SAMPLE, shiftOf, shiftedSums, shiftedSums2, dotSums, dotSumsRelu, reluMask, sumsReset, sum1, sum2 } from './stats';
import { at, STREAM_BYTES, WS_S1, WS_S2, WS_K, WS_KS, WS_KA, WS_KB, WS_KC, WS_FS, WS_FA, WS_FB } from './nhwc_passes';

/** Each channel's shift (f32 at pk) from the first values of its first run. */
export function runShifts(x: usize, c: i32, l: i32, pk: usize): void {
  for (let ch = 0; ch < c; ch++) store<f32>(pk + (<usize>ch << 2), shiftOf(x + (<usize>ch * <usize>l << 2), min(l, SHIFT_SAMPLE), 4));
}

// Each pass takes channels c0..c1 (all of them on one thread; a block of them in a part of the
// threaded build, parts_bn.ts): the same runs in the same order whatever the block.

/** S1 = Σ(x − K), S2 = Σ(x − K)² of channels c0..c1 (f64 in the workspace w of c channels, shifts K there). */
export function runSums(x: usize, n: i32, c: i32, l: i32, w: usize, c0: i32, c1: i32): void {
  let s1 = at(w, c, WS_S1), s2 = at(w, c, WS_S2), pk = at(w, c, WS_K);
  memory.fill(s1 + (<usize>c0 << 3), 0, <usize>(c1 - c0) << 3);
  memory.fill(s2 + (<usize>c0 << 3), 0, <usize>(c1 - c0) << 3);
  // beyond the caches (SIMD build) batch items b and b + n/2 side by side: two read streams (the
  // whole tensor's size decides, for every block of channels)
  let item = <usize>c * <usize>l << 2, run = <usize>l << 2;
  let h = ASC_FEATURE_SIMD && <usize>n * item > STREAM_BYTES ? n >> 1 : 0, gap = <usize>h * item;
  for (let b = 0; b < n; b++) {
    if (b == h && h > 0) {
      b = 2 * h;
      if (b == n) break;
    }
    let p = x + <usize>b * item + <usize>c0 * run;
    for (let ch = c0; ch < c1; ch++) {
      let o = <usize>ch << 3, k = load<f32>(pk + (<usize>ch << 2));
      sumsReset();
      if (b < h) shiftedSums2(p, gap, l, k);
      else shiftedSums(p, l, k);
      store<f64>(s1 + o, load<f64>(s1 + o) + sum1);
      store<f64>(s2 + o, load<f64>(s2 + o) + sum2);
      p += run;
    }
  }
}

/** S1 = Σg, S2 = Σg·(x − K) of channels c0..c1, g = dy, or for BN+ReLU dy where the forward's output was positive. */
export function runDots(x: usize, dy: usize, n: i32, c: i32, l: i32, w: usize, relu: bool, c0: i32, c1: i32): void {
  let s1 = at(w, c, WS_S1), s2 = at(w, c, WS_S2), pk = at(w, c, WS_K);
  let fs = at(w, c, WS_FS), fa = at(w, c, WS_FA), fb = at(w, c, WS_FB);
  memory.fill(s1 + (<usize>c0 << 3), 0, <usize>(c1 - c0) << 3);
  memory.fill(s2 + (<usize>c0 << 3), 0, <usize>(c1 - c0) << 3);
  let item = <usize>c * <usize>l << 2, run = <usize>l << 2;
  for (let b = 0; b < n; b++) {
    let o = <usize>b * item + <usize>c0 * run;
    for (let ch = c0; ch < c1; ch++) {
      let q = <usize>ch << 3, p = <usize>ch << 2, k = load<f32>(pk + p);
      sumsReset();
      if (relu) dotSumsRelu(x + o, dy + o, l, k, load<f32>(fs + p), load<f32>(fa + p), load<f32>(fb + p));
      else dotSums(x + o, dy + o, l, k);
      store<f64>(s1 + q, load<f64>(s1 + q) + sum1);
      store<f64>(s2 + q, load<f64>(s2 + q) + sum2);
      o += run;
    }
  }
}

/** y over every run of channels c0..c1 with its channel's constants kS, kA, kB (f32 in w), clamped at 0 when relu. */
export function runNormalize(x: usize, y: usize, n: i32, c: i32, l: i32, w: usize, relu: bool, c0: i32, c1: i32): void {
  let ps = at(w, c, WS_KS), pa = at(w, c, WS_KA), pb = at(w, c, WS_KB);
  let floor: f32 = relu ? 0 : -Infinity;
  let item = <usize>c * <usize>l << 2, run = <usize>l << 2;
  for (let b = 0; b < n; b++) {
    let o = <usize>b * item + <usize>c0 * run;
    for (let ch = c0; ch < c1; ch++) {
      let p = <usize>ch << 2;
      normRun(x + o, y + o, l, load<f32>(ps + p), load<f32>(pa + p), load<f32>(pb + p), floor);
      o += run;
    }
  }
}

/** dx over every run of channels c0..c1 with its channel's constants kS, kA, kB, kC (and for BN+ReLU the forward's fS, fA, fB) in w. */
export function runDx(x: usize, dy: usize, dx: usize, n: i32, c: i32, l: i32, w: usize, train: i32, relu: bool, c0: i32, c1: i32): void {
  let ps = at(w, c, WS_KS), pa = at(w, c, WS_KA), pb = at(w, c, WS_KB), pc = at(w, c, WS_KC);
  let fs = at(w, c, WS_FS), fa = at(w, c, WS_FA), fb = at(w, c, WS_FB);
  let item = <usize>c * <usize>l << 2, run = <usize>l << 2;
  for (let b = 0; b < n; b++) {
    let o = <usize>b * item + <usize>c0 * run;
    for (let ch = c0; ch < c1; ch++) {
      let p = <usize>ch << 2;
      if (relu) {
        dxRunRelu(x + o, dy + o, dx + o, l, load<f32>(ps + p), load<f32>(pa + p), load<f32>(pb + p), load<f32>(pc + p), load<f32>(fs + p), load<f32>(fa + p), load<f32>(fb + p));
      } else if (train) {
        dxRun(x + o, dy + o, dx + o, l, load<f32>(ps + p), load<f32>(pa + p), load<f32>(pb + p), load<f32>(pc + p));
      } else {
        scaleRun(dy + o, dx + o, l, load<f32>(pa + p));
      }
      o += run;
    }
  }
}

/** y = max((x − s0)·a0 + b0, floor) over `n` contiguous values (x·a0 + b0 when s0 = 0). */
export function normRun(px: usize, py: usize, n: i32, s0: f32, a0: f32, b0: f32, floor: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // pmax(v, floor) = v < floor ? floor : v: one instruction, NaN kept; floor −∞ changes nothing
    let s = f32x4.splat(s0), a = f32x4.splat(a0), b = f32x4.splat(b0), f = f32x4.splat(floor);
    if (s0 == 0) {
      for (; i + 16 <= n; i += 16) {
        let o = <usize>i << 2;
        let v0 = v128.load(px + o), v1 = v128.load(px + o, 16), v2 = v128.load(px + o, 32), v3 = v128.load(px + o, 48);
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(v0, a), b), f));
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(v1, a), b), f), 16);
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(v2, a), b), f), 32);
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(v3, a), b), f), 48);
      }
    } else {
      for (; i + 16 <= n; i += 16) {
        let o = <usize>i << 2;
        let v0 = v128.load(px + o), v1 = v128.load(px + o, 16), v2 = v128.load(px + o, 32), v3 = v128.load(px + o, 48);
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v0, s), a), b), f));
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v1, s), a), b), f), 16);
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v2, s), a), b), f), 32);
        v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v3, s), a), b), f), 48);
      }
    }
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      v128.store(py + o, f32x4.pmax(f32x4.add(f32x4.mul(f32x4.sub(v128.load(px + o), s), a), b), f));
    }
  }
  let f = floor;
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let v = (load<f32>(px + o) - s0) * a0 + b0;
    store<f32>(py + o, v < f ? f : v);
  }
}

/** dx = a·dy − b·(x − s) − k over `n` contiguous values (no subtraction when s = 0). */
export function dxRun(px: usize, pdy: usize, pdx: usize, n: i32, s0: f32, a0: f32, b0: f32, k0: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let s = f32x4.splat(s0), a = f32x4.splat(a0), b = f32x4.splat(b0), k = f32x4.splat(k0);
    if (s0 == 0) {
      for (; i + 8 <= n; i += 8) {
        let o = <usize>i << 2;
        let t0 = f32x4.sub(f32x4.mul(v128.load(pdy + o), a), f32x4.mul(v128.load(px + o), b));
        let t1 = f32x4.sub(f32x4.mul(v128.load(pdy + o, 16), a), f32x4.mul(v128.load(px + o, 16), b));
        v128.store(pdx + o, f32x4.sub(t0, k));
        v128.store(pdx + o, f32x4.sub(t1, k), 16);
      }
    } else {
      for (; i + 8 <= n; i += 8) {
        let o = <usize>i << 2;
        let t0 = f32x4.sub(f32x4.mul(v128.load(pdy + o), a), f32x4.mul(f32x4.sub(v128.load(px + o), s), b));
        let t1 = f32x4.sub(f32x4.mul(v128.load(pdy + o, 16), a), f32x4.mul(f32x4.sub(v128.load(px + o, 16), s), b));
        v128.store(pdx + o, f32x4.sub(t0, k));
        v128.store(pdx + o, f32x4.sub(t1, k), 16);
      }
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    store<f32>(pdx + o, (load<f32>(pdy + o) * a0 - (load<f32>(px + o) - s0) * b0) - k0);
  }
}

/** dxRun for BN+ReLU: dy counts only where the forward's output (constants fs, fa, fb) was positive. */
export function dxRunRelu(px: usize, pdy: usize, pdx: usize, n: i32, s0: f32, a0: f32, b0: f32, k0: f32, fs: f32, fa: f32, fb: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let s = f32x4.splat(s0), a = f32x4.splat(a0), b = f32x4.splat(b0), k = f32x4.splat(k0);
    let sv = f32x4.splat(fs), av = f32x4.splat(fa), bv = f32x4.splat(fb);
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      let x = v128.load(px + o);
      let g = v128.and(v128.load(pdy + o), reluMask(x, sv, av, bv));
      v128.store(pdx + o, f32x4.sub(f32x4.sub(f32x4.mul(g, a), f32x4.mul(f32x4.sub(x, s), b)), k));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    let x = load<f32>(px + o);
    let g: f32 = (x - fs) * fa + fb > 0 ? load<f32>(pdy + o) : 0;
    store<f32>(pdx + o, (g * a0 - (x - s0) * b0) - k0);
  }
}

/** dx = a·dy over `n` contiguous values (backward through fixed statistics). */
export function scaleRun(pdy: usize, pdx: usize, n: i32, a0: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    let a = f32x4.splat(a0);
    for (; i + 8 <= n; i += 8) {
      let o = <usize>i << 2;
      v128.store(pdx + o, f32x4.mul(v128.load(pdy + o), a));
      v128.store(pdx + o, f32x4.mul(v128.load(pdy + o, 16), a), 16);
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    store<f32>(pdx + o, load<f32>(pdy + o) * a0);
  }
}
