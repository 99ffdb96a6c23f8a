// The bodies of depthwise.ts's kernels, which the threaded build's parts (parts_depthwise.ts) also
// run: the forward and the input gradient take the scratch of gathered filter vectors as an argument
// (the kernels pass their static one; each part one of its own, since in the shared memory a static
// one is shared by every thread), and the weight gradient a range of output channels.

/** Most taps whose gathered filter vectors fit the scratch (a 7×9 kernel); larger ones run scalar. */
export const MAX_TAPS: i32 = 64;
/** Bytes of a scratch: one f32x4 per tap. */
export const TAPS_BYTES: i32 = MAX_TAPS * 16;
/** The single-threaded kernels' scratch for one block of four channels' filters (static: kernels allocate nothing). */
export const TAPS: usize = memory.data(TAPS_BYTES, 16);

/** Channel stride of a tensor with `c` channels of h×w pixels in the layout. */
// @ts-ignore: decorator
@inline export function chanStride(hw: i32, nhwc: i32): i32 {
  return nhwc ? 1 : hw;
}

/** Pixel stride of a tensor with `c` channels in the layout. */
// @ts-ignore: decorator
@inline export function pixStride(c: i32, nhwc: i32): i32 {
  return nhwc ? c : 1;
}

/** tp[t] = the filters of channels o0 … o0 + 3 at tap t (w is [channels, kk]). */
// @ts-ignore: decorator
@inline function gatherTaps(tp: usize, wt: usize, o0: i32, kk: i32): void {
  let stride = <usize>kk << 2;
  for (let t = 0; t < kk; t++) {
    let at = wt + (<usize>(o0 * kk + t) << 2);
    let v = f32x4.splat(load<f32>(at));
    v = f32x4.replace_lane(v, 1, load<f32>(at + stride));
    v = f32x4.replace_lane(v, 2, load<f32>(at + 2 * stride));
    v = f32x4.replace_lane(v, 3, load<f32>(at + 3 * stride));
    v128.store(tp + (<usize>t << 4), v);
  }
}

/** One output: Σ over the taps inside the image, in (i, j) order, of x·w (+ bias when hasBias). */
// @ts-ignore: decorator
@inline function tapSum(
  xo: usize, wo: usize, oy: i32, ox: i32, h: i32, w: i32, xp: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, hasBias: bool, bias: f32,
): f32 {
  let s: f32 = 0;
  for (let i = 0; i < kh; i++) {
    let iy = oy * sh - ph + i * dh;
    if (iy < 0 || iy >= h) continue;
    for (let j = 0; j < kw; j++) {
      let ix = ox * sw - pw + j * dw;
      if (ix < 0 || ix >= w) continue;
      s += load<f32>(xo + (<usize>((iy * w + ix) * xp) << 2)) * load<f32>(wo + (<usize>(i * kw + j) << 2));
    }
  }
  return hasBias ? s + bias : s;
}

/**
 * y = x ⋆ w (+ b) over n images for output channels oFrom…oTo − 1 (tp: TAPS_BYTES of scratch), x [n, c, h, w] or [n, h, w, c] (nhwc = 1), w [c·mult, kh, kw],
 * b [c·mult] or 0 for none; taps (i, j) read x at (oy·sh − ph + i·dh, ox·sw − pw + j·dw).
 * NCHW with stride 1 or 2 along x computes four outputs of a row at once where every tap is inside; NHWC
 * with one filter per channel computes four channels of a pixel at once (the same products summed in
 * the same order per lane as the scalar code, so every build gives the same bits).
 */
