// Elementwise activations, Flatten and Sequential; each backward sits beside its forward.
// see: https://github.com/karpathy/micrograd/blob/master/micrograd/nn.py;
//      https://pytorch.org/docs/stable/generated/torch.nn.Sequential.html
import { inInference, track } from '../autograd/engine';
import { checkShape, sameShape, type Parameter, Tensor } from '../tensor';
import { activationBackward, activationForward, mulElementwise, SAVES, type ActivationKind } from '../kernels/activations';
import { checkOptions, checkTensor, checkUnit, describe } from '../validate';
import { defaultGenerator, Generator } from '../random';
import { checkGradOutput, Module, saveBuffers, leafLayer, isLeafLayer, freesItself, type StateEntry } from './module';
import { activation, reshape } from '../autograd/functional';
import { dropout } from '../autograd/conv_ops';

/** y = f(x) elementwise; the backward needs x (ReLU) or y (sigmoid, tanh) of the last forward. */
export abstract class Activation extends Module {
  #saved: Tensor | null = null;
  protected abstract readonly act: ActivationKind;
  /** The kernel's scalars (Hardtanh's bounds, LeakyReLU's slope); set by a subclass's constructor. */
  protected params: readonly number[] = [];

  /** Takes no arguments: one given is a mistake (e.g. PyTorch's `inplace`), not silently ignored. */
  constructor(...args: never[]) {
    super();
    if (args.length > 0) throw new TypeError(`${this.kind}: expected no arguments, got ${args.length}`);
  }

  forward(x: Tensor): Tensor {
    const where = `${this.kind}.forward`;
    checkTensor(where, 'input', x);
    if (this.records(x)) {
      this.#saved = null;
      return this.recorded(activation(this.act, x, this.params));
    }
    const y = Tensor._empty(x.shape);
    activationForward(this.act, x.ptr, y.ptr, x.size, this.params);
    this.#saved = SAVES[this.act] === 'input' ? x : y;
    return track(y);
  }

  outputShape(shape: readonly number[]): number[] {
    return checkShape(`${this.kind}.forward`, shape);
  }

  checkBackwardReady(): void {
    const where = `${this.kind}.backward`;
    if (this.hasRecorded()) return this.checkRecordedReady(where);
    const s = this.#saved;
    if (s === null) throw new Error(`${where}: call forward() first`);
    if (s.disposed) throw new Error(`${where}: the ${SAVES[this.act]} of the last forward() was disposed; backward needs it`);
  }

  backward(dy: Tensor): Tensor {
    const where = `${this.kind}.backward`;
    const r = this.backwardRecorded(where, dy, true);
    if (r !== undefined) return r!;
    this.checkBackwardReady();
    const s = this.#saved!;
    checkTensor(where, 'gradOutput', dy);
    if (!sameShape(dy.shape, s.shape)) {
      throw new RangeError(
        `${where}: gradOutput: expected shape [${s.shape.join(', ')}] (the last output's), got [${dy.shape.join(', ')}]`,
      );
    }
    const dx = Tensor._empty(s.shape);
    activationBackward(this.act, s.ptr, dy.ptr, dx.ptr, s.size, this.params);
    return dx;
  }
}

/** max(x, 0). */
export class ReLU extends Activation {
  static readonly kind: string = 'ReLU';
  protected readonly act = 'relu';
}

/** 1 / (1 + e^(−x)). */
export class Sigmoid extends Activation {
  static readonly kind: string = 'Sigmoid';
  protected readonly act = 'sigmoid';
}

/** tanh(x). */
export class Tanh extends Activation {
  static readonly kind: string = 'Tanh';
  protected readonly act = 'tanh';
}

/**
 * Zeroes each element with probability p in training and scales the rest by 1/(1 − p); identity in
 * eval. The mask comes from a seeded generator (the default one unless given).
 * see: Srivastava et al. 2014, https://jmlr.org/papers/v15/srivastava14a.html
 */
export class Dropout extends Module {
  static readonly kind: string = 'Dropout';
  /** Probability of zeroing an element, in [0, 1]. */
  readonly p: number;
  /** Where the masks come from. */
  readonly generator: Generator;
  #mask: Tensor | null = null;

  constructor(p = 0.5, options: { generator?: Generator } = {}) {
    super();
    this.p = checkUnit('Dropout', 'p', p);
    if (this.p === 1) throw new RangeError('Dropout: p: expected a number in [0, 1), got number 1');
    checkOptions('Dropout', options, ['generator']);
    const gen = options.generator ?? defaultGenerator;
    if (!(gen instanceof Generator)) throw new TypeError(`Dropout: generator: expected a Generator, got ${describe(gen)}`);
    this.generator = gen;
  }

  outputShape(shape: readonly number[]): number[] {
    return checkShape('Dropout.forward', shape);
  }

