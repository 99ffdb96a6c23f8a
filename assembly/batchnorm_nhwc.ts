// BatchNorm kernels for channels-last layouts: x[m][c] with m = N (NC), N·L, N·H·W or N·D·H·W.
// Vectorized across channels: four channels per f32x4, walking rows in chunks that stay in L1;
// within a chunk one group of four channels is done at a time so its accumulators and constants
// live in registers. Remaining channels (c mod 4, or all in the scalar build) take a scalar path.
// see: Ioffe & Szegedy 2015, https://arxiv.org/abs/1502.03167; PyTorch
//      aten/src/ATen/native/cpu/batch_norm_kernel.cpp (batch_norm_cpu_collect_stats_channels_last)
import {
  CHUNK, chunkStatsStrided, mergeInto, chunkDotsStrided, dotsReset, dotA, dotB,
  kS, kA, kB, kC, setNormalize, setBackward,
} from './stats';

/** Workspace bytes the channels-last kernels need for `c` channels. */
export function bnWorkspaceNHWC(c: i32): i32 {
  return c * 32;
}

// Workspace: f64 [0, 8c) and [8c, 16c): per-channel sums; f32 [16c, 32c): kS, kA, kB, kC per channel.
// @ts-ignore: decorator
@inline function rowsPerChunk(c: i32): i32 {
  return max(16, CHUNK / c); // ≥ 16 rows so the f64 merge per chunk stays cheap
}

/** Chunk statistics for channels g..g+3 over `r` rows of `stride` bytes, merged into pm/pq (f64). */
function groupStats(p: usize, r: i32, stride: usize, pm: usize, pq: usize, count: f64): void {
  let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
  let i = 0;
  for (; i + 2 <= r; i += 2) {
    let v0 = v128.load(p + <usize>i * stride), v1 = v128.load(p + <usize>(i + 1) * stride);
    a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v0));
    a1 = f64x2.add(a1, f64x2.promote_low_f32x4(i32x4.shuffle(v0, v0, 2, 3, 0, 1)));
    a2 = f64x2.add(a2, f64x2.promote_low_f32x4(v1));
    a3 = f64x2.add(a3, f64x2.promote_low_f32x4(i32x4.shuffle(v1, v1, 2, 3, 0, 1)));
  }
  if (i < r) {
    let v0 = v128.load(p + <usize>i * stride);
    a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v0));
    a1 = f64x2.add(a1, f64x2.promote_low_f32x4(i32x4.shuffle(v0, v0, 2, 3, 0, 1)));
  }
  let nr = f64x2.splat(<f64>r);
  // divide (not multiply by 1/r) so a constant channel's mean is its value exactly
  let m01 = f64x2.div(f64x2.add(a0, a2), nr), m23 = f64x2.div(f64x2.add(a1, a3), nr);
  let hi = i32x4.shuffle(f32x4.demote_f64x2_zero(m01), f32x4.demote_f64x2_zero(m23), 0, 1, 4, 5);
  let lo01 = f64x2.sub(m01, f64x2.promote_low_f32x4(hi));
  let lo23 = f64x2.sub(m23, f64x2.promote_low_f32x4(i32x4.shuffle(hi, hi, 2, 3, 0, 1)));
  let d0 = f32x4.splat(0), d1 = f32x4.splat(0), q0 = f32x4.splat(0), q1 = f32x4.splat(0);
  i = 0;
  for (; i + 2 <= r; i += 2) {
    let e0 = f32x4.sub(v128.load(p + <usize>i * stride), hi);
    let e1 = f32x4.sub(v128.load(p + <usize>(i + 1) * stride), hi);
    d0 = f32x4.add(d0, e0); q0 = f32x4.add(q0, f32x4.mul(e0, e0));
    d1 = f32x4.add(d1, e1); q1 = f32x4.add(q1, f32x4.mul(e1, e1));
  }
  if (i < r) {
    let e0 = f32x4.sub(v128.load(p + <usize>i * stride), hi);
    d0 = f32x4.add(d0, e0); q0 = f32x4.add(q0, f32x4.mul(e0, e0));
  }
  let sd = f32x4.add(d0, d1), sq = f32x4.add(q0, q1);
  let two = f64x2.splat(2);
  // M2 = Σd² − 2·lo·Σd + r·lo², clamped at 0 (max keeps NaN)
  let z = f64x2.splat(0);
  let q01 = f64x2.max(z, f64x2.add(f64x2.sub(f64x2.promote_low_f32x4(sq), f64x2.mul(f64x2.mul(two, lo01), f64x2.promote_low_f32x4(sd))), f64x2.mul(nr, f64x2.mul(lo01, lo01))));
  let sqh = i32x4.shuffle(sq, sq, 2, 3, 0, 1), sdh = i32x4.shuffle(sd, sd, 2, 3, 0, 1);
  let q23 = f64x2.max(z, f64x2.add(f64x2.sub(f64x2.promote_low_f32x4(sqh), f64x2.mul(f64x2.mul(two, lo23), f64x2.promote_low_f32x4(sdh))), f64x2.mul(nr, f64x2.mul(lo23, lo23))));
  if (count == 0) {
    v128.store(pm, m01); v128.store(pm, m23, 16);
    v128.store(pq, q01); v128.store(pq, q23, 16);
    return;
  }
  // Chan merge of (count, mean, M2) with (r, m, q)
  let total = count + <f64>r;
  let wn = f64x2.splat(<f64>r / total), wq = f64x2.splat(count * <f64>r / total);
  let o01 = v128.load(pm), o23 = v128.load(pm, 16);
  let e01 = f64x2.sub(m01, o01), e23 = f64x2.sub(m23, o23);
  v128.store(pm, f64x2.add(o01, f64x2.mul(e01, wn)));
  v128.store(pm, f64x2.add(o23, f64x2.mul(e23, wn)), 16);
  v128.store(pq, f64x2.add(f64x2.add(v128.load(pq), q01), f64x2.mul(f64x2.mul(e01, e01), wq)));
  v128.store(pq, f64x2.add(f64x2.add(v128.load(pq, 16), q23), f64x2.mul(f64x2.mul(e23, e23), wq)), 16);
}