export function forwardTaps(
  tp: usize, x: usize, wt: usize, b: usize, y: usize, n: i32, c: i32, h: i32, w: i32, mult: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, nhwc: i32,
  oFrom: i32, oTo: i32,
): void {
  let oc = c * mult;
  let hasBias = b != 0;
  if (nhwc) {
    let kk = kh * kw,
      o0 = oFrom;
    if (ASC_FEATURE_SIMD && mult == 1 && kk <= MAX_TAPS) {
      // four channels at a time: their filters gathered as one vector per tap, the pixels' channels
      // are contiguous in x and y
      for (; o0 + 4 <= oTo; o0 += 4) {
        gatherTaps(tp, wt, o0, kk);
        let vb = hasBias ? v128.load(b + (<usize>o0 << 2)) : f32x4.splat(0);
        for (let q = 0; q < n; q++) {
          let xq = x + (<usize>(q * c * h * w + o0) << 2),
            yq = y + (<usize>(q * oc * oh * ow + o0) << 2);
          for (let oy = 0; oy < oh; oy++) {
            for (let ox = 0; ox < ow; ox++) {
              let acc = f32x4.splat(0);
              for (let i = 0; i < kh; i++) {
                let iy = oy * sh - ph + i * dh;
                if (iy < 0 || iy >= h) continue;
                for (let j = 0; j < kw; j++) {
                  let ix = ox * sw - pw + j * dw;
                  if (ix < 0 || ix >= w) continue;
                  let xv = v128.load(xq + (<usize>((iy * w + ix) * c) << 2));
                  acc = f32x4.add(acc, f32x4.mul(xv, v128.load(tp + (<usize>(i * kw + j) << 4))));
                }
              }
              v128.store(yq + (<usize>((oy * ow + ox) * oc) << 2), hasBias ? f32x4.add(acc, vb) : acc);
            }
          }
        }
      }
    }
    if (o0 == oTo) return;
    for (let q = 0; q < n; q++) {
      let xq = x + (<usize>(q * c * h * w) << 2),
        yq = y + (<usize>(q * oc * oh * ow) << 2);
      for (let oy = 0; oy < oh; oy++) {
        for (let ox = 0; ox < ow; ox++) {
          let yp = yq + (<usize>((oy * ow + ox) * oc) << 2);
          for (let o = o0; o < oTo; o++) {
            let bias: f32 = hasBias ? load<f32>(b + (<usize>o << 2)) : 0;
            let xo = xq + (<usize>(o / mult) << 2),
              wo = wt + (<usize>(o * kh * kw) << 2);
            store<f32>(yp + (<usize>o << 2), tapSum(xo, wo, oy, ox, h, w, c, kh, kw, sh, sw, ph, pw, dh, dw, hasBias, bias));
          }
        }
      }
    }
    return;
  }
  // the outputs whose taps all lie inside the row: ox·sw − pw ≥ 0 and ox·sw − pw + (kw − 1)·dw < w
  let ox0 = pw > 0 ? (pw + sw - 1) / sw : 0;
  let lastIn = w - 1 - (kw - 1) * dw + pw;
  let ox1 = lastIn < 0 ? 0 : min(ow, lastIn / sw + 1);
  if (ox0 > ox1) ox0 = ox1;
  for (let q = 0; q < n; q++) {
    for (let o = oFrom; o < oTo; o++) {
      let xo = x + (<usize>((q * c + o / mult) * h * w) << 2),
        wo = wt + (<usize>(o * kh * kw) << 2),
        yo = y + (<usize>((q * oc + o) * oh * ow) << 2);
      let bias: f32 = hasBias ? load<f32>(b + (<usize>o << 2)) : 0;
      for (let oy = 0; oy < oh; oy++) {
        let yr = yo + (<usize>(oy * ow) << 2);
        let ox = 0;
        for (; ox < ox0; ox++) store<f32>(yr + (<usize>ox << 2), tapSum(xo, wo, oy, ox, h, w, 1, kh, kw, sh, sw, ph, pw, dh, dw, hasBias, bias));
        if (ASC_FEATURE_SIMD && sw == 1) {
          let vb = f32x4.splat(bias);
          for (; ox + 4 <= ox1; ox += 4) {
            let acc = f32x4.splat(0);
            for (let i = 0; i < kh; i++) {
              let iy = oy * sh - ph + i * dh;
              if (iy < 0 || iy >= h) continue;
              let xr = xo + (<usize>(iy * w + ox - pw) << 2);
              for (let j = 0; j < kw; j++) {
                let wv = f32x4.splat(load<f32>(wo + (<usize>(i * kw + j) << 2)));
                acc = f32x4.add(acc, f32x4.mul(v128.load(xr + (<usize>(j * dw) << 2)), wv));
              }
            }
            v128.store(yr + (<usize>ox << 2), hasBias ? f32x4.add(acc, vb) : acc);
          }
        } else if (ASC_FEATURE_SIMD && sw == 2) {
          // the even lanes of eight inputs from 2·ox − pw + j·dw; the eighth read must stay in the row
          let vb = f32x4.splat(bias);
          for (; ox + 4 <= ox1 && 2 * ox - pw + (kw - 1) * dw + 8 <= w; ox += 4) {
            let acc = f32x4.splat(0);
            for (let i = 0; i < kh; i++) {
              let iy = oy * sh - ph + i * dh;
              if (iy < 0 || iy >= h) continue;
              let xr = xo + (<usize>(iy * w + 2 * ox - pw) << 2);
              for (let j = 0; j < kw; j++) {
                let wv = f32x4.splat(load<f32>(wo + (<usize>(i * kw + j) << 2)));
                let at = xr + (<usize>(j * dw) << 2);
                let xv = v128.shuffle<f32>(v128.load(at), v128.load(at + 16), 0, 2, 4, 6);
                acc = f32x4.add(acc, f32x4.mul(xv, wv));
              }
            }
            v128.store(yr + (<usize>ox << 2), hasBias ? f32x4.add(acc, vb) : acc);
          }
        }
        for (; ox < ow; ox++) store<f32>(yr + (<usize>ox << 2), tapSum(xo, wo, oy, ox, h, w, 1, kh, kw, sh, sw, ph, pw, dh, dw, hasBias, bias));
      }
    }
  }
}

