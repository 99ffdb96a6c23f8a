// The base of every layer: parameters, state under PyTorch's dotted state_dict names, train/eval,
// and the forward/backward pair (each layer's backward sits beside its forward).
// see: https://github.com/karpathy/micrograd/blob/master/micrograd/nn.py (Module);
//      https://pytorch.org/docs/stable/generated/torch.nn.Module.html (state_dict, load_state_dict)
import { Parameter, sameShape, Tensor } from '../tensor';
import { isGradEnabled, letGo, type GradFn } from '../autograd/engine';
import * as ew from '../kernels/elementwise';
import { reprOf, settingsOf, summaryOf } from './summary';
import { planForward } from '../train/infer';
import { checkBool, checkOptions, checkTensor, describe, kindOf } from '../validate';
import { loadState } from './state_dict';

/**
 * Throws unless dy is a tensor of `shape`, the shape of the last forward's output; the error names
 * it as the last `like`'s (a layer whose output has its input's shape says 'input').
 */
export function checkGradOutput(where: string, dy: unknown, shape: readonly number[], like: 'input' | 'output' = 'output'): Tensor {
  const t = checkTensor(where, 'gradOutput', dy);
  if (!sameShape(t.shape, shape)) {
    throw new RangeError(`${where}: gradOutput: expected shape [${shape.join(', ')}] (the last ${like}'s), got [${t.shape.join(', ')}]`);
  }
  return t;
}

/** One entry of a module's state: a tensor (parameter or buffer) or a counter. */
export type StateEntry = { name: string; tensor: Tensor } | { name: string; count: () => number; setCount: (v: number) => void };

/** A module's state as stateDict() returns it: PyTorch's dotted names to f32 tensors (flat) and counters. */
export type StateDict = Record<string, Float32Array | number>;
type Values = Float32Array | Float64Array | readonly number[];
/** What loadStateDict() takes: the same names, values as Float32Array, Float64Array, number[], or a number/bigint counter. */
export type StateDictInput = Record<string, Values | number | bigint>;

export { Allocations, checkLayerSize, saveBuffers } from './allocations';

/** The package's layer classes without child modules, and those also without Parameter fields. */
const LEAF_CLASSES = new WeakSet<object>(),
  PARAMLESS_CLASSES = new WeakSet<object>();

/**
 * @internal Marks the package's layer class `cls` as holding no child modules (and, with
 * `paramless`, no Parameter fields): children() and ownParameters() then skip the walk over the
 * fields that every training forward would repeat, for instances of exactly `cls` (a user's
 * subclass still has its fields walked).
 */
export function leafLayer(cls: { prototype: object }, paramless = false): void {
  freesItself(cls);
  LEAF_CLASSES.add(cls);
  if (paramless) PARAMLESS_CLASSES.add(cls);
}

/** Forwards that free their own intermediates under noGrad (one op each, or Sequential's chain): not planned. */
const SELF_FREEING = new WeakSet<object>();

/** @internal Marks `cls`'s forward as freeing its own intermediates: its instances' forward is not wrapped by planForward. */
export function freesItself(cls: { prototype: object }): void {
  SELF_FREEING.add((cls.prototype as { forward: object }).forward);
}

/** @internal True for an instance of exactly one of the package's leaf layer classes (see leafLayer). */
export function isLeafLayer(m: Module): boolean {
  return LEAF_CLASSES.has(m.constructor);
}

/**
 * The base of every layer (PyTorch's nn.Module): parameters and sub-modules found from its fields,
 * stateDict, train/eval, forward/backward.
 */
export abstract class Module {
  /** The public class name that error messages start with (minifiers rename classes, not strings). */
  static readonly kind: string = 'Module';
  /**
   * A subclass's forward called under noGrad frees each intermediate at its last use, learnt from its
   * first call per input shape and mode (see docs/autograd.md, Memory). Set `static planInference = false`
   * on a subclass whose forward takes another path for the same shapes (a branch on data or on outside
   * state): its intermediates are then freed when the noGrad scope ends.
   */
  static planInference = true;
  /** True in training mode (batch statistics, dropout on); false after eval(). */
  training = true;
  /** The op the last forward recorded on the tape, for a backward(dy) after it; null when it did not record. */
  #recordedFn: GradFn | null = null;
  #recordedShape: readonly number[] = [];
  /** Set when backward(dy) ran a recorded op: this module is driven by hand and records no more. */
  #manual = false;
  /** A leaf layer's own tensors and parameters, found once (its fields are fixed; see leafLayer). */
  #leaf: { tensors: Tensor[]; params: Parameter[] } | null = null;

