// AveragePool in ceil mode over a free height or width: the extra end rows its last windows reach,
// and the divisor of each window, depend on the input's size, so they are decided at each forward
// (the other pools' padding and divisors are fixed at load). Zero padding, a plain average over the
// padded input, then each output times kh·kw / (the pixels ONNX counts in its window).
// see: https://onnx.ai/onnx/operators/onnx__AveragePool.html (ceil_mode, count_include_pad)
import { Module, leafLayer } from '../nn/module';
import { constantPad2d } from '../nn/pad';
import { F } from '../index';
import { ceilExtra } from '../graph/shape_ops';
import { tensor, Tensor } from '../tensor';
import { checkTensor } from '../validate';

/**
 * kh·kw / count for each output position of a window `k` sliding by `s` over [h, w] padded by `p`
 * ([top, left, bottom, right], ceil mode's `extra` bottom and right rows included): count is the
 * window's pixels inside the input, or inside the input and its given pads when `include`.
 */
export function poolDivisors(
  h: number,
  w: number,
  k: readonly number[],
  s: readonly number[],
  p: readonly number[],
  include: boolean,
  extra: readonly number[],
): { rows: number; cols: number; data: Float32Array } {
  const counts = (size: number, i: number) => {
    const n = Math.floor((size + p[i] + p[i + 2] - k[i]) / s[i]) + 1;
    const lo = include ? -p[i] : 0,
      hi = include ? size + p[i + 2] - extra[i] : size;
    return Array.from({ length: n }, (_, o) => Math.min(o * s[i] - p[i] + k[i], hi) - Math.max(o * s[i] - p[i], lo));
  };
  const r = counts(h, 0),
    c = counts(w, 1);
  const data = new Float32Array(r.length * c.length);
  for (let i = 0; i < r.length; i++) for (let j = 0; j < c.length; j++) data[i * c.length + j] = (k[0] * k[1]) / (r[i] * c[j]);
  return { rows: r.length, cols: c.length, data };
}

/** An ONNX AveragePool with ceil_mode = 1 whose input's height or width is free at load: channels-first [N, C, H, W]. */
export class OnnxAvgPoolCeil extends Module {
  static readonly kind: string = 'AvgPool2d';
  /** Window height and width. */
  readonly kernelSize: readonly [number, number];
  /** Step height and width. */
  readonly stride: readonly [number, number];
  /** ONNX's pads [top, left, bottom, right]. */
  readonly pads: readonly [number, number, number, number];
  /** count_include_pad: the given pads count in each divisor (ceil mode's extra rows never do). */
  readonly countIncludePad: boolean;

  /** The attributes as the loader checked them. */
  constructor(k: [number, number], s: [number, number], pads: [number, number, number, number], countIncludePad: boolean) {
    super();
    this.kernelSize = Object.freeze(k);
    this.stride = Object.freeze(s);
    this.pads = Object.freeze(pads);
    this.countIncludePad = countIncludePad;
  }

  /** Pads for this input's size, averages, and corrects each window's divisor. */
  forward(x: Tensor): Tensor {
    checkTensor('AvgPool2d.forward', 'input', x);
    const [k, s, p] = [this.kernelSize, this.stride, this.pads];
    if (x.shape.length !== 4) throw new RangeError(`AvgPool2d.forward: input: expected [N, C, H, W], got [${x.shape.join(', ')}]`);
    const [h, w] = [x.shape[2], x.shape[3]];
    if (x.shape[1] < 1 || h < 1 || w < 1)
      throw new RangeError(
        `AvgPool2d.forward: input: expected non-zero channel, height and width in [N, C, H, W], got [${x.shape.join(', ')}]`,
      );
    // checked before the padding is made: a window must fit in the input and its given pads
    if (h + p[0] + p[2] < k[0] || w + p[1] + p[3] < k[1])
      throw new RangeError(
        `AvgPool2d.forward: input: expected a height and width of at least the window [${k.join(', ')}] less the pads (≥ [${k[0] - p[0] - p[2]}, ${k[1] - p[1] - p[3]}]), got [${x.shape.join(', ')}]`,
      );
    const extra = [ceilExtra(h, p[0], p[2], k[0], s[0]), ceilExtra(w, p[1], p[3], k[1], s[1])];
    const d = poolDivisors(h, w, k, s, [p[0], p[1], p[2] + extra[0], p[3] + extra[1]], this.countIncludePad, extra);
    // an empty batch: the output's shape, nothing to average (as MaxPool2d gives)
    if (x.shape[0] === 0) return Tensor.empty([0, x.shape[1], d.rows, d.cols]);
    const padded = constantPad2d(x, [p[1], p[3] + extra[1], p[0], p[2] + extra[0]], 0);
    const pooled = F.avgPool2d(padded, k as [number, number], { stride: s as [number, number] });
    const div = tensor(d.data, [d.rows, d.cols]);
    const y = F.mul(pooled, div);
    // nothing recorded: nothing reads them again (a recording forward leaves them to the tape and its step)
    if (y.gradFn === null) for (const t of [padded, pooled, div]) t.dispose();
    return y;
  }

  extraRepr(): string {
    return `kernel_size=(${this.kernelSize.join(', ')}), stride=(${this.stride.join(', ')}), pads=(${this.pads.join(', ')}), ceil_mode=True, count_include_pad=${this.countIncludePad ? 'True' : 'False'}`;
  }
}

leafLayer(OnnxAvgPoolCeil, true);
