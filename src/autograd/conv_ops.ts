// Differentiable 2-D convolution, pooling and dropout of `F`, over the im2col + GEMM, pooling and
// elementwise kernels; each records its backward beside its forward.
// see: https://pytorch.org/docs/stable/generated/torch.nn.functional.conv2d.html (shapes and padding);
//      Chellapilla et al. 2006, https://inria.hal.science/inria-00112631 (convolution as a matrix product)
import { Tensor } from '../tensor';
import { guarded, gradSink, out, record } from './functional';
import { matmul } from '../kernels/gemm';
import { addColumnSums } from '../kernels/reduce';
import {
  col2imNCHW,
  col2imNHWC,
  convBiasGradNCHW,
  convBiasNCHW,
  im2colNCHW,
  im2colNHWC,
  slidingWindow,
  type Window,
} from '../kernels/conv';
import {
  avgPool2d as avgKernel,
  avgPool2dBackward,
  avgPool2dExclude as avgExclude,
  avgPool2dExcludeBackward as avgExcludeBackward,
  maxPool2d as maxKernel,
  maxPool2dBackward,
} from '../kernels/pool';
import { mulElementwise } from '../kernels/activations';
import { I32Block } from '../runtime/block';
import { runtime } from '../runtime/index';
import { defaultGenerator, Generator } from '../random';
import { checkBool, checkOneOf, checkOptions, checkTensor, checkUnit, describe } from '../validate';
import { checkGroups, checkInput2d, pair, type Conv2dLayout, type Geometry2d, type Size2 } from '../nn/conv';
import { groupedConv2d } from './conv_grouped';

/** Options of F.conv2d (PyTorch's F.conv2d keyword arguments). */
export interface Conv2dFunctionalOptions {
  /** Step of the kernel, in pixels: one for both axes or [h, w]. Default 1. */
  stride?: Size2;
  /** Zeros added on each side, or 'same' (stride 1, odd kernel: the output keeps the input's size). */
  padding?: Size2 | 'same';
  /** Memory layout of input and output: 'NCHW' (PyTorch's, default) or 'NHWC' (channels last). */
  layout?: Conv2dLayout;
  /** Spacing between kernel taps, in pixels: one for both axes or [h, w]. Default 1. */
  dilation?: Size2;
  /** Channel groups: input and output channels split into `groups` independent convolutions; the weight is [out, in/groups, kh, kw]. Default 1. */
  groups?: number;
}

/** Floats of im2col columns per NHWC chunk: bounds the buffer (WASM memory never shrinks). */
const CHUNK_FLOATS = 1 << 22;

/** Images per NHWC chunk of im2col columns (at least one), for columns of P·K floats per image. */
export function chunkImages(g: Geometry2d, P: number, K: number): number {
  return Math.max(1, Math.min(g.n, Math.floor(CHUNK_FLOATS / Math.max(1, P * K))));
}

/** W [out, in, kh, kw] rearranged to [out, kh, kw, in] (NHWC windows run over channels last), into `into` when given. */
export function rearranged(weight: Tensor, into: Tensor | null = null): Tensor {
  const [o, c, kh, kw] = weight.shape,
    kk = kh * kw;
  const t = into ?? Tensor.empty([o, kh, kw, c]);
  const src = weight.view(),
    dst = t.view();
  for (let q = 0; q < o; q++)
    for (let ci = 0; ci < c; ci++) for (let r = 0; r < kk; r++) dst[q * c * kk + r * c + ci] = src[q * c * kk + ci * kk + r];
  return t;
}

