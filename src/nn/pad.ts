// ConstantPad2d and ZeroPad2d: PyTorch's padding layers for the last two dimensions, with per-side
// sizes [left, right, top, bottom]. The loader puts one before a Conv or a pool whose ONNX pads are
// not symmetric (TF exports, auto_pad SAME with even kernels), so that the conv and pool kernels keep
// their one padding per axis. The copy runs over the backend's views, the same code for every
// backend (a copy has no arithmetic to keep bit-identical between twins).
// see: https://pytorch.org/docs/stable/generated/torch.nn.ConstantPad2d.html;
//      https://onnx.ai/onnx/operators/onnx__Pad.html
import { track } from '../autograd/engine';
import { out, record } from '../autograd/functional';
import { checkShape, Tensor } from '../tensor';
import { checkTensor, describe } from '../validate';
import { checkGradOutput } from './conv';
import { Module, leafLayer } from './module';

/** Padding per side of the last two dimensions: [left, right, top, bottom]. */
export type Padding4 = readonly [number, number, number, number];

/** The padding as [left, right, top, bottom]: one integer ≥ 0 for all four sides, or four of them. */
export function padding4(where: string, v: unknown): [number, number, number, number] {
  const ok = (d: unknown): d is number => Number.isInteger(d) && (d as number) >= 0;
  if (ok(v)) return [v, v, v, v];
  if (Array.isArray(v) && v.length === 4 && v.every(ok)) return [v[0], v[1], v[2], v[3]];
  const got = Array.isArray(v) ? `[${v.map((d) => (typeof d === 'number' ? String(d) : describe(d))).join(', ')}]` : describe(v);
  throw new (typeof v === 'number' || Array.isArray(v) ? RangeError : TypeError)(
    `${where}: padding: expected an integer ≥ 0 or [left, right, top, bottom] of them, got ${got}`,
  );
}

/** The padded shape: the last two dimensions grow by top + bottom and left + right. */
function paddedShape(where: string, shape: readonly number[], p: Padding4): number[] {
  const s = checkShape(where, shape);
  if (s.length < 2) throw new RangeError(`${where}: input: expected rank ≥ 2 ([…, H, W]), got [${s.join(', ')}]`);
  const r = s.length;
  return [...s.slice(0, r - 2), s[r - 2] + p[2] + p[3], s[r - 1] + p[0] + p[1]];
}

/** Copies each of `planes` h×w planes of x into the middle of y's planes, filling the border with `value`. */
function padPlanes(x: Float32Array, y: Float32Array, planes: number, h: number, w: number, p: Padding4, value: number): void {
  const [l, r, t, b] = p;
  const ow = w + l + r,
    oh = h + t + b;
  y.fill(value);
  for (let i = 0; i < planes; i++)
    for (let row = 0; row < h; row++) {
      const src = (i * h + row) * w;
      y.set(x.subarray(src, src + w), (i * oh + t + row) * ow + l);
    }
}

/** The gradient of padPlanes: dx is the middle of each of dy's planes. */
function cropPlanes(dy: Float32Array, dx: Float32Array, planes: number, h: number, w: number, p: Padding4): void {
  const [l, r, t, b] = p;
  const ow = w + l + r,
    oh = h + t + b;
  for (let i = 0; i < planes; i++)
    for (let row = 0; row < h; row++) {
      const src = (i * oh + t + row) * ow + l;
      dx.set(dy.subarray(src, src + w), (i * h + row) * w);
    }
}

const planesOf = (shape: readonly number[]) => shape.slice(0, -2).reduce((a, b) => a * b, 1);

/** x padded on its last two dimensions with `value` (PyTorch's F.pad, mode 'constant'); the gradient is the middle of dy. */
export function constantPad2d(x: Tensor, padding: unknown, value = 0): Tensor {
  const where = 'F.constantPad2d';
  checkTensor(where, 'input', x);
  const p = padding4(where, padding);
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`${where}: value: expected a number, got ${describe(value)}`);
  const shape = paddedShape(where, x.shape, p);
  const [h, w] = x.shape.slice(-2);
  const y = out(shape);
  padPlanes(x.view(), y.view(), planesOf(x.shape), h, w, p, value);
  return record(y, 'constantPad2d', [x], (gy) => {
    const g = Tensor.empty(x.shape);
    cropPlanes(gy.view(), g.view(), planesOf(x.shape), h, w, p);
    return [g];
  });
}