  forward(x: Tensor): Tensor {
    checkTensor('Dropout.forward', 'input', x);
    if (this.records(x)) {
      const y = this.recorded(dropout(x, this.p, { training: this.training, generator: this.generator }));
      this.#mask?.dispose();
      this.#mask = null;
      return y;
    }
    const y = Tensor.empty(x.shape);
    let mask: Tensor | null = null;
    if (this.training && this.p !== 0) {
      try {
        mask = Tensor.empty(x.shape);
      } catch (e) {
        y.dispose();
        throw e;
      }
    }
    // the last forward's mask goes only once this one cannot fail
    this.#mask?.dispose();
    this.#mask = null;
    if (mask === null) {
      y.view().set(x.view());
      return track(y);
    }
    const m = mask.view(),
      keep = 1 / (1 - this.p);
    for (let i = 0; i < m.length; i++) m[i] = this.generator.uniform() < this.p ? 0 : keep;
    mulElementwise(x.ptr, mask.ptr, y.ptr, x.size);
    this.#mask = mask;
    return track(y);
  }

  backward(dy: Tensor): Tensor {
    const r = this.backwardRecorded('Dropout.backward', dy, true, 'input');
    if (r !== undefined) return r!;
    const mask = this.#mask;
    if (mask === null) checkTensor('Dropout.backward', 'gradOutput', dy);
    else checkGradOutput('Dropout.backward', dy, mask.shape, 'input');
    const dx = Tensor.empty(dy.shape);
    if (mask === null) dx.view().set(dy.view());
    else mulElementwise(dy.ptr, mask.ptr, dx.ptr, dy.size);
    return dx;
  }

  dispose(): void {
    super.dispose();
    this.#mask?.dispose();
    this.#mask = null;
  }
}

/** [N, d1, d2, …] → [N, d1·d2·…] (a copy, so the caller owns it as any other output). */
export class Flatten extends Module {
  static readonly kind: string = 'Flatten';
  #shape: readonly number[] | null = null;

  /** Flattens all but the batch dimension and takes no arguments (F.flatten takes start and end dims). */
  constructor(...args: never[]) {
    super();
    if (args.length > 0) throw new TypeError(`Flatten: expected no arguments, got ${args.length}`);
  }

  forward(x: Tensor): Tensor {
    checkTensor('Flatten.forward', 'input', x);
    const shape = this.outputShape(x.shape);
    if (this.records(x)) {
      this.#shape = null;
      return this.recorded(reshape(x, shape));
    }
    const y = Tensor.empty(shape);
    y.view().set(x.view());
    this.#shape = x.shape;
    return track(y);
  }

  outputShape(shape: readonly number[]): number[] {
    const s = checkShape('Flatten.forward', shape);
    if (s.length < 1) throw new RangeError(`Flatten.forward: input: expected rank ≥ 1, got []`);
    return [s[0], s.slice(1).reduce((a, b) => a * b, 1)];
  }

  checkBackwardReady(): void {
    if (this.hasRecorded()) return this.checkRecordedReady('Flatten.backward');
    if (this.#shape === null) throw new Error('Flatten.backward: call forward() first');
  }

  backward(dy: Tensor): Tensor {
    const r = this.backwardRecorded('Flatten.backward', dy, true);
    if (r !== undefined) return r!;
    this.checkBackwardReady();
    checkTensor('Flatten.backward', 'gradOutput', dy);
    const shape = this.#shape!;
    const size = shape.reduce((a, b) => a * b, 1);
    if (dy.size !== size) throw new RangeError(`Flatten.backward: gradOutput: expected ${size} values, got [${dy.shape.join(', ')}]`);
    const dx = Tensor.empty(shape);
    dx.view().set(dy.view());
    return dx;
  }
}

/** True when `m` or a layer inside it trains: its forward may move running statistics. */
function anyTraining(m: Module): boolean {
  if (m.training) return true;
  // a Sequential's layers without the named pairs children() builds (this runs on every forward)
  return m instanceof Sequential ? m.layers.some(anyTraining) : m.children().some(([, c]) => anyTraining(c));
}

/**
 * Layers applied in order. It owns the intermediate outputs of the last forward (freed at the next
 * forward or dispose) and the intermediate gradients of a backward (freed as soon as used).
 */
export class Sequential extends Module {
  static readonly kind: string = 'Sequential';
  /** The layers in the order forward applies them. */
  readonly layers: readonly Module[];
  #outputs: Tensor[] = [];
  /** The running statistics and counters a forward may move (the layers are fixed), and their copy's buffer. */
  #movable: StateEntry[] | null = null;
  #scratch = { buf: new Float32Array(0) };
  /** The input shape and layer modes the whole chain last accepted. */
  #accepted: string | null = null;
  /** Every layer is one of the package's (their settings fixed), so an accepted shape stays accepted. */
  readonly #leafChain: boolean;
  /** The output of the last forward when it recorded on the tape (its op owns the intermediates). */
  #recordedOutput: Tensor | null = null;

  constructor(...layers: Module[]) {
    super();
    if (layers.length === 0) throw new RangeError('Sequential: expected at least one layer');
    layers.forEach((l, i) => {
      if (!(l instanceof Module)) throw new TypeError(`Sequential: layer ${i}: expected a Module, got ${describe(l)}`);
    });
    this.layers = Object.freeze([...layers]);
    this.#leafChain = this.layers.every(isLeafLayer);
  }