/** Cross-correlation of x with weight [out, in/groups, kh, kw] (+ bias [out]), PyTorch's F.conv2d. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv2dFunctionalOptions = {}): Tensor {
  const where = 'F.conv2d';
  checkTensor(where, 'weight', weight);
  if (weight.shape.length !== 4)
    throw new RangeError(`${where}: weight: expected [out, in/groups, kh, kw], got [${weight.shape.join(', ')}]`);
  const [o, c, kh, kw] = weight.shape;
  if (bias !== null) {
    checkTensor(where, 'bias', bias);
    if (bias.shape.length !== 1 || bias.shape[0] !== o)
      throw new RangeError(`${where}: bias: expected shape [${o}], got [${bias.shape.join(', ')}]`);
  }
  checkOptions(where, options, ['stride', 'padding', 'layout', 'dilation', 'groups']);
  const layout = checkOneOf(where, 'layout', options.layout ?? 'NCHW', ['NCHW', 'NHWC'] as const);
  const s = pair(where, 'stride', options.stride ?? 1, 1);
  const d = pair(where, 'dilation', options.dilation ?? 1, 1);
  const groups = checkGroups(where, options.groups ?? 1, o);
  let p: [number, number];
  if (options.padding === 'same') {
    if (s[0] !== 1 || s[1] !== 1) throw new RangeError(`${where}: padding 'same' needs stride 1, got [${s.join(', ')}]`);
    if (kh % 2 === 0 || kw % 2 === 0) throw new RangeError(`${where}: padding 'same' needs an odd kernel here, got ${kh}×${kw}`);
    p = [((kh - 1) / 2) * d[0], ((kw - 1) / 2) * d[1]];
  } else p = pair(where, 'padding', options.padding ?? 0, 0);
  if (groups !== 1 || d[0] !== 1 || d[1] !== 1) {
    const spec = {
      outChannels: o,
      inChannels: c * groups,
      kernelSize: [kh, kw],
      stride: s,
      padding: p,
      dilation: d,
      groups,
      layout,
    } as const;
    return groupedConv2d(spec, x, weight, bias);
  }
  const g = checkInput2d(where, x, layout, c, [kh, kw], s, p);
  const win = slidingWindow([kh, kw], s, p, g);
  const nchw = layout === 'NCHW';
  const P = g.oh * g.ow,
    K = c * kh * kw;
  const pointwise = kh === 1 && kw === 1 && s[0] === 1 && s[1] === 1 && p[0] === 0 && p[1] === 0;
  const y = out(nchw ? [g.n, o, g.oh, g.ow] : [g.n, g.oh, g.ow, o]);
  // NHWC takes W as [out, kh, kw, in] unless one of in and kh·kw is 1 (then the orders agree)
  const wT = guarded([y], () => (!nchw && !pointwise && c > 1 && kh * kw > 1 ? rearranged(weight) : null));
  const per = chunkImages(g, P, K);
  guarded([y, wT], () => {
    if (g.n > 0) {
      if (nchw) forwardNCHW(g, win, x, weight, bias, y, pointwise);
      else forwardNHWC(g, win, x, wT ?? weight, bias, y, pointwise, per);
    }
  });
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(
    y,
    'conv2d',
    inputs,
    (gy, inputGrad) => {
      const gx = (inputGrad ?? x.requiresGrad) ? Tensor.full(x.shape, 0) : null;
      // a parameter's gradient goes straight into its .grad (the kernels add), as Conv2d.backward does
      const gw = gradSink(weight)!,
        gb = gradSink(bias);
      if (g.n > 0) {
        if (nchw) backwardNCHW(g, win, x, weight, gy, gx, gw.into, gb?.into ?? null, pointwise);
        else backwardNHWC(g, win, x, wT ?? weight, gy, gx, gw.into, gb?.into ?? null, pointwise, per, wT !== null);
      }
      return bias === null ? [gx, gw.give] : [gx, gw.give, gb!.give];
    },
    () => wT?.dispose(),
  );
}

/** A window's kh, kw, sh, sw, ph, pw, oh, ow, as the kernels take them. */
function spread(win: Window): [number, number, number, number, number, number, number, number] {
  return [win.kh, win.kw, win.sh, win.sw, win.ph, win.pw, win.oh, win.ow];
}

/** The forward pass of a convolution in NCHW: y = W ⋆ x (+ b). */
export function forwardNCHW(g: Geometry2d, win: Window, x: Tensor, w: Tensor, b: Tensor | null, y: Tensor, pointwise: boolean): void {
  const P = g.oh * g.ow,
    K = g.c * win.kh * win.kw,
    o = w.shape[0];
  const par = runtime().par;
  if (par?.convForwardNCHW(x.ptr, w.ptr, y.ptr, b ? b.ptr : 0, g.n, g.c, g.h, g.w, ...spread(win), o)) return;
  const cols = pointwise ? null : Tensor.empty([K, P]);
  try {
    for (let i = 0; i < g.n; i++) {
      const xi = x.ptr + 4 * i * g.c * g.h * g.w;
      if (cols) im2colNCHW(xi, cols.ptr, g.c, g.h, g.w, win);
      matmul(w.ptr, cols ? cols.ptr : xi, y.ptr + 4 * i * o * P, o, P, K);
    }
  } finally {
    cols?.dispose();
  }
  if (b) convBiasNCHW(y.ptr, g.n, o, P, b.ptr);
}

/** The forward pass of a convolution in NHWC: y = W ⋆ x (+ b). */
export function forwardNHWC(
  g: Geometry2d,
  win: Window,
  x: Tensor,
  w: Tensor,
  b: Tensor | null,
  y: Tensor,
  pointwise: boolean,
  per: number,
): void {
  const P = g.oh * g.ow,
    K = g.c * win.kh * win.kw,
    o = w.shape[0],
    bias = b ? b.ptr : 0;
  if (pointwise) return matmul(x.ptr, w.ptr, y.ptr, g.n * P, o, K, { transB: true, bias });
  const cols = Tensor.empty([per * P, K]);
  try {
    for (let i = 0; i < g.n; i += per) {
      const cnt = Math.min(per, g.n - i);
      im2colNHWC(x.ptr + 4 * i * g.h * g.w * g.c, cols.ptr, cnt, g.h, g.w, g.c, win);
      matmul(cols.ptr, w.ptr, y.ptr + 4 * i * P * o, cnt * P, o, K, { transB: true, bias });
    }
  } finally {
    cols.dispose();
  }
}

