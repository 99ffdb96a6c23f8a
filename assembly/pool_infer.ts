// Inference max pooling: pool.ts's maxPool2d without the argmax, which only a backward reads, so
// an inference run writes one output per window and allocates no index buffer. The same layouts
// (x [n, h, w, c]; NCHW as n·c images of one channel) and the same choice: the first maximum in
// window order (−0 and +0 compare equal), or the last NaN, so y equals maxPool2d's bit for bit.
// see: https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/native/cpu/MaxPoolKernel.cpp
import { gather4 } from './pool_gather';

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

/** y [n, oh, ow, c] = max over each kh×kw window (stride sh×sw, padding ph×pw) of x [n, h, w, c]; as maxPool2d, without the argmax. */
export function maxPool2dInfer(x: usize, y: usize, n: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32): void {
  let cb = <usize>c << 2, rb = <usize>w * cb;
  // outputs whose window (and, at stride 2, the float gather4 reads past it) lies inside the row
  let lo = min((pw + sw - 1) / sw, ow);
  let last = w - kw - (sw == 2 ? 1 : 0) + pw;
  let hi = last < 0 ? lo : max(min(ow, last / sw + 1), lo);
  for (let img = 0; img < n; img++) {
    let xi = x + <usize>img * <usize>h * rb;
    for (let oy = 0; oy < oh; oy++) {
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
