// 2-D max and average pooling over channels-last data x [n, h, w, c]. Channel-first data
// [N, C, H, W] is the same memory as channels-last with n = N·C and c = 1, so one kernel serves
// both layouts. The SIMD build handles four channels per instruction when c ≥ 4, and four
// neighbouring outputs of a row when c = 1. Semantics are PyTorch's (CPU): padding is excluded from
// a max and counted in an average (count_include_pad = True; the *Exclude kernels leave it out
// of the divisor, count_include_pad = False), and the argmax is the index iy·w + ix
// of the first maximum in window order, or of the last NaN, since NaN propagates.
// see: https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/native/cpu/MaxPoolKernel.cpp;
//      https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/native/cpu/AvgPoolKernel.cpp

// NOTE: a window is clipped to the image; PyTorch's check pad ≤ kernel/2 (done by the caller)
// keeps every clipped window non-empty.
import { gather4 } from './pool_gather';
import { interior, maxPool2dRows } from './pool_max';

/**
 * y [n, oh, ow, c] = max over each kh×kw window (stride sh×sw, padding ph×pw) of x [n, h, w, c];
 * idx (i32, same shape as y) = iy·w + ix of the chosen input.
 */
export function maxPool2d(x: usize, y: usize, idx: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  maxPool2dRows(x, y, idx, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, 0, oh);
}

/** dx [n, hw, c] = 0, then dx[img, idx, ch] += dy[img, p, ch] for every output p of the n·ohw·c. */
export function maxPool2dBackward(dy: usize, idx: usize, dx: usize, n: i32, hw: i32, c: i32, ohw: i32): void {
  memory.fill(dx, 0, (<usize>n * <usize>hw * <usize>c) << 2);
  let cb = <usize>c << 2;
  let g = dy, io = idx;
  for (let img = 0; img < n; img++) {
    let base = dx + <usize>img * <usize>hw * cb;
    for (let p = 0; p < ohw; p++) {
      for (let ch = 0; ch < c; ch++) {
        let o = base + <usize>load<i32>(io + (<usize>ch << 2)) * cb + (<usize>ch << 2);
        store<f32>(o, load<f32>(o) + load<f32>(g + (<usize>ch << 2)));
      }
      g += cb;
      io += cb;
    }
  }
}

/**
 * y [n, oh, ow, c] = (sum over each kh×kw window of x [n, h, w, c]) / (kh·kw): padding counts as
 * zeros (count_include_pad). The sum runs in window order in f32, as PyTorch's CPU kernel does.
 */
export function avgPool2d(x: usize, y: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  avgPool2dAny(x, y, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, false);
}

/** avgPool2d with the padding left out of the count (count_include_pad = False): each sum / the window's pixels inside x. */
export function avgPool2dExclude(x: usize, y: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  avgPool2dAny(x, y, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, true);
}

/** The window's divisor: kh·kw, or with `exclude` the pixels of the clipped window (PyTorch's divide_factor). */
// @ts-ignore: decorator
@inline function divisor(kh: i32, kw: i32, y0: i32, y1: i32, x0: i32, x1: i32, exclude: bool): f32 {
  return <f32>(exclude ? (y1 - y0) * (x1 - x0) : kh * kw);
}