/** The backward pass of a convolution in NCHW; gradients are added to dw and db. */
export function backwardNCHW(
  g: Geometry2d,
  win: Window,
  x: Tensor,
  w: Tensor,
  dy: Tensor,
  dx: Tensor | null,
  dw: Tensor,
  db: Tensor | null,
  pointwise: boolean,
): void {
  const P = g.oh * g.ow,
    K = g.c * win.kh * win.kw,
    o = w.shape[0],
    img = g.c * g.h * g.w;
  if (db) convBiasGradNCHW(dy.ptr, g.n, o, P, db.ptr);
  const par = runtime().par;
  if (par?.convBackwardNCHW(x.ptr, w.ptr, dy.ptr, dx ? dx.ptr : 0, dw.ptr, g.n, g.c, g.h, g.w, ...spread(win), o)) return;
  const cols = pointwise ? null : Tensor.empty([K, P]);
  try {
    for (let i = 0; i < g.n; i++) {
      const xi = x.ptr + 4 * i * img,
        dyi = dy.ptr + 4 * i * o * P;
      if (cols) im2colNCHW(xi, cols.ptr, g.c, g.h, g.w, win);
      matmul(dyi, cols ? cols.ptr : xi, dw.ptr, o, K, P, { transB: true, beta: 1 }); // dW += dy_n · cols_nᵀ
      if (!dx) continue;
      const dxi = dx.ptr + 4 * i * img;
      matmul(w.ptr, dyi, cols ? cols.ptr : dxi, K, P, o, { transA: true }); // dcols = Wᵀ · dy_n
      if (cols) col2imNCHW(cols.ptr, dxi, g.c, g.h, g.w, win);
    }
  } finally {
    cols?.dispose();
  }
}

/** The backward pass of a convolution in NHWC; gradients are added to dw and db. */
export function backwardNHWC(
  g: Geometry2d,
  win: Window,
  x: Tensor,
  w: Tensor,
  dy: Tensor,
  dx: Tensor | null,
  dw: Tensor,
  db: Tensor | null,
  pointwise: boolean,
  per: number,
  re: boolean,
): void {
  const P = g.oh * g.ow,
    K = g.c * win.kh * win.kw,
    o = w.shape[0];
  if (db) addColumnSums(dy.ptr, g.n * P, o, db.ptr);
  if (pointwise) {
    matmul(dy.ptr, x.ptr, dw.ptr, o, K, g.n * P, { transA: true, beta: 1 });
    if (dx) matmul(dy.ptr, w.ptr, dx.ptr, g.n * P, K, o);
    return;
  }
  const cols = Tensor.empty([per * P, K]);
  const dwT = re ? Tensor.full([o, K], 0) : null; // the gradient in W' order, rearranged at the end
  try {
    for (let i = 0; i < g.n; i += per) {
      const cnt = Math.min(per, g.n - i),
        rows = cnt * P;
      const dyi = dy.ptr + 4 * i * P * o,
        img = 4 * i * g.h * g.w * g.c;
      im2colNHWC(x.ptr + img, cols.ptr, cnt, g.h, g.w, g.c, win);
      matmul(dyi, cols.ptr, (dwT ?? dw).ptr, o, K, rows, { transA: true, beta: 1 });
      if (!dx) continue;
      matmul(dyi, w.ptr, cols.ptr, rows, K, o);
      col2imNHWC(cols.ptr, dx.ptr + img, cnt, g.h, g.w, g.c, win);
    }
    if (dwT) {
      const src = dwT.view(),
        dst = dw.view(),
        c = g.c,
        kk = win.kh * win.kw;
      for (let q = 0; q < o; q++)
        for (let ci = 0; ci < c; ci++) for (let r = 0; r < kk; r++) dst[q * c * kk + ci * kk + r] += src[q * c * kk + r * c + ci];
    }
  } finally {
    cols.dispose();
    dwT?.dispose();
  }
}

/** Options of F.maxPool2d and F.avgPool2d. */
export interface Pool2dFunctionalOptions {
  /** Default: the kernel size. */
  stride?: Size2;
  /** Implicit padding on each side, in pixels: left out of a max, counted as zeros in an average. Default 0. */
  padding?: Size2;
  /** Memory layout of input and output: 'NCHW' (default) or 'NHWC'. */
  layout?: Conv2dLayout;
}

