// Adaptive average pooling (PyTorch's F.adaptive_avg_pool2d): output cell i of `out` along an axis of
// size `size` averages input rows floor(i·size/out) … ceil((i+1)·size/out) − 1, so the bins cover
// the input and may overlap; an output of 1×1 is global average pooling. Each bin is summed in f64
// and rounded once, here in TypeScript over the tensors' views, so every backend gives the same bits.
// see: https://github.com/pytorch/pytorch/blob/main/aten/src/ATen/native/AdaptiveAveragePooling.cpp
import { Tensor } from '../tensor';
import { out, record } from './functional';
import { checkOneOf, checkOptions, checkTensor } from '../validate';
import { checkShape2d, pair, type Conv2dLayout, type Size2 } from '../nn/conv';

/** Options of F.adaptiveAvgPool2d. */
export interface AdaptivePool2dOptions {
  /** Memory layout of input and output: 'NCHW' (default) or 'NHWC'. */
  layout?: Conv2dLayout;
}

/** The geometry of one adaptive pooling: sizes, bins per axis and the output shape. */
export interface AdaptiveGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
  nchw: boolean;
  shape: number[];
}

/** Checks an input shape against an output size; throws naming `where` otherwise. */
export function adaptiveGeometry(where: string, shape: readonly number[], outputSize: Size2, layout: Conv2dLayout): AdaptiveGeometry {
  const [oh, ow] = pair(where, 'outputSize', outputSize, 1);
  const g = checkShape2d(where, shape, layout, null, [1, 1], [1, 1], [0, 0]);
  const nchw = layout === 'NCHW';
  return { n: g.n, c: g.c, h: g.h, w: g.w, oh, ow, nchw, shape: nchw ? [g.n, g.c, oh, ow] : [g.n, oh, ow, g.c] };
}

const start = (i: number, size: number, o: number) => Math.floor((i * size) / o);
const end = (i: number, size: number, o: number) => Math.ceil(((i + 1) * size) / o);

/** Element strides (image, channel, row, column) of a tensor of the geometry's layout with h×w pixels. */
function strides(q: AdaptiveGeometry, h: number, w: number): [number, number, number, number] {
  return q.nchw ? [q.c * h * w, h * w, w, 1] : [h * w * q.c, 1, w * q.c, q.c];
}

/** y = the mean of each bin of x. */
export function adaptiveAvgPoolForward(q: AdaptiveGeometry, x: Float32Array, y: Float32Array): void {
  const [xn, xc, xh, xw] = strides(q, q.h, q.w),
    [yn, yc, yh, yw] = strides(q, q.oh, q.ow);
  for (let n = 0; n < q.n; n++)
    for (let c = 0; c < q.c; c++)
      for (let i = 0; i < q.oh; i++) {
        const h0 = start(i, q.h, q.oh),
          h1 = end(i, q.h, q.oh);
        for (let j = 0; j < q.ow; j++) {
          const w0 = start(j, q.w, q.ow),
            w1 = end(j, q.w, q.ow);
          let s = 0;
          for (let a = h0; a < h1; a++) for (let b = w0; b < w1; b++) s += x[n * xn + c * xc + a * xh + b * xw];
          y[n * yn + c * yc + i * yh + j * yw] = s / ((h1 - h0) * (w1 - w0));
        }
      }
}

/** dx (overwritten): each bin's dy spread evenly over its pixels, summed where bins overlap. */
export function adaptiveAvgPoolBackward(q: AdaptiveGeometry, dy: Float32Array, dx: Float32Array): void {
  const [xn, xc, xh, xw] = strides(q, q.h, q.w),
    [yn, yc, yh, yw] = strides(q, q.oh, q.ow);
  const acc = new Float64Array(dx.length);
  for (let n = 0; n < q.n; n++)
    for (let c = 0; c < q.c; c++)
      for (let i = 0; i < q.oh; i++) {
        const h0 = start(i, q.h, q.oh),
          h1 = end(i, q.h, q.oh);
        for (let j = 0; j < q.ow; j++) {
          const w0 = start(j, q.w, q.ow),
            w1 = end(j, q.w, q.ow);
          const g = dy[n * yn + c * yc + i * yh + j * yw] / ((h1 - h0) * (w1 - w0));
          for (let a = h0; a < h1; a++) for (let b = w0; b < w1; b++) acc[n * xn + c * xc + a * xh + b * xw] += g;
        }
      }
  dx.set(acc);
}

/** The mean over PyTorch's adaptive bins, giving an output of outputSize (PyTorch's F.adaptive_avg_pool2d). */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Size2, options: AdaptivePool2dOptions = {}): Tensor {
  const where = 'F.adaptiveAvgPool2d';
  checkTensor(where, 'input', x);
  checkOptions(where, options, ['layout']);
  const layout = checkOneOf(where, 'layout', options.layout ?? 'NCHW', ['NCHW', 'NHWC'] as const);
  const q = adaptiveGeometry(where, x.shape, outputSize, layout);
  const y = out(q.shape);
  adaptiveAvgPoolForward(q, x.view(), y.view());
  return record(y, 'adaptiveAvgPool2d', [x], (gy) => {
    const g = Tensor.empty(x.shape);
    adaptiveAvgPoolBackward(q, gy.view(), g.view());
    return [g];
  });
}
