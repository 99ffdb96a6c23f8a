// Linear: y = x·Wᵀ + b, with W [out, in] as PyTorch stores it; backward beside forward.
// see: https://pytorch.org/docs/stable/generated/torch.nn.Linear.html (default init:
//      kaiming_uniform_(a=√5) for W, U(±1/√in) for b)
import { track } from '../autograd/engine';
import { checkShape, gradOf, Parameter, Tensor } from '../tensor';
import { matmul } from '../kernels/gemm';
import { addColumnSums } from '../kernels/reduce';
import { defaultGenerator, Generator } from '../random';
import { checkBool, checkOptions, checkTensor, describe } from '../validate';
import { kaimingUniform, uniform } from './init';
import { linearChecked } from '../autograd/nn_ops';
import { Allocations, checkLayerSize, Module, leafLayer } from './module';

/** Options of a Linear layer. */
export interface LinearOptions {
  /** Learn an additive bias per output feature. Default true. */
  bias?: boolean;
  /** Generator for the initial weight and bias (Kaiming uniform, as PyTorch); default the global one. */
  generator?: Generator;
}

/** Fully connected layer y = x·weightᵀ + bias over input [N, inFeatures] (PyTorch's nn.Linear). */
export class Linear extends Module {
  static readonly kind: string = 'Linear';
  /** Features per input row. */
  readonly inFeatures: number;
  /** Features per output row. */
  readonly outFeatures: number;
  /** f32 [outFeatures, inFeatures], PyTorch's layout. */
  readonly weight: Parameter;
  /** f32 [outFeatures]; null when options.bias is false. */
  readonly bias: Parameter | null;
  #input: Tensor | null = null;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    const where = 'Linear';
    for (const [name, v] of [
      ['inFeatures', inFeatures],
      ['outFeatures', outFeatures],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${where}: ${name}: expected a positive integer, got ${describe(v)}`);
    }
    checkOptions(where, options, ['bias', 'generator']);
    const hasBias = checkBool(where, 'bias', options.bias ?? true);
    const gen = options.generator ?? defaultGenerator;
    if (!(gen instanceof Generator)) throw new TypeError(`${where}: generator: expected a Generator, got ${describe(gen)}`);
    // the weight, the bias and their gradients
    checkLayerSize(
      where,
      `inFeatures × outFeatures = ${inFeatures} × ${outFeatures}`,
      inFeatures * outFeatures,
      2 * (inFeatures + (hasBias ? 1 : 0)) * outFeatures,
    );
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const made = new Allocations();
    try {
      this.weight = made.add(new Parameter([outFeatures, inFeatures], 0, `${where}: weight`));
      this.bias = hasBias ? made.add(new Parameter([outFeatures], 0, `${where}: bias`)) : null;
    } catch (e) {
      throw made.free(e);
    }
    kaimingUniform(this.weight, Math.sqrt(5), gen);
    if (this.bias) uniform(this.bias, -1 / Math.sqrt(inFeatures), 1 / Math.sqrt(inFeatures), gen);
  }

  protected ownParameters(): [string, Parameter][] {
    return this.bias
      ? [
          ['weight', this.weight],
          ['bias', this.bias],
        ]
      : [['weight', this.weight]];
  }

  /** x [N, in] → y [N, out]. */
  forward(x: Tensor): Tensor {
    const where = 'Linear.forward';
    checkTensor(where, 'input', x);
    // the shape's error from outputShape, without its copy of the shape on every call
    if (x.shape.length !== 2 || x.shape[1] !== this.inFeatures) this.outputShape(x.shape);
    this.checkUsable(where);
    if (this.records(x)) {
      this.#input = null;
      return this.recorded(linearChecked(x, this.weight, this.bias));
    }
    const n = x.shape[0];
    const y = Tensor._empty(Object.freeze([n, this.outFeatures]));
    try {
      matmul(x.ptr, this.weight.ptr, y.ptr, n, this.outFeatures, this.inFeatures, { transB: true, bias: this.bias ? this.bias.ptr : 0 });
    } catch (e) {
      y.dispose(); // the product's workspace could not be had
      throw e;
    }
    this.#input = x;
    return track(y);
  }

  outputShape(shape: readonly number[]): number[] {
    const where = 'Linear.forward';
    const s = checkShape(where, shape);
    if (s.length !== 2 || s[1] !== this.inFeatures)
      throw new RangeError(`${where}: input: expected [N, ${this.inFeatures}], got [${s.join(', ')}]`);
    return [s[0], this.outFeatures];
  }

  checkBackwardReady(where = 'Linear.backward'): void {
    if (this.hasRecorded()) return this.checkRecordedReady(where);
    this.checkUsable(where);
    const x = this.#input;
    if (x === null) throw new Error(`${where}: call forward() first`);
    if (x.disposed) throw new Error(`${where}: the input of the last forward() was disposed; backward needs it`);
  }

  /** dW += dyᵀ·x, db += Σ_rows dy; returns dx = dy·W. */
  backward(dy: Tensor): Tensor {
    return this.#backward('Linear.backward', dy, true)!;
  }

  /** dW += dyᵀ·x, db += Σ_rows dy, without dx. */
  backwardParams(dy: Tensor): void {
    this.#backward('Linear.backwardParams', dy, false);
  }

  #backward(where: string, dy: Tensor, inputGrad: boolean): Tensor | null {
    const r = this.backwardRecorded(where, dy, inputGrad);
    if (r !== undefined) return r;
    this.checkBackwardReady(where);
    const x = this.#input!;
    checkTensor(where, 'gradOutput', dy);
    const n = x.shape[0];
    if (dy.shape.length !== 2 || dy.shape[0] !== n || dy.shape[1] !== this.outFeatures) {
      throw new RangeError(`${where}: gradOutput: expected [${n}, ${this.outFeatures}], got [${dy.shape.join(', ')}]`);
    }
    // the gradients (allocated at their first need; none for a frozen parameter) and dx first: what
    // can fail (an allocation) fails before any gradient is added to
    const dw = gradOf(this.weight),
      db = gradOf(this.bias);
    const dx = inputGrad ? Tensor._empty(Object.freeze([n, this.inFeatures])) : null;
    try {
      if (dx) matmul(dy.ptr, this.weight.ptr, dx.ptr, n, this.inFeatures, this.outFeatures);
      if (dw) matmul(dy.ptr, x.ptr, dw.ptr, this.outFeatures, this.inFeatures, n, { transA: true, beta: 1 });
    } catch (e) {
      dx?.dispose();
      throw e;
    }
    if (db) addColumnSums(dy.ptr, n, this.outFeatures, db.ptr);
    return dx;
  }

  dispose(): void {
    super.dispose();
    this.#input = null;
  }
}

leafLayer(Linear);
