// Convolution as im2col + GEMM: im2col copies every receptive field of the input into a column
// matrix so that the convolution becomes one matrix product; col2im is its adjoint (the backward
// of im2col), which adds each column back onto the input positions it came from, so overlapping
// windows accumulate. Zero padding is written as zeros, never read from outside the image.
// see: Chellapilla, Puri & Simard, "High Performance Convolutional Neural Networks for Document
//      Processing", 2006, https://inria.hal.science/inria-00112631; Caffe's im2col_cpu,
//      https://github.com/BVLC/caffe/blob/master/src/caffe/util/im2col.cpp
//
// NOTE: every output element of col2im receives its additions in the same order in the SIMD and
// the scalar builds (and in src/js/conv.ts), so the three give bit-identical dx for the same dcols.
import { biasGradChannels } from './conv_bias';

/** Below this many floats a copy is a short loop; above it, memory.copy (one bulk instruction). */
const BULK: i32 = 32;

/** Copies n floats from src to dst (regions do not overlap). */
// @ts-ignore: decorator
@inline function copyF32(dst: usize, src: usize, n: i32): void {
  if (n >= BULK) {
    memory.copy(dst, src, <usize>n << 2);
    return;
  }
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}

/** dst[i] += src[i] for n floats. */
// @ts-ignore: decorator
@inline function addF32(dst: usize, src: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= n; i += 4) {
      let o = <usize>i << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
  }
  for (; i < n; i++) {
    let o = <usize>i << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
  }
}

/** First output index o with o·s + off ≥ 0 (off = kernel offset − padding). */
// @ts-ignore: decorator
@inline function firstInside(off: i32, s: i32): i32 {
  return off >= 0 ? 0 : (s - 1 - off) / s;
}

/** One past the last output index o with o·s + off ≤ size − 1, at most `out`. */
// @ts-ignore: decorator
@inline function endInside(off: i32, s: i32, size: i32, out: i32): i32 {
  let last = size - 1 - off;
  return last < 0 ? 0 : min(out, last / s + 1);
}

/**
 * One image: x [c, h, w] → cols [c·kh·kw, oh·ow], row (ci, ki, kj), column (oy, ox), value
 * x[ci, oy·sh − ph + ki, ox·sw − pw + kj] or 0 in the padding.
 */
export function im2colNCHW(x: usize, cols: usize, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  let plane = <usize>(oh * ow) << 2;
  let rowBytes = <usize>ow << 2;
  let dst = cols;
  for (let ci = 0; ci < c; ci++) {
    let xc = x + ((<usize>ci * <usize>h * <usize>w) << 2);
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        let off = kj - pw;
        let lo = min(firstInside(off, sw), ow), hi = max(endInside(off, sw, w, ow), lo);
        for (let oy = 0; oy < oh; oy++) {
          let d = dst + <usize>oy * rowBytes;
          let iy = oy * sh - ph + ki;
          if (iy < 0 || iy >= h) {
            memory.fill(d, 0, rowBytes);
            continue;
          }
          if (lo > 0) memory.fill(d, 0, <usize>lo << 2);
          if (hi < ow) memory.fill(d + (<usize>hi << 2), 0, <usize>(ow - hi) << 2);
          let s = xc + ((<usize>iy * <usize>w + <usize>(lo * sw + off)) << 2);
          let dd = d + (<usize>lo << 2);
          let count = hi - lo;
          if (sw == 1) {
            copyF32(dd, s, count);
            continue;
          }
          let j = 0;
          if (ASC_FEATURE_SIMD) {
            if (sw == 2) {
              // the even lanes of 8 consecutive inputs; the 8th is read only while it is in the row
              for (; j + 5 <= count; j += 4) {
                let p = s + (<usize>(2 * j) << 2);
                v128.store(dd + (<usize>j << 2), i32x4.shuffle(v128.load(p), v128.load(p, 16), 0, 2, 4, 6));
              }
            }
          }
          let step = <usize>sw << 2;
          for (; j < count; j++) store<f32>(dd + (<usize>j << 2), load<f32>(s + <usize>j * step));
        }
        dst += plane;
      }
    }
  }
}

/**
 * One image: dx [c, h, w] = col2im(cols [c·kh·kw, oh·ow]), the adjoint of im2colNCHW: dx is
 * overwritten with the sum, over every window that covers a position, of its column value.
 */
