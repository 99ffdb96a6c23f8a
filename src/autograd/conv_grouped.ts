// Grouped and dilated 2-D convolution (PyTorch's groups and dilation), forward and backward, for
// F.conv2d and the Conv2d layer. Depthwise (groups = in channels, out = mult·in) runs the direct
// kernel of assembly/depthwise.ts. Any other grouping or dilation runs im2col (dilated where needed)
// + GEMM per image and group over the group's channels (NCHW; NHWC through transposed copies).
// see: https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html (groups, dilation);
//      Yu & Koltun 2016, https://arxiv.org/abs/1511.07122 (dilated convolutions)
import { Tensor } from '../tensor';
import { guarded, gradSink, out, record } from './functional';
import {
  col2imDilatedNCHW,
  col2imNCHW,
  convBiasGradNCHW,
  convBiasNCHW,
  im2colDilatedNCHW,
  im2colNCHW,
  slidingWindow,
} from '../kernels/conv';
import { matmul } from '../kernels/gemm';
import { depthwiseBackwardInput, depthwiseBackwardWeight, depthwiseForward, type Depthwise } from '../kernels/depthwise';
import { checkInput2d, checkShape2d, type Conv2dLayout, type Geometry2d } from '../nn/conv';

/** A grouped or dilated convolution: the weight [out, in/groups, kh, kw] and how it slides. */
export interface GroupedSpec {
  readonly outChannels: number;
  readonly inChannels: number;
  readonly kernelSize: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
  readonly layout: Conv2dLayout;
}

/** The kernel's extent on the input: (k − 1)·d + 1 per axis. */
export const effectiveKernel = (s: GroupedSpec): [number, number] => [
  (s.kernelSize[0] - 1) * s.dilation[0] + 1,
  (s.kernelSize[1] - 1) * s.dilation[1] + 1,
];

/** True when the direct depthwise kernel computes `s` (every group has one input channel). */
export const isDepthwise = (s: GroupedSpec): boolean => s.groups === s.inChannels;

/** The output shape of `s` on an input of geometry g. */
export const groupedOutShape = (s: GroupedSpec, g: Geometry2d): number[] =>
  s.layout === 'NCHW' ? [g.n, s.outChannels, g.oh, g.ow] : [g.n, g.oh, g.ow, s.outChannels];

/** Checks an input (or its shape) against `s`; returns its geometry. */
export function groupedGeometry(where: string, s: GroupedSpec, x: Tensor | readonly number[]): Geometry2d {
  const k = effectiveKernel(s);
  return Array.isArray(x)
    ? checkShape2d(where, x, s.layout, s.inChannels, k, s.stride, s.padding)
    : checkInput2d(where, x, s.layout, s.inChannels, k, s.stride, s.padding);
}

function depthwise(s: GroupedSpec, g: Geometry2d): Depthwise {
  return {
    n: g.n,
    c: g.c,
    h: g.h,
    w: g.w,
    mult: s.outChannels / s.inChannels,
    kh: s.kernelSize[0],
    kw: s.kernelSize[1],
    sh: s.stride[0],
    sw: s.stride[1],
    ph: s.padding[0],
    pw: s.padding[1],
    dh: s.dilation[0],
    dw: s.dilation[1],
    oh: g.oh,
    ow: g.ow,
    nhwc: s.layout === 'NHWC',
  };
}

/** dst (NCHW) = src (NHWC) when `toNCHW`, else the reverse, for n images of c channels h×w. */
function transpose(src: Tensor, dst: Tensor, n: number, c: number, h: number, w: number, toNCHW: boolean): void {
  const S = src.view(),
    D = dst.view(),
    hw = h * w;
  for (let q = 0; q < n; q++)
    for (let ci = 0; ci < c; ci++)
      for (let p = 0; p < hw; p++) {
        const a = (q * c + ci) * hw + p,
          b = (q * hw + p) * c + ci;
        if (toNCHW) D[a] = S[b];
        else D[b] = S[a];
      }
}