function avgPool2dAny(x: usize, y: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, exclude: bool): void {
  let cb = <usize>c << 2, rb = <usize>w * cb;
  let range = interior(w, kw, sw, pw, ow, sw == 2 ? 1 : 0);
  let lo = <i32>(range >> 32), hi = <i32>range;
  for (let img = 0; img < n; img++) {
    let xi = x + <usize>img * <usize>h * rb;
    for (let oy = 0; oy < oh; oy++) {
      let y0 = oy * sh - ph, y1 = min(y0 + kh, h);
      y0 = max(y0, 0);
      let yo = y + (<usize>(img * oh + oy) * <usize>ow) * cb;
      let ox = 0;
      if (ASC_FEATURE_SIMD) {
        // interior windows lie inside the row: only their rows can be clipped
        let dv = f32x4.splat(divisor(kh, kw, y0, y1, 0, kw, exclude));
        if (c == 1) {
          // four outputs of the row at once once the windows are inside the row; each lane sums
          // in window order, as the scalar code does
          for (; ox < lo; ox++) {
            let x0 = ox * sw - pw, x1 = min(x0 + kw, w);
            x0 = max(x0, 0);
            avgWindow(xi, yo + (<usize>ox << 2), w, 1, y0, y1, x0, x1, divisor(kh, kw, y0, y1, x0, x1, exclude));
          }
          for (; ox + 4 <= hi; ox += 4) {
            let x0 = ox * sw - pw;
            let s = f32x4.splat(0);
            for (let iy = y0; iy < y1; iy++) {
              let p = xi + (<usize>(iy * w + x0) << 2);
              for (let kj = 0; kj < kw; kj++) s = f32x4.add(s, gather4(p + (<usize>kj << 2), sw));
            }
            v128.store(yo + (<usize>ox << 2), f32x4.div(s, dv));
          }
        }
        for (; ox < ow && c >= 4; ox++) {
          let x0 = ox * sw - pw, x1 = min(x0 + kw, w);
          x0 = max(x0, 0);
          let div = divisor(kh, kw, y0, y1, x0, x1, exclude);
          dv = f32x4.splat(div);
          let ch = 0;
          for (; ch + 4 <= c; ch += 4) {
            let s = f32x4.splat(0);
            for (let iy = y0; iy < y1; iy++) {
              let p = xi + <usize>(iy * w + x0) * cb + (<usize>ch << 2);
              for (let ix = x0; ix < x1; ix++) {
                s = f32x4.add(s, v128.load(p));
                p += cb;
              }
            }
            v128.store(yo + <usize>ox * cb + (<usize>ch << 2), f32x4.div(s, dv));
          }
          for (; ch < c; ch++) avgWindow(xi + (<usize>ch << 2), yo + <usize>ox * cb + (<usize>ch << 2), w, c, y0, y1, x0, x1, div);
        }
      }
      for (; ox < ow; ox++) {
        let x0 = ox * sw - pw, x1 = min(x0 + kw, w);
        x0 = max(x0, 0);
        let div = divisor(kh, kw, y0, y1, x0, x1, exclude);
        for (let ch = 0; ch < c; ch++) avgWindow(xi + (<usize>ch << 2), yo + <usize>ox * cb + (<usize>ch << 2), w, c, y0, y1, x0, x1, div);
      }
    }
  }
}

/** Mean of one window for one channel (sum in window order, then one division). */
// @ts-ignore: decorator
@inline function avgWindow(xi: usize, yo: usize, w: i32, c: i32, y0: i32, y1: i32, x0: i32, x1: i32, div: f32): void {
  let cb = <usize>c << 2, rb = <usize>w * cb;
  let s: f32 = 0;
  let rp = xi + <usize>(y0 * w + x0) * cb;
  for (let iy = y0; iy < y1; iy++) {
    let p = rp;
    for (let ix = x0; ix < x1; ix++) {
      s += load<f32>(p);
      p += cb;
    }
    rp += rb;
  }
  store<f32>(yo, s / div);
}

/** dx [n, h, w, c] = 0, then each dy[img, oy, ox, ch] / (kh·kw) is added over its window. */
export function avgPool2dBackward(dy: usize, dx: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  avgPool2dBackwardAny(dy, dx, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, false);
}

/** avgPool2dBackward of avgPool2dExclude: each dy / the window's pixels inside x. */
export function avgPool2dExcludeBackward(dy: usize, dx: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  avgPool2dBackwardAny(dy, dx, n, h, w, c, kh, kw, sh, sw, ph, pw, oh, ow, true);
}

function avgPool2dBackwardAny(dy: usize, dx: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, exclude: bool): void {
  memory.fill(dx, 0, (<usize>n * <usize>h * <usize>w * <usize>c) << 2);
  let cb = <usize>c << 2, rb = <usize>w * cb;
  let go = dy;
  for (let img = 0; img < n; img++) {
    let xi = dx + <usize>img * <usize>h * rb;
    for (let oy = 0; oy < oh; oy++) {
      let y0 = oy * sh - ph, y1 = min(y0 + kh, h);
      y0 = max(y0, 0);
      for (let ox = 0; ox < ow; ox++) {
        let x0 = ox * sw - pw, x1 = min(x0 + kw, w);
        x0 = max(x0, 0);
        let div = divisor(kh, kw, y0, y1, x0, x1, exclude);
        let ch = 0;
        if (ASC_FEATURE_SIMD) {
          let dv = f32x4.splat(div);
          for (; ch + 4 <= c; ch += 4) {
            let g = f32x4.div(v128.load(go + (<usize>ch << 2)), dv);
            for (let iy = y0; iy < y1; iy++) {
              let p = xi + <usize>(iy * w + x0) * cb + (<usize>ch << 2);
              for (let ix = x0; ix < x1; ix++) {
                v128.store(p, f32x4.add(v128.load(p), g));
                p += cb;
              }
            }
          }
        }
        for (; ch < c; ch++) {
          let g = load<f32>(go + (<usize>ch << 2)) / div;
          for (let iy = y0; iy < y1; iy++) {
            let p = xi + <usize>(iy * w + x0) * cb + (<usize>ch << 2);
            for (let ix = x0; ix < x1; ix++) {
              store<f32>(p, load<f32>(p) + g);
              p += cb;
            }
          }
        }
        go += cb;
      }
    }
  }
}