export function col2imNCHW(cols: usize, dx: usize, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  memory.fill(dx, 0, (<usize>c * <usize>h * <usize>w) << 2);
  let plane = <usize>(oh * ow) << 2;
  let src = cols;
  for (let ci = 0; ci < c; ci++) {
    let xc = dx + ((<usize>ci * <usize>h * <usize>w) << 2);
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        let off = kj - pw;
        let lo = min(firstInside(off, sw), ow), hi = max(endInside(off, sw, w, ow), lo);
        let count = hi - lo;
        for (let oy = 0; oy < oh; oy++) {
          let iy = oy * sh - ph + ki;
          if (iy < 0 || iy >= h) continue;
          let s = src + ((<usize>oy * <usize>ow + <usize>lo) << 2);
          let d = xc + ((<usize>iy * <usize>w + <usize>(lo * sw + off)) << 2);
          if (sw == 1) {
            addF32(d, s, count);
            continue;
          }
          let j = 0;
          if (ASC_FEATURE_SIMD) {
            if (sw == 2) {
              // 4 values onto the even lanes of 8 consecutive outputs (the odd lanes get + 0)
              let z = f32x4.splat(0);
              for (; j + 5 <= count; j += 4) {
                let p = d + (<usize>(2 * j) << 2);
                let v = v128.load(s + (<usize>j << 2));
                v128.store(p, f32x4.add(v128.load(p), i32x4.shuffle(v, z, 0, 4, 1, 4)));
                v128.store(p, f32x4.add(v128.load(p, 16), i32x4.shuffle(v, z, 2, 4, 3, 4)), 16);
              }
            }
          }
          let step = <usize>sw << 2;
          for (; j < count; j++) {
            let p = d + <usize>j * step;
            store<f32>(p, load<f32>(p) + load<f32>(s + (<usize>j << 2)));
          }
        }
        src += plane;
      }
    }
  }
}

/**
 * n images: x [n, h, w, c] → cols [n·oh·ow, kh·kw·c], row (img, oy, ox), column (ki, kj, ci). A
 * window row inside the image is kw·c contiguous floats of x, copied at once.
 */
export function im2colNHWC(x: usize, cols: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  let kwc = kw * c;
  let segBytes = <usize>kwc << 2, cBytes = <usize>c << 2, rowBytes = <usize>kh * segBytes;
  // outputs ox in [lo, hi) have their whole window row inside the image
  let lo = min(firstInside(-pw, sw), ow), hi = max(endInside(kw - 1 - pw, sw, w, ow), lo);
  for (let img = 0; img < n; img++) {
    let xi = x + ((<usize>img * <usize>h * <usize>w * <usize>c) << 2);
    for (let oy = 0; oy < oh; oy++) {
      let row = cols + <usize>(img * oh + oy) * <usize>ow * rowBytes;
      // one window row (ki) at a time along the output row: the row test is done once per ki
      for (let ki = 0; ki < kh; ki++) {
        let d = row + <usize>ki * segBytes;
        let iy = oy * sh - ph + ki;
        if (iy < 0 || iy >= h) {
          for (let ox = 0; ox < ow; ox++) memory.fill(d + <usize>ox * rowBytes, 0, segBytes);
          continue;
        }
        let src = xi + <usize>iy * <usize>w * cBytes;
        for (let ox = 0; ox < lo; ox++) copyEdge(d + <usize>ox * rowBytes, src, ox * sw - pw, w, c, kw);
        for (let ox = lo; ox < hi; ox++) copyF32(d + <usize>ox * rowBytes, src + <usize>(ox * sw - pw) * cBytes, kwc);
        for (let ox = hi; ox < ow; ox++) copyEdge(d + <usize>ox * rowBytes, src, ox * sw - pw, w, c, kw);
      }
    }
  }
}

/** A window row that crosses the image edge: kw pixels of c floats from row src, from column ix0, zeros outside. */
// @ts-ignore: decorator
@inline function copyEdge(d: usize, src: usize, ix0: i32, w: i32, c: i32, kw: i32): void {
  let cBytes = <usize>c << 2;
  for (let kj = 0; kj < kw; kj++) {
    let ix = ix0 + kj;
    if (ix < 0 || ix >= w) memory.fill(d + <usize>kj * cBytes, 0, cBytes);
    else copyF32(d + <usize>kj * cBytes, src + <usize>ix * cBytes, c);
  }
}

/**
 * n images: dx [n, h, w, c] = col2im(cols [n·oh·ow, kh·kw·c]), the adjoint of im2colNHWC (dx is
 * overwritten; overlapping windows add up).
 */
export function col2imNHWC(cols: usize, dx: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  memory.fill(dx, 0, (<usize>n * <usize>h * <usize>w * <usize>c) << 2);
  let kwc = kw * c;
  let segBytes = <usize>kwc << 2, cBytes = <usize>c << 2;
  let s = cols;
  for (let img = 0; img < n; img++) {
    let xi = dx + ((<usize>img * <usize>h * <usize>w * <usize>c) << 2);
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        let ix0 = ox * sw - pw;
        let inside = ix0 >= 0 && ix0 + kw <= w;
        for (let ki = 0; ki < kh; ki++) {
          let iy = oy * sh - ph + ki;
          if (iy >= 0 && iy < h) {
            if (inside) {
              addF32(xi + ((<usize>iy * <usize>w + <usize>ix0) * cBytes), s, kwc);
            } else {
              for (let kj = 0; kj < kw; kj++) {
                let ix = ix0 + kj;
                if (ix >= 0 && ix < w) addF32(xi + ((<usize>iy * <usize>w + <usize>ix) * cBytes), s + <usize>kj * cBytes, c);
              }
            }
          }
          s += segBytes;
        }
      }
    }
  }
}

