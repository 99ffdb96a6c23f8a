// The activations of the mobile and ONNX-exported nets: ReLU6, Hardtanh (ONNX Clip), LeakyReLU,
// Hardswish, Hardsigmoid; and Softmax/LogSoftmax over a dimension as layers.
// see: https://pytorch.org/docs/stable/nn.html#non-linear-activations-weighted-sum-nonlinearity;
//      Howard et al. 2019, https://arxiv.org/abs/1905.02244 (hard-swish)
import { track } from '../autograd/engine';
import { clampBounds } from '../autograd/functional';
import { logSoftmax, softmax } from '../autograd/losses';
import { around, softmax as softmaxKernel, softmaxBackward } from '../kernels/softmax';
import { checkShape, Tensor } from '../tensor';
import { checkTensor, describe } from '../validate';
import { Activation } from './layers';
import { checkGradOutput } from './conv';
import { Module } from './module';

/** Throws when a parameterless activation's constructor got arguments (e.g. PyTorch's `inplace`). */
function none(where: string, args: unknown[]): void {
  if (args.length > 0) throw new TypeError(`${where}: expected no arguments, got ${args.length}`);
}

/** min(max(x, min), max) elementwise (PyTorch's nn.Hardtanh, ONNX Clip); default [−1, 1], ±Infinity for no bound. */
export class Hardtanh extends Activation {
  static readonly kind: string = 'Hardtanh';
  protected readonly act = 'clamp';
  /** The lower bound. */
  readonly minVal: number;
  /** The upper bound. */
  readonly maxVal: number;

  constructor(minVal = -1, maxVal = 1, ...rest: never[]) {
    super();
    none(this.kind, rest);
    [this.minVal, this.maxVal] = clampBounds(this.kind, minVal, maxVal);
    this.params = [this.minVal, this.maxVal];
  }

  /** `minVal=…, maxVal=…`, as PyTorch prints it. */
  extraRepr(): string {
    return `minVal=${this.minVal}, maxVal=${this.maxVal}`;
  }
}

/** min(max(x, 0), 6) elementwise (Hardtanh on [0, 6]). */
export class ReLU6 extends Activation {
  static readonly kind: string = 'ReLU6';
  protected readonly act = 'clamp';

  /** Takes no arguments. */
  constructor(...args: never[]) {
    super();
    none(this.kind, args);
    this.params = [0, 6];
  }
}

/** x > 0 ? x : negativeSlope·x elementwise (PyTorch's nn.LeakyReLU; default slope 0.01). */
export class LeakyReLU extends Activation {
  static readonly kind: string = 'LeakyReLU';
  protected readonly act = 'leakyRelu';
  /** The slope for negative inputs. */
  readonly negativeSlope: number;

  constructor(negativeSlope = 0.01, ...rest: never[]) {
    super();
    none(this.kind, rest);
    if (typeof negativeSlope !== 'number' || !Number.isFinite(negativeSlope))
      throw new TypeError(`${this.kind}: negativeSlope: expected a finite number, got ${describe(negativeSlope)}`);
    this.negativeSlope = negativeSlope;
    this.params = [negativeSlope];
  }

  /** `negativeSlope=…`, as PyTorch prints it. */
  extraRepr(): string {
    return `negativeSlope=${this.negativeSlope}`;
  }
}

/** x·relu6(x + 3)/6 elementwise. */
export class Hardswish extends Activation {
  static readonly kind: string = 'Hardswish';
  protected readonly act = 'hardswish';
}

/** relu6(x + 3)/6 elementwise: max(0, min(1, alpha·x + beta)) with PyTorch's alpha 1/6 and beta 1/2. */
export class Hardsigmoid extends Activation {
  static readonly kind: string = 'Hardsigmoid';
  protected readonly act = 'hardsigmoid';
  /** The slope, 1/6 (ONNX HardSigmoid's alpha, written by toOnnx). */
  readonly alpha: number = 1 / 6;
  /** The offset, 1/2 (ONNX HardSigmoid's beta). */
  readonly beta: number = 0.5;
}

/** (Log)softmax along one dimension as a layer; backward needs the last forward's output. */
abstract class SoftmaxBase extends Module {
  /** The dimension the (log)softmax runs along (negative counts from the end). */
  readonly dim: number;
  protected abstract readonly log: boolean;
  #out: Tensor | null = null;
  #geom: { outer: number; c: number; inner: number } | null = null;

  constructor(dim: number, ...rest: never[]) {
    super();
    none(this.kind, rest);
    if (!Number.isInteger(dim)) throw new TypeError(`${this.kind}: dim: expected an integer, got ${describe(dim)}`);
    this.dim = dim;
  }

  /** `dim=…`, as PyTorch prints it. */
  extraRepr(): string {
    return `dim=${this.dim}`;
  }

  #axis(where: string, shape: readonly number[]): number {
    const r = shape.length,
      d = this.dim < 0 ? this.dim + r : this.dim;
    if (d < 0 || d >= r)
      throw new RangeError(`${where}: dim: expected an integer in [${-r}, ${r}) for shape [${shape.join(', ')}], got ${this.dim}`);
    return d;
  }

  outputShape(shape: readonly number[]): number[] {
    const s = checkShape(`${this.kind}.forward`, shape);
    this.#axis(`${this.kind}.forward`, s);
    return s;
  }

  forward(x: Tensor): Tensor {
    const where = `${this.kind}.forward`;
    checkTensor(where, 'input', x);
    const d = this.#axis(where, x.shape);
    if (this.records(x)) {
      this.#out = null;
      return this.recorded((this.log ? logSoftmax : softmax)(x, d));
    }
    const geom = around(x.shape, d);
    const y = Tensor.empty(x.shape);
    softmaxKernel(x.ptr, y.ptr, geom.outer, geom.c, geom.inner, this.log);
    this.#out = y;
    this.#geom = geom;
    return track(y);
  }

  checkBackwardReady(): void {
    const where = `${this.kind}.backward`;
    if (this.hasRecorded()) return this.checkRecordedReady(where);
    if (this.#out === null) throw new Error(`${where}: call forward() first`);
    if (this.#out.disposed) throw new Error(`${where}: the output of the last forward() was disposed; backward needs it`);
  }

  backward(dy: Tensor): Tensor {
    const where = `${this.kind}.backward`;
    const r = this.backwardRecorded(where, dy, true);
    if (r !== undefined) return r!;
    this.checkBackwardReady();
    const y = this.#out!,
      { outer, c, inner } = this.#geom!;
    checkGradOutput(where, dy, y.shape);
    const dx = Tensor.empty(y.shape);
    softmaxBackward(y.ptr, dy.ptr, dx.ptr, outer, c, inner, this.log);
    return dx;
  }
}

/** e^x / Σ e^x along `dim` (PyTorch's nn.Softmax(dim)). */
export class Softmax extends SoftmaxBase {
  static readonly kind: string = 'Softmax';
  protected readonly log = false;
}

/** x − log Σ e^x along `dim` (PyTorch's nn.LogSoftmax(dim)). */
export class LogSoftmax extends SoftmaxBase {
  static readonly kind: string = 'LogSoftmax';
  protected readonly log = true;
}