  constructor() {
    // PyTorch plans nothing: reference counts free a tensor at its last use; here a forward is
    // wrapped so its first call under noGrad learns the last uses (src/autograd/plan.ts)
    const cls = new.target as typeof Module;
    const forward = cls.prototype.forward as object;
    if (cls.planInference && !SELF_FREEING.has(forward)) {
      Object.defineProperty(this, 'forward', { value: planForward(forward as Module['forward']), writable: true, configurable: true });
    }
  }

  /** This layer's public name for error messages (see `Module.kind`), looked up once: every call names itself. */
  protected get kind(): string {
    return (this.#kind ??= kindOf(this.constructor));
  }
  #kind: string | undefined;

  /**
   * The shape forward() would return for an input of `shape`, throwing the error forward() would
   * throw for it, without touching any state. null: this layer cannot tell (a user's layer that
   * does not override it); Sequential then checks the layers after it in their own forward.
   */
  outputShape(_shape: readonly number[]): number[] | null {
    return null;
  }

  /**
   * Throws the error backward() would throw before it adds to any gradient: no forward() yet, a
   * tensor the last forward() saved was disposed, the layer was disposed. Sequential checks every
   * layer with it before the first backward runs, so a throwing backward changes no gradient.
   */
  checkBackwardReady(): void {}

  /**
   * y = f(x). y belongs to the enclosing noGrad scope or, after the first loss.backward(), to the
   * training step (as every op's output); otherwise, and after keep(), the caller frees it.
   */
  abstract forward(x: Tensor): Tensor;
  /**
   * dL/dx from dL/dy of the last forward; adds to the parameters' gradients. The caller owns dx.
   * The package's layers have it; a model written with `F` ops gets its gradients from
   * `loss.backward()` instead.
   */
  backward(dy: Tensor): Tensor {
    void dy;
    throw new Error(
      `${this.kind}.backward: this module has no manual backward; compute a loss from its forward with F ops and call loss.backward()`,
    );
  }

  /**
   * True when a forward on `x` records on the tape: recording is on (outside noGrad and fit), and x
   * requires a gradient or, in training mode, a parameter does. An eval-mode forward on data records
   * nothing (inference), but passes gradients on when its input comes from recorded ops. A module
   * whose backward(dy) was called runs its own saved-state path from then on (the tape is not needed).
   */
  protected records(x: Tensor): boolean {
    const r = !this.#manual && isGradEnabled() && (x.requiresGrad || (this.training && this.#paramRequiresGrad()));
    if (!r) this.#forget();
    return r;
  }

  #paramRequiresGrad(): boolean {
    const leaf = this.#leafState();
    return leaf === null ? this.ownParameters().some(([, p]) => p.requiresGrad) : leaf.params.some((p) => p.requiresGrad);
  }

