// Conv2d: 2-D cross-correlation as PyTorch defines it, computed as im2col + GEMM, with the weight
// stored [out, in, kh, kw] as PyTorch stores it (so state dicts load in both); backward beside forward.
// Channel-first (NCHW): per image, y_n[out, OH·OW] = W[out, in·kh·kw] · cols_n[in·kh·kw, OH·OW].
// Channels-last (NHWC): y[N·OH·OW, out] = cols[N·OH·OW, kh·kw·in] · W'ᵀ, with W' the weight
// rearranged to [out, kh, kw, in] at each forward, so a window row is one contiguous run of x.
// see: Chellapilla et al. 2006, https://inria.hal.science/inria-00112631 (convolution as a matrix
//      product); https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html (shapes, default init:
//      kaiming_uniform_(a=√5) on the weight, U(±1/√fan_in) on the bias, fan_in = in·kh·kw)
import { track } from '../autograd/engine';
import { checkShape, gradOf, Parameter, Tensor } from '../tensor';
import { slidingWindow, type Window } from '../kernels/conv';
import { defaultGenerator, Generator } from '../random';
import { checkBool, checkOneOf, checkOptions, checkTensor, describe } from '../validate';
import { kaimingUniform, uniform } from './init';
import { Allocations, checkGradOutput, checkLayerSize, Module, leafLayer } from './module';
export { checkGradOutput };
import { backwardNCHW, backwardNHWC, chunkImages, conv2d, forwardNCHW, forwardNHWC, rearranged } from '../autograd/conv_ops';
import { groupedBackward, groupedForward, groupedGeometry, groupedOutShape, type GroupedSpec } from '../autograd/conv_grouped';

export type Conv2dLayout = 'NCHW' | 'NHWC';
/** A size for both spatial axes, or [height, width]. */
export type Size2 = number | readonly [number, number];

/** Options of a Conv2d layer (PyTorch's nn.Conv2d keyword arguments). */
export interface Conv2dOptions {
  /** Step of the kernel, in pixels: one for both axes or [h, w]. Default 1. */
  stride?: Size2;
  /** Zeros added on each side, in pixels: one for both axes or [h, w]. Default 0. */
  padding?: Size2;
  /** Learn a bias per output channel. Default true. */
  bias?: boolean;
  /** Memory layout of input and output: 'NCHW' (PyTorch's, default) or 'NHWC' (channels last). */
  layout?: Conv2dLayout;
  /** Generator for the initial weights (Kaiming uniform, as PyTorch); default the global one. */
  generator?: Generator;
  /** Spacing between kernel taps, in pixels: one for both axes or [h, w]. Default 1. */
  dilation?: Size2;
  /** Channel groups (both channel counts divisible by it); groups = inChannels is a depthwise convolution. Default 1. */
  groups?: number;
}

/** Checks a `groups` argument: a positive integer dividing `outChannels`; returns it. */
export function checkGroups(where: string, groups: unknown, outChannels: number): number {
  if (!Number.isInteger(groups) || (groups as number) < 1)
    throw new (typeof groups === 'number' ? RangeError : TypeError)(
      `${where}: groups: expected a positive integer, got ${describe(groups)}`,
    );
  if (outChannels % (groups as number) !== 0)
    throw new RangeError(`${where}: groups: expected a divisor of the output channels (${outChannels}), got ${groups}`);
  return groups as number;
}

/** Reads a number or [h, w] of integers ≥ min; throws naming the argument otherwise. */
export function pair(where: string, name: string, v: unknown, min: number): [number, number] {
  const ok = (d: unknown): d is number => Number.isInteger(d) && (d as number) >= min;
  if (ok(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1])) return [v[0], v[1]];
  const got = Array.isArray(v) ? `[${v.map(describe).join(', ')}]` : describe(v);
  throw new (typeof v === 'number' || Array.isArray(v) ? RangeError : TypeError)(
    `${where}: ${name}: expected an integer ≥ ${min} or a pair [h, w] of them, got ${got}`,
  );
}

/** The sizes of a checked 2-D input and of the output. */
export interface Geometry2d {
  n: number;
  c: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
}

/**
 * Checks a rank-4 input of `layout` (with `channels` channels, when given) against a kernel, stride
 * and padding; returns its geometry. N may be 0; C, H and W may not (as in PyTorch).
 */
