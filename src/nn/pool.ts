// MaxPool2d and AvgPool2d with PyTorch's defaults (stride = kernel size, no padding, floor-mode
// output size; padding at most half the kernel; averages count the padding as zeros). Channel-first
// input is passed to the kernels as N·C single-channel images, which is the same memory.
// see: https://pytorch.org/docs/stable/generated/torch.nn.MaxPool2d.html;
//      https://pytorch.org/docs/stable/generated/torch.nn.AvgPool2d.html
import { track } from '../autograd/engine';
import { Tensor } from '../tensor';
import { runtime } from '../runtime/index';
import { I32Block } from '../runtime/block';
import { slidingWindow, type Window } from '../kernels/conv';
import { avgPool2d, avgPool2dBackward, avgPool2dExclude, avgPool2dExcludeBackward, maxPool2d, maxPool2dBackward } from '../kernels/pool';
import { checkBool, checkOneOf, checkOptions, kindOf } from '../validate';
import { checkGradOutput, checkInput2d, checkShape2d, pair, type Conv2dLayout, type Geometry2d, type Size2 } from './conv';
import { Module, leafLayer } from './module';
import { avgPool2d as avgPoolOp, maxPool2d as maxPoolOp } from '../autograd/conv_ops';

/** Options of MaxPool2d and AvgPool2d. */
export interface Pool2dOptions {
  /** Default: the kernel size. */
  stride?: Size2;
  /** Implicit padding on each side, in pixels: left out of a max, counted as zeros in an average. Default 0. */
  padding?: Size2;
  /** Memory layout of input and output: 'NCHW' (default) or 'NHWC'. */
  layout?: Conv2dLayout;
}

/** Options of AvgPool2d. */
export interface AvgPool2dOptions extends Pool2dOptions {
  /** Count the padding's zeros in each window's divisor (PyTorch's count_include_pad). Default true. */
  countIncludePad?: boolean;
}

/** Sizes as the kernels take them: n images of h×w with c channels last. */
interface Planes {
  n: number;
  h: number;
  w: number;
  c: number;
  oh: number;
  ow: number;
}

/** What MaxPool2d and AvgPool2d share: a window of kernelSize sliding by stride over the padded input. */
abstract class Pool2d extends Module {
  /** Window height and width, in pixels. */
  readonly kernelSize: readonly [number, number];
  /** Step of the window along height and width, in pixels (default the kernel size). */
  readonly stride: readonly [number, number];
  /** Implicit padding on each side along height and width, in pixels. */
  readonly padding: readonly [number, number];
  /** Memory layout of input and output: 'NCHW' or 'NHWC'. */
  readonly layout: Conv2dLayout;
  /** Input shape and sizes of the last forward. */
  protected saved: { shape: readonly number[]; out: readonly number[]; p: Planes; win: Window } | null = null;

  constructor(kernelSize: Size2, options: Pool2dOptions, keys: readonly string[] = []) {
    super();
    const where = kindOf(new.target);
    const k = pair(where, 'kernelSize', kernelSize, 1);
    checkOptions(where, options, ['stride', 'padding', 'layout', ...keys]);
    const s = options.stride === undefined || options.stride === null ? k : pair(where, 'stride', options.stride, 1);
    const p = pair(where, 'padding', options.padding ?? 0, 0);
    if (2 * p[0] > k[0] || 2 * p[1] > k[1]) {
      throw new RangeError(
        `${where}: padding: expected at most half the kernel size ${k[0]}×${k[1]} (≤ [${k[0] >> 1}, ${k[1] >> 1}]), got [${p[0]}, ${p[1]}]`,
      );
    }
    this.layout = checkOneOf(where, 'layout', options.layout ?? 'NCHW', ['NCHW', 'NHWC'] as const);
    this.kernelSize = Object.freeze(k);
    this.stride = Object.freeze(s);
    this.padding = Object.freeze(p);
  }

  /** Checks x; returns its sizes for the kernels and the output shape. */
  protected geometry(where: string, x: unknown): { p: Planes; win: Window; out: number[] } {
    return this.planes(checkInput2d(where, x, this.layout, null, this.kernelSize, this.stride, this.padding));
  }

  outputShape(shape: readonly number[]): number[] {
    return this.planes(checkShape2d(`${this.kind}.forward`, shape, this.layout, null, this.kernelSize, this.stride, this.padding)).out;
  }

  checkBackwardReady(): void {
    if (this.hasRecorded()) return this.checkRecordedReady(`${this.kind}.backward`);
    if (this.saved === null) throw new Error(`${this.kind}.backward: call forward() first`);
  }

  /** The op's options, for a forward that records on the tape. */
  protected get options(): { stride: [number, number]; padding: [number, number]; layout: Conv2dLayout } {
    return { stride: [...this.stride], padding: [...this.padding], layout: this.layout };
  }

  /** A checked geometry as the kernels take it, and the output shape. */
  protected planes(g: Geometry2d): { p: Planes; win: Window; out: number[] } {
    const nchw = this.layout === 'NCHW';
    return {
      p: nchw ? { n: g.n * g.c, h: g.h, w: g.w, c: 1, oh: g.oh, ow: g.ow } : { n: g.n, h: g.h, w: g.w, c: g.c, oh: g.oh, ow: g.ow },
      win: slidingWindow(this.kernelSize, this.stride, this.padding, g),
      out: nchw ? [g.n, g.c, g.oh, g.ow] : [g.n, g.oh, g.ow, g.c],
    };
  }

