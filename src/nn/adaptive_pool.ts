// AdaptiveAvgPool2d: average pooling to a fixed output size whatever the input size (PyTorch's
// nn.AdaptiveAvgPool2d); outputSize 1 is global average pooling. The bins are F.adaptiveAvgPool2d's.
// see: https://pytorch.org/docs/stable/generated/torch.nn.AdaptiveAvgPool2d.html
import { track } from '../autograd/engine';
import {
  adaptiveAvgPool2d,
  adaptiveAvgPoolBackward,
  adaptiveAvgPoolForward,
  adaptiveGeometry,
  type AdaptiveGeometry,
} from '../autograd/adaptive_pool';
import { Tensor } from '../tensor';
import { checkOneOf, checkOptions, checkTensor } from '../validate';
import { checkGradOutput, pair, type Conv2dLayout, type Size2 } from './conv';
import { Module } from './module';

/** Options of AdaptiveAvgPool2d. */
export interface AdaptivePool2dLayerOptions {
  /** Memory layout of input and output: 'NCHW' (default) or 'NHWC'. */
  layout?: Conv2dLayout;
}

/** x [N, C, H, W] (or NHWC) → the mean of each adaptive bin, [N, C, oh, ow]. */
export class AdaptiveAvgPool2d extends Module {
  static readonly kind: string = 'AdaptiveAvgPool2d';
  /** Output height and width. */
  readonly outputSize: readonly [number, number];
  /** Memory layout of input and output. */
  readonly layout: Conv2dLayout;
  #geom: AdaptiveGeometry | null = null;

  constructor(outputSize: Size2, options: AdaptivePool2dLayerOptions = {}) {
    super();
    this.outputSize = Object.freeze(pair(this.kind, 'outputSize', outputSize, 1));
    checkOptions(this.kind, options, ['layout']);
    this.layout = checkOneOf(this.kind, 'layout', options.layout ?? 'NCHW', ['NCHW', 'NHWC'] as const);
  }

  /** `outputSize=(oh, ow), layout='…'`. */
  extraRepr(): string {
    return `outputSize=(${this.outputSize.join(', ')}), layout='${this.layout}'`;
  }

  outputShape(shape: readonly number[]): number[] {
    return adaptiveGeometry(`${this.kind}.forward`, shape, [...this.outputSize], this.layout).shape;
  }

  forward(x: Tensor): Tensor {
    const where = `${this.kind}.forward`;
    checkTensor(where, 'input', x);
    const q = adaptiveGeometry(where, x.shape, [...this.outputSize], this.layout);
    if (this.records(x)) {
      this.#geom = null;
      return this.recorded(adaptiveAvgPool2d(x, [...this.outputSize], { layout: this.layout }));
    }
    const y = Tensor.empty(q.shape);
    adaptiveAvgPoolForward(q, x.view(), y.view());
    this.#geom = q;
    return track(y);
  }

  checkBackwardReady(): void {
    const where = `${this.kind}.backward`;
    if (this.hasRecorded()) return this.checkRecordedReady(where);
    if (this.#geom === null) throw new Error(`${where}: call forward() first`);
  }

  /** dx: each output's gradient spread evenly over its bin (the input itself is not needed). */
  backward(dy: Tensor): Tensor {
    const where = `${this.kind}.backward`;
    const r = this.backwardRecorded(where, dy, true);
    if (r !== undefined) return r!;
    this.checkBackwardReady();
    const q = this.#geom!;
    checkGradOutput(where, dy, q.shape);
    const dx = Tensor.empty(q.nchw ? [q.n, q.c, q.h, q.w] : [q.n, q.h, q.w, q.c]);
    adaptiveAvgPoolBackward(q, dy.view(), dx.view());
    return dx;
  }
}