/** Pads the last two dimensions with a constant (PyTorch's nn.ConstantPad2d); padding is [left, right, top, bottom]. */
export class ConstantPad2d extends Module {
  static readonly kind: string = 'ConstantPad2d';
  /** Pixels added on each side: [left, right, top, bottom]. */
  readonly padding: Padding4;
  /** The value of the added pixels (−Infinity before a max pool). */
  readonly value: number;
  #shape: readonly number[] | null = null;

  /** `padding`: one integer ≥ 0 for every side, or [left, right, top, bottom]; `value`: any number but NaN. */
  constructor(padding: number | readonly number[], value: number, ...rest: never[]) {
    super();
    if (rest.length > 0) throw new TypeError(`${this.kind}: expected 2 arguments, got ${2 + rest.length}`);
    this.padding = Object.freeze(padding4(this.kind, padding));
    if (typeof value !== 'number' || Number.isNaN(value))
      throw new TypeError(`${this.kind}: value: expected a number, got ${describe(value)}`);
    this.value = value;
  }

  /** x [..., H, W] → y [..., top + H + bottom, left + W + right]. */
  forward(x: Tensor): Tensor {
    const where = `${this.kind}.forward`;
    checkTensor(where, 'input', x);
    const shape = this.outputShape(x.shape);
    if (this.records(x)) {
      this.#shape = null;
      return this.recorded(constantPad2d(x, this.padding, this.value));
    }
    const y = Tensor._empty(shape);
    const [h, w] = x.shape.slice(-2);
    padPlanes(x.view(), y.view(), planesOf(x.shape), h, w, this.padding, this.value);
    this.#shape = x.shape;
    return track(y);
  }

  outputShape(shape: readonly number[]): number[] {
    return paddedShape(`${this.kind}.forward`, shape, this.padding);
  }

  checkBackwardReady(): void {
    if (this.hasRecorded()) return this.checkRecordedReady(`${this.kind}.backward`);
    if (this.#shape === null) throw new Error(`${this.kind}.backward: call forward() first`);
  }

  /** dx: the middle of dy (the padding's gradient goes nowhere). */
  backward(dy: Tensor): Tensor {
    const where = `${this.kind}.backward`;
    const r = this.backwardRecorded(where, dy, true);
    if (r !== undefined) return r!;
    this.checkBackwardReady();
    const shape = this.#shape!;
    checkGradOutput(where, dy, this.outputShape(shape));
    const dx = Tensor._empty(shape);
    const [h, w] = shape.slice(-2);
    cropPlanes(dy.view(), dx.view(), planesOf(shape), h, w, this.padding);
    return dx;
  }

  /** `padding=[…], value=…`, as PyTorch prints it. */
  extraRepr(): string {
    return `padding=[${this.padding.join(', ')}], value=${this.value}`;
  }
}

/** Pads the last two dimensions with zeros (PyTorch's nn.ZeroPad2d); padding is [left, right, top, bottom]. */
export class ZeroPad2d extends ConstantPad2d {
  static readonly kind: string = 'ZeroPad2d';

  /** `padding`: one integer ≥ 0 for every side, or [left, right, top, bottom]. */
  constructor(padding: number | readonly number[], ...rest: never[]) {
    if (rest.length > 0) throw new TypeError(`ZeroPad2d: expected 1 argument, got ${1 + rest.length}`);
    super(padding, 0);
  }

  /** `padding=[…]`, as PyTorch prints it. */
  extraRepr(): string {
    return `padding=[${this.padding.join(', ')}]`;
  }
}

for (const cls of [ConstantPad2d, ZeroPad2d]) leafLayer(cls, true);
