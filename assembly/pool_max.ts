// The bodies of the max pooling kernels (pool.ts's maxPool2d and maxPool2dBackward, pool_infer.ts's
// maxPool2dInfer) over a range of output rows or of channels: the kernels run the whole range, the
// threaded build's parts (parts_pool.ts) one block each. Every output, index and gradient is computed
// alike whatever the range, so the bits do not depend on the blocks. Semantics: pool.ts.
import { gather4 } from './pool_gather';

/** The key of every NaN: above every number, so a NaN always wins (and a later NaN again). */
const NAN_KEY: i32 = i32.MAX_VALUE;

/**
 * An i32 that orders as the float does, so the scalar max runs on integer compares and selects
 * (with float compares and selects it measured 1.5× slower): the bits of v ≥ 0, the bits with the magnitude
 * flipped for v < 0; −0 is taken as +0 (they compare equal) and NaN as NAN_KEY.
 * see: M. Herf, "Radix Tricks", http://stereopsis.com/radix.html (FloatFlip: floats as ordered integers)
 */
// @ts-ignore: decorator
@inline function key(v: f32): i32 {
  let b = reinterpret<i32>(v + 0);
  return v != v ? NAN_KEY : b ^ ((b >> 31) & 0x7fffffff);
}

/** First ox whose window starts inside the row, and one past the last whose window (plus `extra` floats) ends inside. */
// @ts-ignore: decorator
@inline export function interior(w: i32, kw: i32, sw: i32, pw: i32, ow: i32, extra: i32): u64 {
  let lo = min((pw + sw - 1) / sw, ow);
  let last = w - kw - extra + pw;
  let hi = last < 0 ? lo : max(min(ow, last / sw + 1), lo);
  return (<u64>lo << 32) | <u64>hi;
}

/** Max of one window for channel `ch`; stores y and the index of the first maximum (or last NaN). */
// @ts-ignore: decorator
@inline function maxWindow(xi: usize, yo: usize, io: usize, w: i32, c: i32, y0: i32, y1: i32, x0: i32, x1: i32): void {
  let cb = <usize>c << 2, rb = <usize>w * cb;
  let best = key(-Infinity), bi = y0 * w + x0;
  let rp = xi + <usize>(y0 * w + x0) * cb;
  for (let iy = y0; iy < y1; iy++) {
    let p = rp, id = iy * w + x0;
    for (let ix = x0; ix < x1; ix++) {
      let k = key(load<f32>(p));
      let take = (k > best) | (k == NAN_KEY);
      bi = select<i32>(id, bi, take);
      best = select<i32>(k, best, take);
      p += cb;
      id++;
    }
    rp += rb;
  }
  // the value at the index, so that y is exactly x[argmax] (keys merge −0 and +0)
  store<f32>(yo, load<f32>(xi + <usize>bi * cb));
  store<i32>(io, bi);
}

/** maxPool2d (same arguments) for output rows oy0…oy1 − 1 of every image alone: each output is computed as the whole call computes it. */
export function maxPool2dRows(x: usize, y: usize, idx: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, oy0: i32, oy1: i32): void {
  let cb = <usize>c << 2, rb = <usize>w * cb;
  let range = interior(w, kw, sw, pw, ow, sw == 2 ? 1 : 0);
  let lo = <i32>(range >> 32), hi = <i32>range;
  for (let img = 0; img < n; img++) {
    let xi = x + <usize>img * <usize>h * rb;
    for (let oy = oy0; oy < oy1; oy++) {
      let y0 = oy * sh - ph, y1 = min(y0 + kh, h);
      y0 = max(y0, 0);
      let yo = y + (<usize>(img * oh + oy) * <usize>ow) * cb, io = idx + (yo - y);
      let ox = 0;
      if (ASC_FEATURE_SIMD) {
        if (c == 1) {
          // four outputs of the row at once, for windows inside the row
          for (; ox < lo; ox++) maxWindow(xi, yo + (<usize>ox << 2), io + (<usize>ox << 2), w, 1, y0, y1, max(ox * sw - pw, 0), min(ox * sw - pw + kw, w));
          let lanes = i32x4(0, sw, 2 * sw, 3 * sw);
          for (; ox + 4 <= hi; ox += 4) {
            let x0 = ox * sw - pw;
            let best = f32x4.splat(-Infinity), bi = i32x4.add(i32x4.splat(y0 * w + x0), lanes);
            for (let iy = y0; iy < y1; iy++) {
              let p = xi + (<usize>(iy * w + x0) << 2);
              for (let kj = 0; kj < kw; kj++) {
                let v = gather4(p + (<usize>kj << 2), sw);
                // strictly greater keeps the first maximum; v ≠ v takes a NaN
                let m = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
                best = v128.bitselect(v, best, m);
                bi = v128.bitselect(i32x4.add(i32x4.splat(iy * w + x0 + kj), lanes), bi, m);
              }
            }
            v128.store(yo + (<usize>ox << 2), best);
            v128.store(io + (<usize>ox << 2), bi);
          }
        }
      }
      for (; ox < ow; ox++) {
        let x0 = ox * sw - pw, x1 = min(x0 + kw, w);
        x0 = max(x0, 0);
        let yp = yo + <usize>ox * cb, ip = io + <usize>ox * cb;
        let ch = 0;
        if (ASC_FEATURE_SIMD) {
          for (; ch + 4 <= c; ch += 4) {
            let best = f32x4.splat(-Infinity), bi = i32x4.splat(y0 * w + x0);
            for (let iy = y0; iy < y1; iy++) {
              let p = xi + <usize>(iy * w + x0) * cb + (<usize>ch << 2);
              for (let ix = x0; ix < x1; ix++) {
                let v = v128.load(p);
                let m = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
                best = v128.bitselect(v, best, m);
                bi = v128.bitselect(i32x4.splat(iy * w + ix), bi, m);
                p += cb;
              }
            }
            v128.store(yp + (<usize>ch << 2), best);
            v128.store(ip + (<usize>ch << 2), bi);
          }
        }
        for (; ch < c; ch++) maxWindow(xi + (<usize>ch << 2), yp + (<usize>ch << 2), ip + (<usize>ch << 2), w, c, y0, y1, x0, x1);
      }
    }
  }
}