/** Options of F.avgPool2d. */
export interface AvgPool2dFunctionalOptions extends Pool2dFunctionalOptions {
  /** Count the padding's zeros in each window's divisor (PyTorch's count_include_pad; default true). */
  countIncludePad?: boolean;
}

/** The kernels' view of a pooled input: n images of h×w with c channels last. */
function poolGeometry(
  where: string,
  x: Tensor,
  kernelSize: Size2,
  options: AvgPool2dFunctionalOptions,
  keys = ['stride', 'padding', 'layout'],
) {
  checkOptions(where, options, keys);
  const k = pair(where, 'kernelSize', kernelSize, 1);
  const s = options.stride === undefined ? k : pair(where, 'stride', options.stride, 1);
  const p = pair(where, 'padding', options.padding ?? 0, 0);
  if (2 * p[0] > k[0] || 2 * p[1] > k[1])
    throw new RangeError(`${where}: padding: expected at most half the kernel size ${k[0]}×${k[1]}, got [${p[0]}, ${p[1]}]`);
  const layout = checkOneOf(where, 'layout', options.layout ?? 'NCHW', ['NCHW', 'NHWC'] as const);
  const g = checkInput2d(where, x, layout, null, k, s, p);
  const nchw = layout === 'NCHW';
  return {
    n: nchw ? g.n * g.c : g.n,
    h: g.h,
    w: g.w,
    c: nchw ? 1 : g.c,
    oh: g.oh,
    ow: g.ow,
    win: slidingWindow(k, s, p, g),
    shape: nchw ? [g.n, g.c, g.oh, g.ow] : [g.n, g.oh, g.ow, g.c],
  };
}

/** The maximum of each window (PyTorch's F.max_pool2d, floor mode); backward to the first maximum. */
export function maxPool2d(x: Tensor, kernelSize: Size2, options: Pool2dFunctionalOptions = {}): Tensor {
  const q = poolGeometry('F.maxPool2d', x, kernelSize, options);
  const y = out(q.shape);
  const idx = guarded([y], () => new I32Block(Math.max(y.size, 1)));
  guarded([y, idx], () => maxKernel(x.ptr, y.ptr, idx.ptr, q.n, q.h, q.w, q.c, q.win));
  return record(
    y,
    'maxPool2d',
    [x],
    (gy) => {
      const g = Tensor.empty(x.shape);
      maxPool2dBackward(gy.ptr, idx.ptr, g.ptr, q.n, q.h * q.w, q.c, q.oh * q.ow);
      return [g];
    },
    () => idx.dispose(),
  );
}

/** The mean of each window, padding counted as zeros unless countIncludePad is false (PyTorch's F.avg_pool2d). */
export function avgPool2d(x: Tensor, kernelSize: Size2, options: AvgPool2dFunctionalOptions = {}): Tensor {
  const where = 'F.avgPool2d';
  const q = poolGeometry(where, x, kernelSize, options, ['stride', 'padding', 'layout', 'countIncludePad']);
  const include = checkBool(where, 'countIncludePad', options.countIncludePad ?? true);
  const y = out(q.shape);
  (include ? avgKernel : avgExclude)(x.ptr, y.ptr, q.n, q.h, q.w, q.c, q.win);
  return record(y, 'avgPool2d', [x], (gy) => {
    const g = Tensor.empty(x.shape);
    (include ? avgPool2dBackward : avgExcludeBackward)(gy.ptr, g.ptr, q.n, q.h, q.w, q.c, q.win);
    return [g];
  });
}

/** Zeroes each value with probability p and scales the rest by 1/(1 − p) when `training`. */
export function dropout(x: Tensor, p = 0.5, options: { training?: boolean; generator?: Generator } = {}): Tensor {
  const where = 'F.dropout';
  checkTensor(where, 'input', x);
  checkUnit(where, 'p', p);
  checkOptions(where, options, ['training', 'generator']);
  const training = checkBool(where, 'training', options.training ?? true);
  const gen = options.generator ?? defaultGenerator;
  if (!(gen instanceof Generator)) throw new TypeError(`${where}: generator: expected a Generator, got ${describe(gen)}`);
  const y = out(x.shape);
  if (!training || p === 0) {
    y.view().set(x.view());
    return record(y, 'dropout', [x], (gy) => [Tensor.empty(gy.shape).set(gy.view())]);
  }
  const mask = guarded([y], () => Tensor.empty(x.shape));
  const m = mask.view(),
    keep = p === 1 ? 0 : 1 / (1 - p);
  for (let i = 0; i < m.length; i++) m[i] = gen.uniform() < p ? 0 : keep;
  mulElementwise(x.ptr, mask.ptr, y.ptr, x.size);
  return record(
    y,
    'dropout',
    [x],
    (gy) => {
      const g = Tensor.empty(x.shape);
      mulElementwise(gy.ptr, mask.ptr, g.ptr, g.size);
      return [g];
    },
    () => mask.dispose(),
  );
}