  children(): [string, Module][] {
    return this.layers.map((l, i): [string, Module] => [String(i), l]);
  }

  /** None of its own (its layers hold them); a subclass's Parameter fields are still found. */
  protected ownParameters(): [string, Parameter][] {
    return this.constructor === Sequential ? [] : super.ownParameters();
  }

  /**
   * Checks the whole chain (every layer's shape, every layer usable) before the first layer runs,
   * so a layer that would reject its input throws before an earlier one moves its state.
   */
  forward(x: Tensor): Tensor {
    checkTensor('Sequential.forward', 'input', x);
    // a chain of the package's layers accepts a shape in a mode once for all (their settings are fixed)
    const key = this.#leafChain ? `${x.shape.join(',')}|${this.layers.map((l) => (l.training ? 1 : 0)).join('')}` : null;
    if (key === null || key !== this.#accepted) this.outputShape(x.shape);
    this.#accepted = key;
    this.checkUsable('Sequential.forward');
    this.#release();
    // what can still fail (an allocation) puts back the running statistics moved before it; in
    // eval no layer moves any, and inference skips the copy
    const restore = anyTraining(this) ? saveBuffers(this, this.#scratch, (this.#movable ??= this._movable())) : null;
    const made: Tensor[] = [];
    let cur = x;
    const early = inInference();
    try {
      // under noGrad no backward follows: each intermediate goes once the next layer has read it, so
      // peak memory is the largest input + output pair, not the sum of all activations
      this.layers.forEach((layer, i) => {
        const y = layer.forward(cur);
        if (early) {
          if (cur !== x && cur !== y) cur.dispose();
        } else if (i < this.layers.length - 1) made.push(y);
        cur = y;
      });
    } catch (e) {
      if (early && cur !== x) cur.dispose();
      for (const t of made) t.dispose();
      restore?.();
      throw e;
    }
    const fn = cur.gradFn;
    if (fn !== null && !fn.done) {
      // recorded: the intermediates are reachable only through the output's graph, and go with it
      // (freed by its backward, or when the output is disposed or its training step ends)
      fn.owns = [...(fn.owns ?? []), ...made];
      this.#recordedOutput = cur;
    } else this.#outputs = made;
    return cur;
  }

  /** The last layer's output shape (null when a layer cannot tell); throws the error a layer's forward would. */
  outputShape(shape: readonly number[]): number[] | null {
    let s: number[] | null = checkShape('Sequential.forward', shape);
    for (const layer of this.layers) {
      s = layer.outputShape(s);
      if (s === null) return null;
    }
    return s;
  }

  checkBackwardReady(): void {
    for (const layer of this.layers) layer.checkBackwardReady();
  }

  // Every layer is checked before the first backward runs: a throw then leaves every gradient as it was.
  backward(dy: Tensor): Tensor {
    checkTensor('Sequential.backward', 'gradOutput', dy);
    this.checkBackwardReady();
    const owned = this.#takeRecorded();
    try {
      const g = this.#backTo(1, dy);
      try {
        return this.layers[0].backward(g);
      } finally {
        if (g !== dy) g.dispose();
      }
    } finally {
      this.#outputs.push(...owned);
    }
  }

  /** As backward, without dL/dx of the first layer (Linear and Conv2d then skip that product). */
  backwardParams(dy: Tensor): void {
    checkTensor('Sequential.backwardParams', 'gradOutput', dy);
    this.checkBackwardReady();
    const owned = this.#takeRecorded();
    try {
      const g = this.#backTo(1, dy);
      try {
        this.layers[0].backwardParams(g);
      } finally {
        if (g !== dy) g.dispose();
      }
    } finally {
      this.#outputs.push(...owned);
    }
  }

  /**
   * backward(dy) after a recorded forward: the intermediates go back from the output's op to this
   * Sequential (the layers' ops, run by hand, must not free them on the way), freed at the next forward.
   */
  #takeRecorded(): Tensor[] {
    const fn = this.#recordedOutput?.gradFn;
    this.#recordedOutput = null;
    if (fn === null || fn === undefined || fn.done || fn.owns === undefined) return [];
    const owned = fn.owns;
    fn.owns = undefined;
    return owned;
  }

  /** Runs the layers after `first` backward; returns dL/d(input of layer `first`), dy itself if none ran. */
  #backTo(first: number, dy: Tensor): Tensor {
    let g = dy;
    try {
      for (let i = this.layers.length - 1; i >= first; i--) {
        const gx = this.layers[i].backward(g);
        if (g !== dy) g.dispose();
        g = gx;
      }
    } catch (e) {
      if (g !== dy) g.dispose();
      throw e;
    }
    return g;
  }

  #release(): void {
    for (const t of this.#outputs) t.dispose();
    this.#outputs = [];
    this.#recordedOutput = null;
  }

  dispose(): void {
    this.#release();
    super.dispose();
  }
}

for (const cls of [ReLU, Sigmoid, Tanh, Dropout, Flatten]) leafLayer(cls, true);
freesItself(Sequential);
