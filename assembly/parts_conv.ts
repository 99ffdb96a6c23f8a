// Part kernels of the channel-first convolution (src/autograd/conv_ops.ts's per-image loops) for the
// threaded build. The forward and the input gradient are independent per image: part p takes a
// block of images and does for each what the single-threaded loop does (im2col, the same sgemm
// call, bias or col2im). The weight gradient sums over images: rather than partial sums per block,
// which would change the order of the sums, part p takes a slice of dW (a block of channels, or of
// rows) and adds every image's product into it in image order, so each element of dW gets the
// single-threaded loop's additions in its order, whatever the number of parts.
import { sgemm, sgemmWorkspace } from './gemm';
import { sliceStart } from './parts';
import { im2colNCHW, col2imNCHW, convBiasNCHW } from './conv';
import { biasGradChannels } from './conv_bias';

/** Whether the window is a 1×1 kernel at stride 1 without padding (then x is its own im2col columns). */
// @ts-ignore: decorator
@inline function isPointwise(kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32): bool {
  return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
}

/**
 * A free workspace of `count` (one per thread: no more parts than threads run at once), claimed
 * with a compare-and-swap on its word of `slots`; the parts can then be many more than the threads
 * (small blocks, so a thread the machine delays holds up little) without a workspace each.
 */
export function takeSlot(slots: usize, count: i32): i32 {
  let s = 0;
  while (atomic.cmpxchg<i32>(slots + (<usize>s << 2), 0, 1) != 0) s = s + 1 < count ? s + 1 : 0;
  return s;
}

/** Gives workspace `s` of `slots` back. */
// @ts-ignore: decorator
@inline export function giveSlot(slots: usize, s: i32): void {
  atomic.store<i32>(slots + (<usize>s << 2), 0);
}

/** Bytes rounded up to 16, so each part's region starts aligned. */
// @ts-ignore: decorator
@inline export function align16(bytes: i32): i32 {
  return (bytes + 15) & ~15;
}

/**
 * Bytes of workspace each part of a convolution's part kernels needs: one image's
 * columns (none when pointwise) and the largest sgemm workspace of the loop.
 */
export function convPartWorkspace(c: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, o: i32): i32 {
  let P = oh * ow, K = c * kh * kw;
  let cols = isPointwise(kh, kw, sh, sw, ph, pw) ? 0 : align16((K * P) << 2);
  return cols + align16(max(sgemmWorkspace(o, P, K), max(sgemmWorkspace(K, P, o), sgemmWorkspace(o, K, P))));
}

/**
 * Part `part` of `parts` of the forward of a channel-first convolution of x[n][c][h][wd] with
 * w[o][c·kh·kw] into y[n][o][oh·ow] (+ bias[o] when bias ≠ 0): a block of images, each as the
 * single-threaded loop does it. A part takes one of the `count` workspaces of wsBytes
 * (convPartWorkspace) at ws, whose i32 words at `slots` say which are free.
 */
export function convForwardNCHWPart(part: i32, parts: i32, x: usize, w: usize, y: usize, bias: usize, n: i32, c: i32, h: i32, wd: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, o: i32, slots: usize, count: i32, ws: usize, wsBytes: i32): void {
  let i0 = sliceStart(part, parts, n), i1 = sliceStart(part + 1, parts, n);
  let P = oh * ow, K = c * kh * kw;
  let pointwise = isPointwise(kh, kw, sh, sw, ph, pw);
  let slot = takeSlot(slots, count);
  let cols = ws + <usize>slot * <usize>wsBytes;
  let gws = cols + (pointwise ? 0 : <usize>align16((K * P) << 2));
  let img = (<usize>c * <usize>h * <usize>wd) << 2, out = (<usize>o * <usize>P) << 2;
  for (let i = i0; i < i1; i++) {
    let xi = x + <usize>i * img, yi = y + <usize>i * out;
    if (!pointwise) im2colNCHW(xi, cols, c, h, wd, kh, kw, sh, sw, ph, pw, oh, ow);
    sgemm(0, 0, o, P, K, w, K, pointwise ? xi : cols, P, yi, P, 0, 0, gws);
    if (bias != 0) convBiasNCHW(yi, 1, o, P, bias);
  }
  giveSlot(slots, slot);
}