/** The per-group products' sizes: og filters of Kg taps over P output pixels, and the sliding window. */
function plan(s: GroupedSpec, g: Geometry2d) {
  const [kh, kw] = s.kernelSize;
  const pointwise = kh === 1 && kw === 1 && s.stride[0] === 1 && s.stride[1] === 1 && s.padding[0] === 0 && s.padding[1] === 0;
  const cg = s.inChannels / s.groups;
  const [dh, dw] = s.dilation,
    win = slidingWindow([kh, kw], s.stride, s.padding, g);
  const dilated = dh !== 1 || dw !== 1;
  return {
    win,
    pointwise,
    /** im2col of the group's channels of one image into cols, dilated or not. */
    im2col: (x: number, cols: number) =>
      dilated ? im2colDilatedNCHW(x, cols, cg, g.h, g.w, win, dh, dw) : im2colNCHW(x, cols, cg, g.h, g.w, win),
    /** Its adjoint: dx of the group's channels (overwritten) from the column gradient. */
    col2im: (cols: number, dx: number) =>
      dilated ? col2imDilatedNCHW(cols, dx, cg, g.h, g.w, win, dh, dw) : col2imNCHW(cols, dx, cg, g.h, g.w, win),
    og: s.outChannels / s.groups,
    cg,
    Kg: cg * kh * kw,
    P: g.oh * g.ow,
    img: g.c * g.h * g.w,
  };
}

/** NCHW, per image and group: y_g [og, P] = W_g [og, Kg] · im2col(x_g) [Kg, P] (+ b). Pointers. */
function forwardGroups(s: GroupedSpec, g: Geometry2d, x: number, w: number, b: number, y: number): void {
  const { im2col, pointwise, og, cg, Kg, P, img } = plan(s, g),
    o = s.outChannels;
  const cols = pointwise ? null : Tensor.empty([Kg, P]);
  try {
    for (let i = 0; i < g.n; i++)
      for (let k = 0; k < s.groups; k++) {
        const xi = x + 4 * (i * img + k * cg * g.h * g.w);
        if (cols) im2col(xi, cols.ptr);
        matmul(w + 4 * k * og * Kg, cols ? cols.ptr : xi, y + 4 * (i * o + k * og) * P, og, P, Kg);
      }
  } finally {
    cols?.dispose();
  }
  if (b) convBiasNCHW(y, g.n, o, P, b);
}

/** NCHW, per image and group: dW_g += dy_g · colsᵀ, dx_g = col2im(W_gᵀ · dy_g) (dx = 0: none), db += Σ dy. */
function backwardGroups(s: GroupedSpec, g: Geometry2d, x: number, w: number, dy: number, dx: number, dw: number, db: number): void {
  const { im2col, col2im, pointwise, og, cg, Kg, P, img } = plan(s, g),
    o = s.outChannels;
  const cols = pointwise ? null : Tensor.empty([Kg, P]);
  try {
    if (db) convBiasGradNCHW(dy, g.n, o, P, db);
    for (let i = 0; i < g.n; i++)
      for (let k = 0; k < s.groups; k++) {
        const xi = x + 4 * (i * img + k * cg * g.h * g.w),
          dyi = dy + 4 * (i * o + k * og) * P;
        if (cols) im2col(xi, cols.ptr);
        matmul(dyi, cols ? cols.ptr : xi, dw + 4 * k * og * Kg, og, Kg, P, { transB: true, beta: 1 });
        if (!dx) continue;
        const dxi = dx + 4 * (i * img + k * cg * g.h * g.w);
        matmul(w + 4 * k * og * Kg, dyi, cols ? cols.ptr : dxi, Kg, P, og, { transA: true });
        if (cols) col2im(cols.ptr, dxi);
      }
  } finally {
    cols?.dispose();
  }
}

/** Frees every tensor of `ts` (nulls skipped). */
const free = (ts: (Tensor | null)[]) => ts.forEach((t) => t?.dispose());