  /** The saved sizes; throws unless a forward came first and dy has its output's shape. */
  protected checkBackward(where: string, dy: unknown): { shape: readonly number[]; p: Planes; win: Window } {
    const s = this.saved;
    if (s === null) throw new Error(`${where}: call forward() first`);
    checkGradOutput(where, dy, s.out);
    return s;
  }
}

/** The maximum of each window; backward sends each gradient to the (first) maximum's position. */
export class MaxPool2d extends Pool2d {
  static readonly kind: string = 'MaxPool2d';
  /** The argmax (iy·w + ix) per output of the last forward. */
  #idx: I32Block | null = null;

  constructor(kernelSize: Size2, options: Pool2dOptions = {}) {
    super(kernelSize, options);
  }

  /** x [N, C, H, W] (NCHW) or [N, H, W, C] (NHWC) → y [N, C, OH, OW] or [N, OH, OW, C]. */
  forward(x: Tensor): Tensor {
    const { p, win, out } = this.geometry('MaxPool2d.forward', x);
    if (this.records(x)) {
      this.saved = null;
      return this.recorded(maxPoolOp(x, [...this.kernelSize], this.options));
    }
    const y = Tensor.empty(out);
    let idx: I32Block;
    try {
      idx = new I32Block(y.size);
    } catch (e) {
      y.dispose();
      throw e;
    }
    maxPool2d(x.ptr, y.ptr, idx.ptr, p.n, p.h, p.w, p.c, win);
    this.#idx?.dispose();
    this.#idx = idx;
    this.saved = { shape: x.shape, out, p, win };
    return track(y);
  }

  checkBackwardReady(): void {
    super.checkBackwardReady();
    if (this.hasRecorded()) return;
    const idx = this.#idx!;
    if (idx.runtime !== runtime())
      throw new Error(
        `MaxPool2d.backward: the last forward() ran on backend '${idx.runtime.name}', but the active backend is '${runtime().name}'`,
      );
  }

  /** dx: zero except dx[argmax] += dy, window by window. */
  backward(dy: Tensor): Tensor {
    const r = this.backwardRecorded('MaxPool2d.backward', dy, true);
    if (r !== undefined) return r!;
    const { shape, p } = this.checkBackward('MaxPool2d.backward', dy);
    this.checkBackwardReady();
    const idx = this.#idx!;
    const dx = Tensor.empty(shape);
    maxPool2dBackward(dy.ptr, idx.ptr, dx.ptr, p.n, p.h * p.w, p.c, p.oh * p.ow);
    return dx;
  }

  dispose(): void {
    super.dispose();
    this.#idx?.dispose();
    this.#idx = null;
    this.saved = null;
  }
}

/** The mean of each window, padding counted as zeros (count_include_pad = True) unless countIncludePad is false. */
export class AvgPool2d extends Pool2d {
  static readonly kind: string = 'AvgPool2d';
  /** Whether the padding's zeros count in each window's divisor (false: the pixels inside the input only). */
  readonly countIncludePad: boolean;

  constructor(kernelSize: Size2, options: AvgPool2dOptions = {}) {
    super(kernelSize, options, ['countIncludePad']);
    this.countIncludePad = checkBool(this.kind, 'countIncludePad', options.countIncludePad ?? true);
  }

  protected get options(): { stride: [number, number]; padding: [number, number]; layout: Conv2dLayout; countIncludePad: boolean } {
    return { ...super.options, countIncludePad: this.countIncludePad };
  }

  /** x [N, C, H, W] (NCHW) or [N, H, W, C] (NHWC) → y [N, C, OH, OW] or [N, OH, OW, C]. */
  forward(x: Tensor): Tensor {
    const { p, win, out } = this.geometry('AvgPool2d.forward', x);
    if (this.records(x)) {
      this.saved = null;
      return this.recorded(avgPoolOp(x, [...this.kernelSize], this.options));
    }
    const y = Tensor.empty(out);
    (this.countIncludePad ? avgPool2d : avgPool2dExclude)(x.ptr, y.ptr, p.n, p.h, p.w, p.c, win);
    this.saved = { shape: x.shape, out, p, win };
    return track(y);
  }

  /** dx: each dy / its window's divisor added over its window. */
  backward(dy: Tensor): Tensor {
    const r = this.backwardRecorded('AvgPool2d.backward', dy, true);
    if (r !== undefined) return r!;
    const { shape, p, win } = this.checkBackward('AvgPool2d.backward', dy);
    const dx = Tensor.empty(shape);
    (this.countIncludePad ? avgPool2dBackward : avgPool2dExcludeBackward)(dy.ptr, dx.ptr, p.n, p.h, p.w, p.c, win);
    return dx;
  }

  dispose(): void {
    super.dispose();
    this.saved = null;
  }
}

for (const cls of [MaxPool2d, AvgPool2d]) leafLayer(cls, true);