/** y = (x − kS)·kA + kB per channel, constants from the workspace, over all m rows. */
function normalizePass(x: usize, y: usize, m: i32, c: i32, ws: usize): void {
  let rows = rowsPerChunk(c);
  let stride = <usize>c << 2;
  let ps = ws + (<usize>c << 4), pa = ps + stride, pb = pa + stride;
  let c4 = ASC_FEATURE_SIMD ? c & ~3 : 0;
  for (let r0 = 0; r0 < m; r0 += rows) {
    let r = min(rows, m - r0);
    let px = x + <usize>r0 * stride, py = y + <usize>r0 * stride;
    if (ASC_FEATURE_SIMD) {
      for (let g = 0; g < c4; g += 4) {
        let o = <usize>g << 2;
        let s = v128.load(ps + o), a = v128.load(pa + o), b = v128.load(pb + o);
        let i = 0;
        for (; i + 2 <= r; i += 2) {
          let q0 = o + <usize>i * stride, q1 = q0 + stride;
          v128.store(py + q0, f32x4.add(f32x4.mul(f32x4.sub(v128.load(px + q0), s), a), b));
          v128.store(py + q1, f32x4.add(f32x4.mul(f32x4.sub(v128.load(px + q1), s), a), b));
        }
        if (i < r) {
          let q0 = o + <usize>i * stride;
          v128.store(py + q0, f32x4.add(f32x4.mul(f32x4.sub(v128.load(px + q0), s), a), b));
        }
      }
    }
    for (let ch = c4; ch < c; ch++) {
      let o = <usize>ch << 2;
      let s = load<f32>(ps + o), a = load<f32>(pa + o), b = load<f32>(pb + o);
      for (let i = 0; i < r; i++) {
        let q = o + <usize>i * stride;
        store<f32>(py + q, (load<f32>(px + q) - s) * a + b);
      }
    }
  }
}