/**
 * Part `part` of `parts` of the input gradient of a channel-first convolution, for a block of
 * images of dy[n][o][oh·ow]: dx[i] = col2im(wᵀ·dy[i]) (dx[n][c][h][wd]), as the single-threaded
 * loop computes it. Workspaces as convForwardNCHWPart.
 */
export function convInputGradNCHWPart(part: i32, parts: i32, w: usize, dy: usize, dx: usize, n: i32, c: i32, h: i32, wd: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, o: i32, slots: usize, count: i32, ws: usize, wsBytes: i32): void {
  let i0 = sliceStart(part, parts, n), i1 = sliceStart(part + 1, parts, n);
  let P = oh * ow, K = c * kh * kw;
  let pointwise = isPointwise(kh, kw, sh, sw, ph, pw);
  let slot = takeSlot(slots, count);
  let dcols = ws + <usize>slot * <usize>wsBytes;
  let gws = dcols + (pointwise ? 0 : <usize>align16((K * P) << 2));
  let img = (<usize>c * <usize>h * <usize>wd) << 2, out = (<usize>o * <usize>P) << 2;
  for (let i = i0; i < i1; i++) {
    let dyi = dy + <usize>i * out, dxi = dx + <usize>i * img;
    sgemm(1, 0, K, P, o, w, K, dyi, P, pointwise ? dxi : dcols, P, 0, 0, gws);
    if (!pointwise) col2imNCHW(dcols, dxi, c, h, wd, kh, kw, sh, sw, ph, pw, oh, ow);
  }
  giveSlot(slots, slot);
}

/**
 * Part `part` of `parts` of dw[o][c·kh·kw] += Σ over the n images of dy[i]·im2col(x[i])ᵀ: a slice
 * of dw, every image added into it in image order, as the single-threaded loop adds them (any slice
 * of sgemm's output has the bits of the whole call). With at least `parts` channels the slice is
 * the columns of a block of channels, whose im2col rows the part makes itself (the columns stay in
 * its cache); else a block of rows of dw (4 at a time), each part making the whole im2col.
 * Workspaces as convForwardNCHWPart.
 */
export function convWeightGradNCHWPart(part: i32, parts: i32, x: usize, dy: usize, dw: usize, n: i32, c: i32, h: i32, wd: i32, kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32, oh: i32, ow: i32, o: i32, slots: usize, count: i32, ws: usize, wsBytes: i32): void {
  let P = oh * ow, kk = kh * kw, K = c * kk;
  let pointwise = isPointwise(kh, kw, sh, sw, ph, pw);
  let plane = (<usize>h * <usize>wd) << 2, img = <usize>c * plane, out = (<usize>o * <usize>P) << 2;
  let c0 = 0, c1 = c, r0 = 0, r1 = o;
  if (c >= parts) {
    c0 = sliceStart(part, parts, c); c1 = sliceStart(part + 1, parts, c);
  } else {
    let tiles = (o + 3) >> 2;
    r0 = sliceStart(part, parts, tiles) << 2; r1 = min(o, sliceStart(part + 1, parts, tiles) << 2);
  }
  if (c1 <= c0 || r1 <= r0) return;
  let slot = takeSlot(slots, count);
  let cols = ws + <usize>slot * <usize>wsBytes;
  let gws = cols + (pointwise ? 0 : <usize>align16((K * P) << 2));
  let cb = c1 - c0, rows = r1 - r0;
  for (let i = 0; i < n; i++) {
    let xc = x + <usize>i * img + <usize>c0 * plane;
    if (!pointwise) im2colNCHW(xc, cols, cb, h, wd, kh, kw, sh, sw, ph, pw, oh, ow);
    let dyr = dy + <usize>i * out + ((<usize>r0 * <usize>P) << 2);
    sgemm(0, 1, rows, cb * kk, P, dyr, P, pointwise ? xc : cols, P, dw + ((<usize>r0 * <usize>K + <usize>c0 * <usize>kk) << 2), K, 1, 0, gws);
  }
  giveSlot(slots, slot);
}

/** The bias gradient (convBiasGradNCHW, same arguments) of block `part` of `parts` of the channels: each channel's sum is the one-thread sum. */
export function convBiasGradNCHWPart(part: i32, parts: i32, dy: usize, n: i32, c: i32, l: i32, db: usize): void {
  let c0 = sliceStart(part, parts, c), c1 = sliceStart(part + 1, parts, c);
  if (c1 > c0) biasGradChannels(dy, n, c, l, db, c0, c1);
}