export function checkInput2d(
  where: string,
  x: unknown,
  layout: Conv2dLayout,
  channels: number | null,
  k: readonly number[],
  s: readonly number[],
  p: readonly number[],
): Geometry2d {
  return checkShape2d(where, checkTensor(where, 'input', x).shape, layout, channels, k, s, p);
}

/** As checkInput2d, for the shape alone (what a forward would get). */
export function checkShape2d(
  where: string,
  shape: readonly number[],
  layout: Conv2dLayout,
  channels: number | null,
  k: readonly number[],
  s: readonly number[],
  p: readonly number[],
): Geometry2d {
  const dims = checkShape(where, shape);
  const nchw = layout === 'NCHW';
  const cs = channels === null ? 'C' : String(channels);
  const want = nchw ? `[N, ${cs}, H, W]` : `[N, H, W, ${cs}]`;
  const got = `[${dims.join(', ')}]`;
  if (dims.length !== 4) throw new RangeError(`${where}: input: expected a rank-4 ${layout} tensor ${want}, got ${got}`);
  const [n, c, h, w] = nchw ? dims : [dims[0], dims[3], dims[1], dims[2]];
  if (channels !== null && c !== channels)
    throw new RangeError(`${where}: input: expected a rank-4 ${layout} tensor with ${channels} channels ${want}, got ${got}`);
  if (c < 1 || h < 1 || w < 1) throw new RangeError(`${where}: input: expected non-zero channel, height and width in ${want}, got ${got}`);
  const ph = h + 2 * p[0],
    pw = w + 2 * p[1];
  if (ph < k[0] || pw < k[1]) {
    throw new RangeError(
      `${where}: input: expected a padded size (H + 2·${p[0]}) × (W + 2·${p[1]}) of at least the kernel ${k[0]}×${k[1]}, got ${got} (padded ${ph}×${pw})`,
    );
  }
  return { n, c, h, w, oh: Math.floor((ph - k[0]) / s[0]) + 1, ow: Math.floor((pw - k[1]) / s[1]) + 1 };
}

/** Floats of im2col columns per NHWC chunk: bounds the buffer (and WASM memory, which never shrinks). */

/** 2-D convolution (PyTorch's nn.Conv2d, with groups and dilation): y = x ⋆ weight + bias, over NCHW or NHWC input. */
export class Conv2d extends Module {
  static readonly kind: string = 'Conv2d';
  /** Channels of the input (C_in). */
  readonly inChannels: number;
  /** Channels of the output (C_out), one filter each. */
  readonly outChannels: number;
  /** Kernel height and width, in pixels. */
  readonly kernelSize: readonly [number, number];
  /** Step of the kernel along height and width, in pixels. */
  readonly stride: readonly [number, number];
  /** Zeros added on each side along height and width, in pixels. */
  readonly padding: readonly [number, number];
  /** Memory layout of input and output: 'NCHW' or 'NHWC'. */
  readonly layout: Conv2dLayout;
  /** Spacing between kernel taps along height and width, in pixels. */
  readonly dilation: readonly [number, number];
  /** Channel groups: each output channel sees C_in/groups input channels. */
  readonly groups: number;
  /** The filters, f32 [C_out, C_in/groups, kh, kw] (PyTorch's layout, whatever the input layout). */
  readonly weight: Parameter;
  /** Bias per output channel, f32 [C_out]; null when options.bias is false. */
  readonly bias: Parameter | null;
  #input: Tensor | null = null;
  #geom: Geometry2d | null = null;
  /** The sliding window over the last forward's input. */
  #win: Window | null = null;
  /** NHWC: the weight as [out, kh, kw, in], refreshed by every forward (null until needed). */
  #wT: Tensor | null = null;