/**
 * maxPool2dBackward (same arguments) for channels c0…c1 − 1 alone: their dx zeroed, then each
 * element's gradients added in the whole call's order (outputs p ascending).
 */
export function maxPool2dBackwardChannels(dy: usize, idx: usize, dx: usize, n: i32, hw: i32, c: i32, ohw: i32, c0: i32, c1: i32): void {
  let cb = <usize>c << 2, span = <usize>(c1 - c0) << 2;
  let first = <usize>c0 << 2;
  for (let p = 0; p < n * hw; p++) memory.fill(dx + <usize>p * cb + first, 0, span);
  let g = dy, io = idx;
  for (let img = 0; img < n; img++) {
    let base = dx + <usize>img * <usize>hw * cb;
    for (let p = 0; p < ohw; p++) {
      for (let ch = c0; ch < c1; ch++) {
        let o = base + <usize>load<i32>(io + (<usize>ch << 2)) * cb + (<usize>ch << 2);
        store<f32>(o, load<f32>(o) + load<f32>(g + (<usize>ch << 2)));
      }
      g += cb;
      io += cb;
    }
  }
}

/** best, or v where v is greater or NaN (the first maximum stays; a NaN always wins). */
// @ts-ignore: decorator
@inline function take4(best: v128, v: v128): v128 {
  return v128.bitselect(v, best, v128.or(f32x4.gt(v, best), f32x4.ne(v, v)));
}

/** The maximum of one window (rows y0…y1, columns x0…x1, clipped) of channel data at xi with c channels. */
// @ts-ignore: decorator
@inline function maxOf(xi: usize, w: i32, c: i32, y0: i32, y1: i32, x0: i32, x1: i32): f32 {
  let cb = <usize>c << 2;
  let best: f32 = -Infinity;
  for (let iy = y0; iy < y1; iy++) {
    let p = xi + <usize>(iy * w + x0) * cb;
    for (let ix = x0; ix < x1; ix++) {
      let v = load<f32>(p);
      if (v > best || v != v) best = v;
      p += cb;
    }
  }
  return best;
}

/** maxPool2dInfer (same arguments) for output rows oy0…oy1 − 1 of every image alone: each output is computed as the whole call computes it. */
export function maxPool2dInferRows(x: usize, y: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, oy0: i32, oy1: i32): void {
  let cb = <usize>c << 2, rb = <usize>w * cb;
  // outputs whose window (and, at stride 2, the float gather4 reads past it) lies inside the row
  let lo = min((pw + sw - 1) / sw, ow);
  let last = w - kw - (sw == 2 ? 1 : 0) + pw;
  let hi = last < 0 ? lo : max(min(ow, last / sw + 1), lo);
  for (let img = 0; img < n; img++) {
    let xi = x + <usize>img * <usize>h * rb;
    for (let oy = oy0; oy < oy1; oy++) {
      let y0 = oy * sh - ph, y1 = min(y0 + kh, h);
      y0 = max(y0, 0);
      let yo = y + (<usize>(img * oh + oy) * <usize>ow) * cb;
      let ox = 0;
      if (ASC_FEATURE_SIMD) {
        // four outputs of the row at once
        if (c == 1) for (; ox < lo; ox++) store<f32>(yo + (<usize>ox << 2), maxOf(xi, w, 1, y0, y1, max(ox * sw - pw, 0), min(ox * sw - pw + kw, w)));
        if (c == 1) for (; ox + 4 <= hi; ox += 4) {
          let x0 = ox * sw - pw;
          let best = f32x4.splat(-Infinity);
          for (let iy = y0; iy < y1; iy++) {
            let p = xi + (<usize>(iy * w + x0) << 2);
            for (let kj = 0; kj < kw; kj++) best = take4(best, gather4(p + (<usize>kj << 2), sw));
          }
          v128.store(yo + (<usize>ox << 2), best);
        }
      }
      for (; ox < ow; ox++) {
        let x0 = ox * sw - pw, x1 = min(x0 + kw, w);
        x0 = max(x0, 0);
        let yp = yo + <usize>ox * cb;
        let ch = 0;
        if (ASC_FEATURE_SIMD) {
          for (; ch + 4 <= c; ch += 4) {
            let best = f32x4.splat(-Infinity);
            for (let iy = y0; iy < y1; iy++) {
              let p = xi + <usize>(iy * w + x0) * cb + (<usize>ch << 2);
              for (let ix = x0; ix < x1; ix++) {
                best = take4(best, v128.load(p));
                p += cb;
              }
            }
            v128.store(yp + (<usize>ch << 2), best);
          }
        }
        for (; ch < c; ch++) store<f32>(yp + (<usize>ch << 2), maxOf(xi + (<usize>ch << 2), w, c, y0, y1, x0, x1));
      }
    }
  }
}