/** One input element's gradient: Σ over (m, i, j) of the taps that reached it, of dy·w. */
// @ts-ignore: decorator
@inline function gatherSum(
  dyq: usize, wt: usize, ci: i32, iy: i32, ix: i32, mult: i32, yc: i32, yp: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32,
): f32 {
  let s: f32 = 0;
  for (let m = 0; m < mult; m++) {
    let o = ci * mult + m;
    let wo = wt + (<usize>(o * kh * kw) << 2),
      dyo = dyq + (<usize>(o * yc) << 2);
    for (let i = 0; i < kh; i++) {
      let ty = iy + ph - i * dh;
      if (ty < 0 || ty % sh != 0 || ty / sh >= oh) continue;
      let oy = ty / sh;
      for (let j = 0; j < kw; j++) {
        let tx = ix + pw - j * dw;
        if (tx < 0 || tx % sw != 0 || tx / sw >= ow) continue;
        s += load<f32>(dyo + (<usize>((oy * ow + tx / sw) * yp) << 2)) * load<f32>(wo + (<usize>(i * kw + j) << 2));
      }
    }
  }
  return s;
}

/**
 * dx (overwritten) of input channels cFrom…cTo − 1 = the adjoint of depthwiseForward applied to dy (tp: TAPS_BYTES of scratch), gathered per input element over
 * (m, i, j), so each element's sum has one order whatever the layout. As in the forward, NCHW at
 * stride 1 computes four inputs of a row at once where every tap lands inside dy, and NHWC with one
 * filter per channel four channels of a pixel, in the scalar code's order per lane.
 */