/** Stores the current kS, kA, kB, kC for channel `ch` into the workspace. */
// @ts-ignore: decorator
@inline function saveConstants(ws: usize, c: i32, ch: i32): void {
  let p = ws + (<usize>c << 4) + (<usize>ch << 2), stride = <usize>c << 2;
  store<f32>(p, kS); store<f32>(p + stride, kA); store<f32>(p + 2 * stride, kB); store<f32>(p + 3 * stride, kC);
}

/** Training forward, channels-last: batch mean and biased variance per channel, then y. Writes mean, var, invstd (f64[c]). */
export function bnTrainNHWC(x: usize, y: usize, m: i32, c: i32, gamma: usize, beta: usize, eps: f64, mean: usize, vari: usize, invstd: usize, ws: usize): void {
  let rows = rowsPerChunk(c);
  let stride = <usize>c << 2;
  let c4 = ASC_FEATURE_SIMD ? c & ~3 : 0;
  let count: f64 = 0;
  for (let r0 = 0; r0 < m; r0 += rows) {
    let r = min(rows, m - r0);
    let p = x + <usize>r0 * stride;
    if (ASC_FEATURE_SIMD) {
      for (let g = 0; g < c4; g += 4) groupStats(p + (<usize>g << 2), r, stride, mean + (<usize>g << 3), vari + (<usize>g << 3), count);
    }
    for (let ch = c4; ch < c; ch++) {
      chunkStatsStrided(p + (<usize>ch << 2), r, stride);
      mergeInto(mean + (<usize>ch << 3), vari + (<usize>ch << 3), count, <f64>r);
    }
    count += <f64>r;
  }
  for (let ch = 0; ch < c; ch++) {
    let o = <usize>ch << 3;
    let mu = load<f64>(mean + o);
    let v = load<f64>(vari + o) / count; // biased: M2 / M
    let inv = 1 / Math.sqrt(v + eps);
    store<f64>(vari + o, v);
    store<f64>(invstd + o, inv);
    setNormalize(ch, gamma, beta, mu, inv);
    saveConstants(ws, c, ch);
  }
  normalizePass(x, y, m, c, ws);
}

/** Normalizes channels-last x with given per-channel mean and invstd (f64[c]): inference. */
export function bnNormalizeNHWC(x: usize, y: usize, m: i32, c: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, ws: usize): void {
  for (let ch = 0; ch < c; ch++) {
    setNormalize(ch, gamma, beta, load<f64>(mean + (<usize>ch << 3)), load<f64>(invstd + (<usize>ch << 3)));
    saveConstants(ws, c, ch);
  }
  normalizePass(x, y, m, c, ws);
}

/** Adds Σdy and Σdy·(x − kS) for channels g..g+3 over `r` rows into f64 sums at pa, pb. */
function groupDots(px: usize, pdy: usize, r: i32, stride: usize, s: v128, pa: usize, pb: usize): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
  let i = 0;
  for (; i + 2 <= r; i += 2) {
    let q0 = <usize>i * stride, q1 = q0 + stride;
    let g0 = v128.load(pdy + q0), g1 = v128.load(pdy + q1);
    a0 = f32x4.add(a0, g0); a1 = f32x4.add(a1, g1);
    b0 = f32x4.add(b0, f32x4.mul(g0, f32x4.sub(v128.load(px + q0), s)));
    b1 = f32x4.add(b1, f32x4.mul(g1, f32x4.sub(v128.load(px + q1), s)));
  }
  if (i < r) {
    let q0 = <usize>i * stride;
    let g0 = v128.load(pdy + q0);
    a0 = f32x4.add(a0, g0);
    b0 = f32x4.add(b0, f32x4.mul(g0, f32x4.sub(v128.load(px + q0), s)));
  }
  let sa = f32x4.add(a0, a1), sb = f32x4.add(b0, b1);
  v128.store(pa, f64x2.add(v128.load(pa), f64x2.promote_low_f32x4(sa)));
  v128.store(pa, f64x2.add(v128.load(pa, 16), f64x2.promote_low_f32x4(i32x4.shuffle(sa, sa, 2, 3, 0, 1))), 16);
  v128.store(pb, f64x2.add(v128.load(pb), f64x2.promote_low_f32x4(sb)));
  v128.store(pb, f64x2.add(v128.load(pb, 16), f64x2.promote_low_f32x4(i32x4.shuffle(sb, sb, 2, 3, 0, 1))), 16);
}

