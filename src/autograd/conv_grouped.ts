// Grouped and dilated 2-D convolution (PyTorch's groups and dilation), forward and backward, for
// F.conv2d and the Conv2d layer. Depthwise (groups = in channels, out = mult·in) runs the direct
// kernel of assembly/depthwise.ts. Any other grouping or dilation runs the dense im2col + GEMM path on
// the weight spread into a dense [out, in, (kh−1)·dh + 1, (kw−1)·dw + 1] filter, zero off its group and
// in the dilation holes: a zero term adds nothing to an f32 sum, so the values are those of the
// grouped, dilated convolution, in both layouts and on every backend the dense path serves.
// see: https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html (groups, dilation);
//      Yu & Koltun 2016, https://arxiv.org/abs/1511.07122 (dilated convolutions)
import { Tensor } from '../tensor';
import { guarded, leafGrad, out, record } from './functional';
import { slidingWindow, type Window } from '../kernels/conv';
import { depthwiseBackwardInput, depthwiseBackwardWeight, depthwiseForward, type Depthwise } from '../kernels/depthwise';
import { backwardNCHW, backwardNHWC, chunkImages, forwardNCHW, forwardNHWC, rearranged } from './conv_ops';
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

/** Index of weight element (o, ci in its group, i, j) in the dense filter [out, in, ekh, ekw]. */
function denseIndex(s: GroupedSpec): (o: number, ci: number, i: number, j: number) => number {
  const [ekh, ekw] = effectiveKernel(s),
    og = s.outChannels / s.groups,
    cg = s.inChannels / s.groups;
  return (o, ci, i, j) => ((o * s.inChannels + Math.floor(o / og) * cg + ci) * ekh + i * s.dilation[0]) * ekw + j * s.dilation[1];
}

/** Visits every weight element (o, ci, i, j) with its flat index in [out, in/groups, kh, kw] and in the dense filter. */
function eachTap(s: GroupedSpec, f: (flat: number, dense: number) => void): void {
  const at = denseIndex(s),
    [kh, kw] = s.kernelSize,
    cg = s.inChannels / s.groups;
  let flat = 0;
  for (let o = 0; o < s.outChannels; o++)
    for (let ci = 0; ci < cg; ci++) for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) f(flat++, at(o, ci, i, j));
}

/** The dense path's window, flags and weights (the dense filter, and its NHWC order when needed). */
interface Dense {
  win: Window;
  pointwise: boolean;
  dense: Tensor;
  wT: Tensor | null;
  per: number;
}

function dense(s: GroupedSpec, g: Geometry2d, weight: Tensor): Dense {
  const [ekh, ekw] = effectiveKernel(s);
  const win = slidingWindow([ekh, ekw], s.stride, s.padding, g);
  const pointwise = ekh === 1 && ekw === 1 && s.stride[0] === 1 && s.stride[1] === 1 && s.padding[0] === 0 && s.padding[1] === 0;
  const d = Tensor.full([s.outChannels, s.inChannels, ekh, ekw], 0);
  const W = weight.view(),
    D = d.view();
  eachTap(s, (flat, at) => (D[at] = W[flat]));
  const wT = guarded([d], () => (s.layout === 'NHWC' && !pointwise && s.inChannels > 1 && ekh * ekw > 1 ? rearranged(d) : null));
  return { win, pointwise, dense: d, wT, per: chunkImages(g, g.oh * g.ow, s.inChannels * ekh * ekw) };
}

/** y (shaped groupedOutShape) = x ⋆ weight (+ bias) for the grouped or dilated convolution `s`. */
export function groupedForward(s: GroupedSpec, g: Geometry2d, x: Tensor, weight: Tensor, bias: Tensor | null, y: Tensor): void {
  if (g.n === 0) return;
  if (isDepthwise(s)) return depthwiseForward(x.ptr, weight.ptr, bias ? bias.ptr : 0, y.ptr, depthwise(s, g));
  const d = dense(s, g, weight);
  try {
    if (s.layout === 'NCHW') forwardNCHW(g, d.win, x, d.dense, bias, y, d.pointwise);
    else forwardNHWC(g, d.win, x, d.wT ?? d.dense, bias, y, d.pointwise, d.per);
  } finally {
    d.dense.dispose();
    d.wT?.dispose();
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
  const d = dense(s, g, weight);
  const dDense = guarded([d.dense, d.wT], () => Tensor.full(d.dense.shape, 0));
  try {
    if (s.layout === 'NCHW') backwardNCHW(g, d.win, x, d.dense, dy, dx, dDense, db, d.pointwise);
    else backwardNHWC(g, d.win, x, d.wT ?? d.dense, dy, dx, dDense, db, d.pointwise, d.per, d.wT !== null);
    const G = dW.view(),
      D = dDense.view();
    eachTap(s, (flat, at) => (G[flat] += D[at]));
  } finally {
    d.dense.dispose();
    d.wT?.dispose();
    dDense.dispose();
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
    const intoW = leafGrad(weight),
      intoB = leafGrad(bias);
    const gw = intoW ?? Tensor.full(weight.shape, 0);
    const gb = bias === null ? null : (intoB ?? Tensor.full([s.outChannels], 0));
    groupedBackward(s, g, x, weight, gy, gx, gw, gb);
    const res = [gx, intoW === null ? gw : null];
    return bias === null ? res : [...res, intoB === null ? gb : null];
  });
}