export function inputGradTaps(
  tp: usize, dy: usize, wt: usize, dx: usize, n: i32, c: i32, h: i32, w: i32, mult: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, nhwc: i32,
  cFrom: i32, cTo: i32,
): void {
  let oc = c * mult,
    kk = kh * kw,
    xc = chanStride(h * w, nhwc), xp = pixStride(c, nhwc),
    yc = chanStride(oh * ow, nhwc), yp = pixStride(oc, nhwc);
  let c0 = cFrom;
  if (ASC_FEATURE_SIMD && nhwc && mult == 1 && kk <= MAX_TAPS) {
    for (; c0 + 4 <= cTo; c0 += 4) {
      gatherTaps(tp, wt, c0, kk);
      for (let q = 0; q < n; q++) {
        let dxq = dx + (<usize>(q * c * h * w + c0) << 2),
          dyq = dy + (<usize>(q * oc * oh * ow + c0) << 2);
        for (let iy = 0; iy < h; iy++) {
          for (let ix = 0; ix < w; ix++) {
            let acc = f32x4.splat(0);
            for (let i = 0; i < kh; i++) {
              let ty = iy + ph - i * dh;
              if (ty < 0 || ty % sh != 0 || ty / sh >= oh) continue;
              let oy = ty / sh;
              for (let j = 0; j < kw; j++) {
                let tx = ix + pw - j * dw;
                if (tx < 0 || tx % sw != 0 || tx / sw >= ow) continue;
                let g = v128.load(dyq + (<usize>((oy * ow + tx / sw) * oc) << 2));
                acc = f32x4.add(acc, f32x4.mul(g, v128.load(tp + (<usize>(i * kw + j) << 4))));
              }
            }
            v128.store(dxq + (<usize>((iy * w + ix) * c) << 2), acc);
          }
        }
      }
    }
  }
  // NCHW at stride 1: the inputs whose taps all land in the dy row, tx = ix + pw − j·dw ∈ [0, ow)
  let ix0 = max(0, (kw - 1) * dw - pw),
    ix1 = min(w, ow - pw);
  let wide = ASC_FEATURE_SIMD && !nhwc && sh == 1 && sw == 1 && ix0 < ix1;
  for (let q = 0; q < n; q++) {
    let dxq = dx + (<usize>(q * c * h * w) << 2),
      dyq = dy + (<usize>(q * oc * oh * ow) << 2);
    for (let ci = c0; ci < cTo; ci++) {
      for (let iy = 0; iy < h; iy++) {
        let row = dxq + (<usize>(ci * xc + iy * w * xp) << 2);
        let ix = 0;
        if (ASC_FEATURE_SIMD && wide) {
          for (; ix < ix0; ix++) store<f32>(row + (<usize>ix << 2), gatherSum(dyq, wt, ci, iy, ix, mult, yc, yp, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow));
          for (; ix + 4 <= ix1; ix += 4) {
            let acc = f32x4.splat(0);
            for (let m = 0; m < mult; m++) {
              let o = ci * mult + m;
              let wo = wt + (<usize>(o * kk) << 2),
                dyo = dyq + (<usize>(o * yc) << 2);
              for (let i = 0; i < kh; i++) {
                let ty = iy + ph - i * dh;
                if (ty < 0 || ty >= oh) continue;
                let dr = dyo + (<usize>(ty * ow + ix + pw) << 2);
                for (let j = 0; j < kw; j++) {
                  let wv = f32x4.splat(load<f32>(wo + (<usize>(i * kw + j) << 2)));
                  acc = f32x4.add(acc, f32x4.mul(v128.load(dr - (<usize>(j * dw) << 2)), wv));
                }
              }
            }
            v128.store(row + (<usize>ix << 2), acc);
          }
        }
        for (; ix < w; ix++)
          store<f32>(row + (<usize>(ix * xp) << 2), gatherSum(dyq, wt, ci, iy, ix, mult, yc, yp, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow));
      }
    }
  }
}

/** First output index o ≥ 0 with o·s + off ≥ 0 (off = tap offset − padding). */
// @ts-ignore: decorator
@inline function lo(off: i32, s: i32): i32 {
  return off >= 0 ? 0 : (s - 1 - off) / s;
}

/** One past the last output index o < out with o·s + off ≤ size − 1. */
// @ts-ignore: decorator
@inline function hi(off: i32, s: i32, size: i32, out: i32): i32 {
  let last = size - 1 - off;
  return last < 0 ? 0 : min(out, last / s + 1);
}

/**
 * depthwiseBackwardWeight (same arguments) for output channels oFrom…oTo − 1 alone: each channel's
 * sums read only that channel, in the same order whatever the range.
 */