/** Backward, channels-last: dx, and dgamma/dbeta (f32[c], added to when non-zero). `train` = 1 for batch statistics. */
export function bnBackwardNHWC(x: usize, dy: usize, dx: usize, m: i32, c: i32, gamma: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize, train: i32, ws: usize): void {
  let rows = rowsPerChunk(c);
  let stride = <usize>c << 2;
  let c4 = ASC_FEATURE_SIMD ? c & ~3 : 0;
  let psa = ws, psb = ws + (<usize>c << 3), ps = ws + (<usize>c << 4);
  memory.fill(ws, 0, <usize>c << 4);
  for (let ch = 0; ch < c; ch++) store<f32>(ps + (<usize>ch << 2), <f32>load<f64>(mean + (<usize>ch << 3)));
  for (let r0 = 0; r0 < m; r0 += rows) {
    let r = min(rows, m - r0);
    let o = <usize>r0 * stride;
    if (ASC_FEATURE_SIMD) {
      for (let g = 0; g < c4; g += 4) {
        let q = o + (<usize>g << 2);
        groupDots(x + q, dy + q, r, stride, v128.load(ps + (<usize>g << 2)), psa + (<usize>g << 3), psb + (<usize>g << 3));
      }
    }
    for (let ch = c4; ch < c; ch++) {
      let q = o + (<usize>ch << 2);
      dotsReset();
      chunkDotsStrided(x + q, dy + q, r, stride, load<f32>(ps + (<usize>ch << 2)));
      store<f64>(psa + (<usize>ch << 3), load<f64>(psa + (<usize>ch << 3)) + dotA);
      store<f64>(psb + (<usize>ch << 3), load<f64>(psb + (<usize>ch << 3)) + dotB);
    }
  }
  for (let ch = 0; ch < c; ch++) {
    let o = <usize>ch << 3;
    setBackward(ch, <f64>m, gamma, load<f64>(mean + o), load<f64>(invstd + o), load<f64>(psa + o), load<f64>(psb + o), dgamma, dbeta, train);
    saveConstants(ws, c, ch);
  }
  dxPass(x, dy, dx, m, c, ws, train);
}

/** dx = kA·dy − kB·(x − kS) − kC per channel (or kA·dy when !train), constants from the workspace. */
function dxPass(x: usize, dy: usize, dx: usize, m: i32, c: i32, ws: usize, train: i32): void {
  let rows = rowsPerChunk(c);
  let stride = <usize>c << 2;
  let ps = ws + (<usize>c << 4), pa = ps + stride, pb = pa + stride, pk = pb + stride;
  let c4 = ASC_FEATURE_SIMD ? c & ~3 : 0;
  for (let r0 = 0; r0 < m; r0 += rows) {
    let r = min(rows, m - r0);
    let base = <usize>r0 * stride;
    if (ASC_FEATURE_SIMD) {
      for (let g = 0; g < c4; g += 4) {
        let o = <usize>g << 2;
        let s = v128.load(ps + o), a = v128.load(pa + o), b = v128.load(pb + o), k = v128.load(pk + o);
        for (let i = 0; i < r; i++) {
          let q = base + o + <usize>i * stride;
          let t = f32x4.mul(v128.load(dy + q), a);
          if (train) t = f32x4.sub(f32x4.sub(t, f32x4.mul(f32x4.sub(v128.load(x + q), s), b)), k);
          v128.store(dx + q, t);
        }
      }
    }
    for (let ch = c4; ch < c; ch++) {
      let o = <usize>ch << 2;
      let s = load<f32>(ps + o), a = load<f32>(pa + o), b = load<f32>(pb + o), k = load<f32>(pk + o);
      for (let i = 0; i < r; i++) {
        let q = base + o + <usize>i * stride;
        let t = load<f32>(dy + q) * a;
        if (train) t = (t - (load<f32>(x + q) - s) * b) - k;
        store<f32>(dx + q, t);
      }
    }
  }
}