/** y[i, ch, :] += bias[ch] for y [n, c, l] (the bias of a channel-first convolution). */
export function convBiasNCHW(y: usize, n: i32, c: i32, l: i32, bias: usize): void {
  let p = y;
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      let b = load<f32>(bias + (<usize>ch << 2));
      let j = 0;
      if (ASC_FEATURE_SIMD) {
        let bv = f32x4.splat(b);
        for (; j + 4 <= l; j += 4) {
          let o = p + (<usize>j << 2);
          v128.store(o, f32x4.add(v128.load(o), bv));
        }
      }
      for (; j < l; j++) {
        let o = p + (<usize>j << 2);
        store<f32>(o, load<f32>(o) + b);
      }
      p += <usize>l << 2;
    }
  }
}

/**
 * db[ch] += Σ over i and the l positions of dy[i, ch, :] for dy [n, c, l]: each row is summed in
 * f32 (four lanes in the SIMD build) and the rows in f64, so the error does not grow with n.
 */
export function convBiasGradNCHW(dy: usize, n: i32, c: i32, l: i32, db: usize): void {
  biasGradChannels(dy, n, c, l, db, 0, c);
}

/**
 * One image: x [c, h, w] → cols [c·kh·kw, oh·ow] with taps dh, dw pixels apart (dilation): row
 * (ci, ki, kj), column (oy, ox), value x[ci, oy·sh − ph + ki·dh, ox·sw − pw + kj·dw] or 0 outside.
 * see: Yu & Koltun 2016, https://arxiv.org/abs/1511.07122 (dilated convolutions)
 */
export function im2colDilatedNCHW(x: usize, cols: usize, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32): void {
  let dst = cols;
  for (let ci = 0; ci < c; ci++) {
    let xc = x + ((<usize>ci * <usize>h * <usize>w) << 2);
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        let off = kj * dw - pw;
        let lo = min(firstInside(off, sw), ow), hi = max(endInside(off, sw, w, ow), lo);
        for (let oy = 0; oy < oh; oy++) {
          let d = dst + (<usize>(oy * ow) << 2);
          let iy = oy * sh - ph + ki * dh;
          if (iy < 0 || iy >= h) {
            memory.fill(d, 0, <usize>ow << 2);
            continue;
          }
          memory.fill(d, 0, <usize>lo << 2);
          let s = xc + ((<usize>iy * <usize>w + <usize>(lo * sw + off)) << 2);
          if (sw == 1) copyF32(d + (<usize>lo << 2), s, hi - lo);
          else for (let ox = lo; ox < hi; ox++) store<f32>(d + (<usize>ox << 2), load<f32>(s + (<usize>((ox - lo) * sw) << 2)));
          memory.fill(d + (<usize>hi << 2), 0, <usize>(ow - hi) << 2);
        }
        dst += <usize>(oh * ow) << 2;
      }
    }
  }
}

/**
 * One image: dx [c, h, w] (overwritten) = the adjoint of im2colDilatedNCHW applied to cols, added
 * in (ci, ki, kj, oy, ox) order (src/js/conv.ts adds in the same order: the same bits).
 */
export function col2imDilatedNCHW(cols: usize, dx: usize, c: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32): void {
  memory.fill(dx, 0, (<usize>c * <usize>h * <usize>w) << 2);
  let src = cols;
  for (let ci = 0; ci < c; ci++) {
    let xc = dx + ((<usize>ci * <usize>h * <usize>w) << 2);
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        let off = kj * dw - pw;
        let lo = min(firstInside(off, sw), ow), hi = max(endInside(off, sw, w, ow), lo);
        for (let oy = 0; oy < oh; oy++) {
          let iy = oy * sh - ph + ki * dh;
          if (iy < 0 || iy >= h) continue;
          let s = src + ((<usize>oy * <usize>ow) << 2);
          let d = xc + ((<usize>iy * <usize>w + <usize>(lo * sw + off)) << 2);
          if (sw == 1) {
            addF32(d, s + (<usize>lo << 2), hi - lo);
            continue;
          }
          for (let ox = lo; ox < hi; ox++) {
            let p = d + (<usize>((ox - lo) * sw) << 2);
            store<f32>(p, load<f32>(p) + load<f32>(s + (<usize>ox << 2)));
          }
        }
        src += <usize>(oh * ow) << 2;
      }
    }
  }
}