export function weightGradChannels(
  x: usize, dy: usize, dwt: usize, db: usize, n: i32, c: i32, h: i32, w: i32, mult: i32,
  kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh: i32, ow: i32, nhwc: i32,
  oFrom: i32, oTo: i32,
): void {
  let oc = c * mult,
    kk = kh * kw,
    xc = chanStride(h * w, nhwc), xp = pixStride(c, nhwc),
    yc = chanStride(oh * ow, nhwc), yp = pixStride(oc, nhwc);
  let o0 = oFrom;
  if (ASC_FEATURE_SIMD && nhwc && mult == 1) {
    for (; o0 + 4 <= oTo; o0 += 4) {
      for (let i = 0; i < kh; i++) {
        let y0 = lo(i * dh - ph, sh),
          y1 = hi(i * dh - ph, sh, h, oh);
        for (let j = 0; j < kw; j++) {
          let x0 = lo(j * dw - pw, sw),
            x1 = hi(j * dw - pw, sw, w, ow);
          let acc = f32x4.splat(0);
          for (let q = 0; q < n; q++) {
            let xq = x + (<usize>(q * c * h * w + o0) << 2),
              dyq = dy + (<usize>(q * oc * oh * ow + o0) << 2);
            for (let oy = y0; oy < y1; oy++) {
              let iy = oy * sh - ph + i * dh;
              for (let ox = x0; ox < x1; ox++) {
                let ix = ox * sw - pw + j * dw;
                let xv = v128.load(xq + (<usize>((iy * w + ix) * c) << 2));
                acc = f32x4.add(acc, f32x4.mul(xv, v128.load(dyq + (<usize>((oy * ow + ox) * oc) << 2))));
              }
            }
          }
          let at = dwt + (<usize>(o0 * kk + i * kw + j) << 2),
            stride = <usize>kk << 2;
          store<f32>(at, load<f32>(at) + f32x4.extract_lane(acc, 0));
          store<f32>(at + stride, load<f32>(at + stride) + f32x4.extract_lane(acc, 1));
          store<f32>(at + 2 * stride, load<f32>(at + 2 * stride) + f32x4.extract_lane(acc, 2));
          store<f32>(at + 3 * stride, load<f32>(at + 3 * stride) + f32x4.extract_lane(acc, 3));
        }
      }
      if (db) {
        let acc = f32x4.splat(0);
        for (let q = 0; q < n; q++) {
          let dyq = dy + (<usize>(q * oc * oh * ow + o0) << 2);
          for (let p = 0; p < oh * ow; p++) acc = f32x4.add(acc, v128.load(dyq + (<usize>(p * oc) << 2)));
        }
        let at = db + (<usize>o0 << 2);
        v128.store(at, f32x4.add(v128.load(at), acc));
      }
    }
  }
  for (let o = o0; o < oTo; o++) {
    let ci = o / mult;
    for (let i = 0; i < kh; i++) {
      let y0 = lo(i * dh - ph, sh),
        y1 = hi(i * dh - ph, sh, h, oh);
      for (let j = 0; j < kw; j++) {
        let x0 = lo(j * dw - pw, sw),
          x1 = hi(j * dw - pw, sw, w, ow);
        let s: f32 = 0;
        for (let q = 0; q < n; q++) {
          let xo = x + (<usize>(q * c * h * w + ci * xc) << 2),
            dyo = dy + (<usize>(q * oc * oh * ow + o * yc) << 2);
          for (let oy = y0; oy < y1; oy++) {
            let iy = oy * sh - ph + i * dh;
            for (let ox = x0; ox < x1; ox++) {
              let ix = ox * sw - pw + j * dw;
              s += load<f32>(xo + (<usize>((iy * w + ix) * xp) << 2)) * load<f32>(dyo + (<usize>((oy * ow + ox) * yp) << 2));
            }
          }
        }
        let at = dwt + (<usize>((o * kh + i) * kw + j) << 2);
        store<f32>(at, load<f32>(at) + s);
      }
    }
    if (db) {
      let s: f32 = 0;
      for (let q = 0; q < n; q++) {
        let dyo = dy + (<usize>(q * oc * oh * ow + o * yc) << 2);
        for (let p = 0; p < oh * ow; p++) s += load<f32>(dyo + (<usize>(p * yp) << 2));
      }
      let at = db + (<usize>o << 2);
      store<f32>(at, load<f32>(at) + s);
    }
  }
}