  constructor(inChannels: number, outChannels: number, kernelSize: Size2, options: Conv2dOptions = {}) {
    super();
    const where = 'Conv2d';
    for (const [name, v] of [
      ['inChannels', inChannels],
      ['outChannels', outChannels],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${where}: ${name}: expected a positive integer, got ${describe(v)}`);
    }
    const k = pair(where, 'kernelSize', kernelSize, 1);
    checkOptions(where, options, ['stride', 'padding', 'bias', 'layout', 'generator', 'dilation', 'groups']);
    const s = pair(where, 'stride', options.stride ?? 1, 1);
    const p = pair(where, 'padding', options.padding ?? 0, 0);
    const d = pair(where, 'dilation', options.dilation ?? 1, 1);
    const groups = checkGroups(where, options.groups ?? 1, outChannels);
    if (inChannels % groups !== 0)
      throw new RangeError(`${where}: groups: expected a divisor of the input channels (${inChannels}), got ${groups}`);
    const cg = inChannels / groups;
    const hasBias = checkBool(where, 'bias', options.bias ?? true);
    const layout = checkOneOf(where, 'layout', options.layout ?? 'NCHW', ['NCHW', 'NHWC'] as const);
    const gen = options.generator ?? defaultGenerator;
    if (!(gen instanceof Generator)) throw new TypeError(`${where}: generator: expected a Generator, got ${describe(gen)}`);
    // the weight, the bias and their gradients, and the NHWC forward's rearranged copy of the weight
    const wFloats = outChannels * cg * k[0] * k[1];
    checkLayerSize(
      where,
      `outChannels × inChannels${groups === 1 ? '' : '/groups'} × kh × kw = ${outChannels} × ${cg} × ${k[0]} × ${k[1]}`,
      wFloats,
      (layout === 'NHWC' ? 3 : 2) * wFloats + (hasBias ? 2 * outChannels : 0),
    );
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = Object.freeze(k);
    this.stride = Object.freeze(s);
    this.padding = Object.freeze(p);
    this.dilation = Object.freeze(d);
    this.groups = groups;
    this.layout = layout;
    const made = new Allocations();
    try {
      this.weight = made.add(new Parameter([outChannels, cg, k[0], k[1]], 0, `${where}: weight`));
      this.bias = hasBias ? made.add(new Parameter([outChannels], 0, `${where}: bias`)) : null;
    } catch (e) {
      throw made.free(e);
    }
    kaimingUniform(this.weight, Math.sqrt(5), gen);
    const bound = 1 / Math.sqrt(cg * k[0] * k[1]);
    if (this.bias) uniform(this.bias, -bound, bound, gen);
  }

  protected ownParameters(): [string, Parameter][] {
    return this.bias
      ? [
          ['weight', this.weight],
          ['bias', this.bias],
        ]
      : [['weight', this.weight]];
  }

  /** The grouped or dilated convolution this layer computes; null for the dense one (groups = dilation = 1). */
  get #spec(): GroupedSpec | null {
    if (this.groups === 1 && this.dilation[0] === 1 && this.dilation[1] === 1) return null;
    const { outChannels, inChannels, kernelSize, stride, padding, dilation, groups, layout } = this;
    return { outChannels, inChannels, kernelSize, stride, padding, dilation, groups, layout };
  }

  /** The printed settings: PyTorch's, with dilation and groups where they are not 1 (as PyTorch prints them). */
  extraRepr(): string {
    const extra = this.dilation.some((d) => d !== 1) ? [`dilation=(${this.dilation.join(', ')})`] : [];
    if (this.groups !== 1) extra.push(`groups=${this.groups}`);
    return [super.extraRepr(), ...extra].join(', ');
  }

  /** A 1×1 kernel with stride 1 and no padding: the input is its own column matrix. */
  get #pointwise(): boolean {
    const [kh, kw] = this.kernelSize,
      [sh, sw] = this.stride,
      [ph, pw] = this.padding;
    return kh === 1 && kw === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0;
  }

  /** NHWC needs W' = W rearranged to [out, kh, kw, in] unless one of in and kh·kw is 1. */
  get #rearranged(): boolean {
    return this.inChannels > 1 && this.kernelSize[0] * this.kernelSize[1] > 1;
  }

  #outShape(g: Geometry2d): number[] {
    return this.layout === 'NCHW' ? [g.n, this.outChannels, g.oh, g.ow] : [g.n, g.oh, g.ow, this.outChannels];
  }

  /** Images per NHWC chunk of im2col columns (at least one). */
  #chunk(g: Geometry2d): number {
    return chunkImages(g, g.oh * g.ow, this.inChannels * this.kernelSize[0] * this.kernelSize[1]);
  }

  outputShape(shape: readonly number[]): number[] {
    const spec = this.#spec;
    if (spec) return groupedOutShape(spec, groupedGeometry('Conv2d.forward', spec, shape));
    return this.#outShape(checkShape2d('Conv2d.forward', shape, this.layout, this.inChannels, this.kernelSize, this.stride, this.padding));
  }

  checkBackwardReady(where = 'Conv2d.backward'): void {
    if (this.hasRecorded()) return this.checkRecordedReady(where);
    this.checkUsable(where);
    const x = this.#input;
    if (x === null || this.#geom === null) throw new Error(`${where}: call forward() first`);
    if (x.disposed) throw new Error(`${where}: the input of the last forward() was disposed; backward needs it`);
  }

  /** x [N, in, H, W] (NCHW) or [N, H, W, in] (NHWC) → y [N, out, OH, OW] or [N, OH, OW, out]. */
  forward(x: Tensor): Tensor {
    const where = 'Conv2d.forward';
    const spec = this.#spec;
    const g = spec
      ? groupedGeometry(where, spec, x)
      : checkInput2d(where, x, this.layout, this.inChannels, this.kernelSize, this.stride, this.padding);
    this.checkUsable(where);
    if (this.records(x)) {
      this.#input = null;
      const { stride, padding, layout, dilation, groups } = this;
      return this.recorded(conv2d(x, this.weight, this.bias, { stride, padding, layout, ...(spec ? { dilation, groups } : {}) }));
    }
    if (spec) {
      const y = Tensor.empty(groupedOutShape(spec, g));
      try {
        groupedForward(spec, g, x, this.weight, this.bias, y);
      } catch (e) {
        y.dispose();
        throw e;
      }
      this.#input = x;
      this.#geom = g;
      return track(y);
    }
    const win = slidingWindow(this.kernelSize, this.stride, this.padding, g);
    const y = Tensor.empty(this.#outShape(g));
    try {
      if (g.n > 0) {
        const pw = this.#pointwise;
        if (this.layout === 'NCHW') forwardNCHW(g, win, x, this.weight, this.bias, y, pw);
        else forwardNHWC(g, win, x, !pw && this.#rearranged ? this.#refreshWT() : this.weight, this.bias, y, pw, this.#chunk(g));
      }
    } catch (e) {
      y.dispose();
      throw e;
    }
    this.#input = x;
    this.#geom = g;
    this.#win = win;
    return track(y);
  }

  /** Copies the weight [out, in, kh, kw] into the cached W' [out, kh, kw, in]. */
  #refreshWT(): Tensor {
    this.#wT = rearranged(this.weight, this.#wT);
    return this.#wT;
  }

  /** dW += ∂L/∂W, db += ∂L/∂b from dy of the last forward; returns dx (col2im of Wᵀ·dy). */
  backward(dy: Tensor): Tensor {
    return this.#backward('Conv2d.backward', dy, true)!;
  }

  /** dW += ∂L/∂W, db += ∂L/∂b, without dx. */
  backwardParams(dy: Tensor): void {
    this.#backward('Conv2d.backwardParams', dy, false);
  }

  #backward(where: string, dy: Tensor, inputGrad: boolean): Tensor | null {
    const r = this.backwardRecorded(where, dy, inputGrad);
    if (r !== undefined) return r;
    this.checkBackwardReady(where);
    const x = this.#input!,
      g = this.#geom!,
      win = this.#win!,
      spec = this.#spec;
    checkGradOutput(where, dy, this.#outShape(g));
    // the gradients (allocated at their first need) and dx before any is added to; a frozen weight's
    // goes to a temporary, as on the tape (the kernels compute it beside dx), and a frozen bias gets none
    const db = gradOf(this.bias),
      own = gradOf(this.weight);
    const dw = own ?? Tensor.full(this.weight.shape, 0);
    let dx: Tensor | null = null;
    try {
      dx = inputGrad ? Tensor._empty(x.shape) : null;
      if (spec) groupedBackward(spec, g, x, this.weight, dy, dx, dw, db);
      else if (g.n > 0) {
        const pw = this.#pointwise,
          re = this.#rearranged;
        if (this.layout === 'NCHW') backwardNCHW(g, win, x, this.weight, dy, dx, dw, db, pw);
        // the forward that saved x also refreshed W'
        else backwardNHWC(g, win, x, re ? this.#wT! : this.weight, dy, dx, dw, db, pw, this.#chunk(g), re);
      }
    } catch (e) {
      dx?.dispose();
      throw e;
    } finally {
      if (own === null) dw.dispose();
    }
    return dx;
  }

  dispose(): void {
    super.dispose();
    this.#wT?.dispose();
    this.#wT = null;
    this.#input = null;
    this.#geom = null;
    this.#win = null;
  }
}

leafLayer(Conv2d);