/** y (shaped groupedOutShape) = x ⋆ weight (+ bias) for the grouped or dilated convolution `s`. */
export function groupedForward(s: GroupedSpec, g: Geometry2d, x: Tensor, weight: Tensor, bias: Tensor | null, y: Tensor): void {
  if (g.n === 0) return;
  if (isDepthwise(s)) return depthwiseForward(x.ptr, weight.ptr, bias ? bias.ptr : 0, y.ptr, depthwise(s, g));
  // NHWC runs the NCHW products on transposed copies: a group's channels are then one contiguous run
  const nhwc = s.layout === 'NHWC',
    made: (Tensor | null)[] = [];
  try {
    const xT = nhwc ? Tensor.empty([g.n, g.c, g.h, g.w]) : null;
    made.push(xT);
    const yT = nhwc ? Tensor.empty([g.n, s.outChannels, g.oh, g.ow]) : null;
    made.push(yT);
    if (xT) transpose(x, xT, g.n, g.c, g.h, g.w, true);
    forwardGroups(s, g, (xT ?? x).ptr, weight.ptr, bias ? bias.ptr : 0, (yT ?? y).ptr);
    if (yT) transpose(yT, y, g.n, s.outChannels, g.oh, g.ow, false);
  } finally {
    free(made);
  }
}

/** dx (overwritten, when given), dW += ∂L/∂W and db += ∂L/∂b (when given) from dy of groupedForward. */
export function groupedBackward(
  s: GroupedSpec,
  g: Geometry2d,
  x: Tensor,
  weight: Tensor,
  dy: Tensor,
  dx: Tensor | null,
  dW: Tensor,
  db: Tensor | null,
): void {
  if (g.n === 0) return;
  if (isDepthwise(s)) {
    const q = depthwise(s, g);
    if (dx) depthwiseBackwardInput(dy.ptr, weight.ptr, dx.ptr, q);
    return depthwiseBackwardWeight(x.ptr, dy.ptr, dW.ptr, db ? db.ptr : 0, q);
  }
  const nhwc = s.layout === 'NHWC',
    made: (Tensor | null)[] = [];
  try {
    const xT = nhwc ? Tensor.empty([g.n, g.c, g.h, g.w]) : null;
    made.push(xT);
    const dyT = nhwc ? Tensor.empty([g.n, s.outChannels, g.oh, g.ow]) : null;
    made.push(dyT);
    const dxT = nhwc && dx ? Tensor.empty([g.n, g.c, g.h, g.w]) : null;
    made.push(dxT);
    if (xT) transpose(x, xT, g.n, g.c, g.h, g.w, true);
    if (dyT) transpose(dy, dyT, g.n, s.outChannels, g.oh, g.ow, true);
    const dxp = dx ? (dxT ?? dx).ptr : 0;
    backwardGroups(s, g, (xT ?? x).ptr, weight.ptr, (dyT ?? dy).ptr, dxp, dW.ptr, db ? db.ptr : 0);
    if (dxT) transpose(dxT, dx!, g.n, g.c, g.h, g.w, false);
  } finally {
    free(made);
  }
}

/** F.conv2d with groups or dilation: checks done by the caller, which parsed `s` from the weight and options. */
export function groupedConv2d(s: GroupedSpec, x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const g = groupedGeometry('F.conv2d', s, x);
  const y = out(groupedOutShape(s, g));
  guarded([y], () => groupedForward(s, g, x, weight, bias, y));
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(y, 'conv2d', inputs, (gy, inputGrad) => {
    const gx = (inputGrad ?? x.requiresGrad) ? Tensor.empty(x.shape) : null;
    // a parameter's gradient goes straight into its .grad (the kernels add), as in the dense conv2d
    const gw = gradSink(weight)!,
      gb = gradSink(bias);
    groupedBackward(s, g, x, weight, gy, gx, gw.into, gb?.into ?? null);
    return bias === null ? [gx, gw.give] : [gx, gw.give, gb!.give];
  });
}