  /** A leaf layer's own tensors and parameters, listed once (checked on every call); null for other modules. */
  #leafState(): { tensors: Tensor[]; params: Parameter[] } | null {
    if (this.#leaf === null && LEAF_CLASSES.has(this.constructor)) {
      const tensors = this.ownState().flatMap((e) => ('tensor' in e ? [e.tensor] : []));
      this.#leaf = { tensors, params: this.ownParameters().map(([, p]) => p) };
    }
    return this.#leaf;
  }

  /** Holds y's recorded op (until the next forward) for a backward(dy) after this forward; returns y. */
  protected recorded(y: Tensor): Tensor {
    this.#forget();
    const fn = y.gradFn;
    if (fn !== null) {
      fn.holds = (fn.holds ?? 1) + 1;
      this.#recordedFn = fn;
      this.#recordedShape = y.shape;
    }
    return y;
  }

  /** Lets go of the op the last forward recorded. */
  #forget(): void {
    if (this.#recordedFn !== null) letGo(this.#recordedFn);
    this.#recordedFn = null;
  }

  /** True when the last forward recorded an op that has not run or been freed (backward(dy) runs it). */
  protected hasRecorded(): boolean {
    return this.#recordedFn !== null && !this.#recordedFn.done;
  }

  /** Throws what backward(dy) would throw for the recorded op of the last forward. */
  protected checkRecordedReady(where: string): void {
    this.checkUsable(where);
    const x = this.#recordedFn?.inputs[0];
    if (x?.disposed) throw new Error(`${where}: the input of the last forward() was disposed; backward needs it`);
  }

  /**
   * Throws what backward(dy) would before it runs: the recorded op's checks when the last forward
   * recorded, else those of the input it saved (`x`, null before any forward).
   */
  protected checkSavedReady(where: string, x: Tensor | null): void {
    if (this.hasRecorded()) return this.checkRecordedReady(where);
    this.checkUsable(where);
    if (x === null) throw new Error(`${where}: call forward() first`);
    if (x.disposed) throw new Error(`${where}: the input of the last forward() was disposed; backward needs it`);
  }

  /**
   * backward(dy) after a recorded forward: runs the recorded op, adds its parameters' gradients to
   * their .grad and returns dL/dx (null unless `inputGrad`); the module records no more forwards. dy must have the shape of the last output (named in the error
   * as the last `like`'s, the layer's own wording). Undefined when the last forward did not record.
   */
  protected backwardRecorded(
    where: string,
    dy: Tensor,
    inputGrad: boolean,
    like: 'input' | 'output' = 'output',
  ): Tensor | null | undefined {
    const fn = this.#recordedFn;
    if (fn === null || fn.done) return undefined;
    checkTensor(where, 'gradOutput', dy);
    this.checkRecordedReady(where);
    checkGradOutput(where, dy, this.#recordedShape, like);
    this.#manual = true;
    // the parameters' gradients are allocated (at their first need) before any is added to
    for (const t of fn.inputs) if (t instanceof Parameter && t.requiresGrad) void t.grad;
    const gis = fn.backward(dy, inputGrad);
    let dx: Tensor | null = null;
    fn.inputs.forEach((t, k) => {
      const g = gis[k];
      if (g === null || g === undefined) return;
      if (k === 0 && inputGrad) dx = g;
      else {
        if (t instanceof Parameter && t.requiresGrad) ew.binary('add', t.grad.ptr, g.ptr, t.grad.ptr, 1, g.size);
        g.dispose();
      }
    });
    // the layer keeps holding the op until its next forward: backward(dy) may run again, as the saved-state path allows
    return dx;
  }

  /**
   * Adds to the parameters' gradients as backward(dy) does, without dL/dx: what the first layer of a
   * model needs (its input is data). Layers whose dx is a separate product skip it (Linear and
   * Conv2d: a third of their backward); the others compute it and free it.
   */
  backwardParams(dy: Tensor): void {
    this.backward(dy).dispose();
  }

  /**
   * Child modules by name, found in the fields as PyTorch's Module finds them: a module field
   * `conv1`, an array field `layers` (`layers.0`, `layers.1`, …), a plain object field `heads`
   * (`heads.left`, …). Sequential names its children '0', '1', ….
   */
  children(): [string, Module][] {
    if (LEAF_CLASSES.has(this.constructor)) return [];
    return fieldsOf(this, (v): v is Module => v instanceof Module);
  }

  /** This module's own parameters by name (its Parameter fields, in arrays and plain objects too). */
  protected ownParameters(): [string, Parameter][] {
    if (PARAMLESS_CLASSES.has(this.constructor)) return [];
    return fieldsOf(this, (v): v is Parameter => v instanceof Parameter);
  }

  /** This module's own state entries, parameters first (not its children's). */
  protected ownState(): StateEntry[] {
    return this.ownParameters().map(([name, tensor]) => ({ name, tensor }));
  }

  /** Every parameter with its dotted name. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const own = this.ownParameters().map(([n, p]): [string, Parameter] => [prefix + n, p]);
    return own.concat(...this.children().map(([n, m]) => m.namedParameters(`${prefix}${n}.`)));
  }

  /** Every parameter, in state_dict order. */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Sets every gradient to zero (one not allocated yet stays so: it is zero when first read). */
  zeroGrad(): void {
    for (const p of this.parameters()) p._grad?.view().fill(0);
  }

  /** Training mode for this module and its children. Returns this. */
  train(mode = true): this {
    checkBool(`${this.kind}.train`, 'mode', mode);
    this.training = mode;
    for (const [, m] of this.children()) m.train(mode);
    return this;
  }

  /** Evaluation mode. Returns this. */
  eval(): this {
    return this.train(false);
  }

  /**
   * @internal The state entries a forward may move (all but the parameters), this module's then its
   * children's, unnamed: saveBuffers runs on every training forward of a Sequential, so no names are built.
   */
  _movable(out: StateEntry[] = []): StateEntry[] {
    for (const e of this.ownState()) if (!('tensor' in e) || !(e.tensor instanceof Parameter)) out.push(e);
    for (const [, m] of this.children()) m._movable(out);
    return out;
  }

  /** All state entries with dotted names, this module's first. */
  stateEntries(prefix = ''): StateEntry[] {
    const own = this.ownState().map((e) => ({ ...e, name: prefix + e.name }));
    return own.concat(...this.children().map(([n, m]) => m.stateEntries(`${prefix}${n}.`)));
  }

  /** Copies of the state under PyTorch's state_dict names. */
  stateDict(): StateDict {
    const sd: StateDict = {};
    for (const e of this.stateEntries()) sd[e.name] = 'tensor' in e ? e.tensor.toArray() : e.count();
    return sd;
  }

  /** Loads a state dict; every name, length and type is checked before anything is written. */
  loadStateDict(state: StateDictInput, options: { strict?: boolean } = {}): void {
    const where = `${this.kind}.loadStateDict`;
    if (state === null || typeof state !== 'object') throw new TypeError(`${where}: state: expected an object, got ${describe(state)}`);
    checkOptions(where, options, ['strict']);
    const strict = checkBool(where, 'strict', options.strict === undefined ? true : options.strict);
    loadState(this, where, state, strict);
  }

  /** Throws if this module or a child can no longer be used (disposed, or another backend). */
  checkUsable(where: string): void {
    const leaf = this.#leafState();
    if (leaf !== null) {
      for (const t of leaf.tensors) {
        if (t.disposed) throw new Error(`${where}: the layer was disposed`);
        checkTensor(where, 'this (the layer)', t);
      }
      return;
    }
    for (const e of this.ownState()) {
      if (!('tensor' in e)) continue;
      if (e.tensor.disposed) throw new Error(`${where}: the layer was disposed`);
      checkTensor(where, 'this (the layer)', e.tensor);
    }
    for (const [, m] of this.children()) m.checkUsable(where);
  }

  /** This module's settings in its printed line (PyTorch's extra_repr): override to show your own. */
  extraRepr(): string {
    return settingsOf(this);
  }

  /** The module as PyTorch prints it: `Net(\n  (conv1): Conv2d(inChannels=1, …)\n  …\n)`. */
  toString(): string {
    return reprOf(
      this,
      (m) => kindOf(m.constructor),
      (m) => m.extraRepr(),
    );
  }

  /** Node's console.log and util.inspect print toString(). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  /**
   * A table of every module (dotted name, kind, own parameter count) and the totals; with
   * `inputShape` (batch included), each module's output shape from one forward on zeros in eval mode
   * under noGrad (no state moves).
   */
  summary(inputShape?: readonly number[]): string {
    return summaryOf(this, (m) => kindOf(m.constructor), inputShape);
  }

  /** Frees this module's memory (parameters with their gradients, buffers) and its children's. */
  dispose(): void {
    this.#forget();
    for (const e of this.ownState()) if ('tensor' in e) e.tensor.dispose();
    for (const [, m] of this.children()) m.dispose();
  }
}

/** The values of `obj`'s own fields that pass `is`, by dotted name, one level into arrays and plain objects. */
// see: https://github.com/pytorch/pytorch/blob/main/torch/nn/modules/module.py (__setattr__ registers submodules)
function fieldsOf<T>(obj: object, is: (v: unknown) => v is T): [string, T][] {
  const found: [string, T][] = [];
  // Object.keys, not entries, and primitives skipped first: every forward walks the fields (checkUsable, records)
  for (const key of Object.keys(obj)) {
    const v: unknown = (obj as Record<string, unknown>)[key];
    if (v === null || typeof v !== 'object') continue;
    if (is(v)) found.push([key, v]);
    else if (Array.isArray(v)) v.forEach((e, i) => is(e) && found.push([`${key}.${i}`, e]));
    else if (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null) {
      for (const [k, e] of Object.entries(v)) if (is(e)) found.push([`${key}.${k}`, e]);
    }
  }
  return found;
}
