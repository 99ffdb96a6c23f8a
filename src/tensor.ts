// A Tensor is a handle over f32 values that live in the active backend's memory (pointer + shape).
// Kernels on tensors read and write that memory directly: no copies between JS and WASM.
// see: https://github.com/scijs/ndarray (a flat buffer viewed through a shape)
import { runtime, type Runtime } from './runtime/index';
import { describe } from './validate';
import { letGo, runBackward, scoped, track, untrack, type GradFn } from './autograd/engine';
import { noteUse, planning } from './autograd/plan';
import { arena, arenaEmpty } from './graph/arena';
import * as ew from './kernels/elementwise';

const disposeSymbol: typeof Symbol.dispose =
  (Symbol as { dispose?: typeof Symbol.dispose }).dispose ?? (Symbol.for('Symbol.dispose') as typeof Symbol.dispose);

interface Held {
  rt: Runtime;
  ptr: number;
}
// Frees the memory of tensors that are garbage-collected without dispose(). Registered without an
// unregister token (dispose() zeroes the held pointer instead: a token costs a map entry per
// register and a lookup per unregister), and in batches: a new tensor waits in `pending` until 64
// have been made or the current task ends, and only those not disposed by then are registered.
// Most tensors of a training step or a layer call are disposed sooner and never cost V8 a weak
// cell, which was most of a small call's time beyond its kernel (allocation and collection).
const registry =
  typeof FinalizationRegistry === 'function'
    ? new FinalizationRegistry<Held>((h) => {
        if (h.ptr !== 0) h.rt.k.free(h.ptr);
      })
    : null;
const PENDING_MAX = 64;
const pending: Tensor[] = [];
/** A registration of `pending` is queued for the end of the current task (one at a time). */
let queued = false;
const later: (fn: () => void) => void = typeof queueMicrotask === 'function' ? queueMicrotask : (fn) => void Promise.resolve().then(fn);

const HOOKS = {
  ones: (t: Tensor) => Tensor.full(t.shape, 1),
  zeros: (t: Tensor) => Tensor.full(t.shape, 0),
  addInto: (dst: Tensor, src: Tensor) => ew.binary('add', dst.ptr, src.ptr, dst.ptr, 1, dst.size),
};

/** An n-dimensional f32 array in the active backend's memory, with autograd (PyTorch's torch.Tensor); free it with dispose() or `using`. */
export class Tensor {
  /** Size of each dimension, outermost first (row-major, contiguous). */
  readonly shape: readonly number[];
  /** Number of elements: the product of shape (1 for a scalar). */
  readonly size: number;
  #rt: Runtime;
  #ptr: number;
  #held: Held | null;
  /** A view's base: the tensor whose bytes it reads (null: none, the tensor has its own). */
  #base: Tensor | null = null;
  /** On a base: its live views; its bytes are freed when it and they are all disposed. */
  #views = 0;
  /** Set on a leaf to have backward() fill its .grad; ops set it on outputs of inputs that have it. */
  requiresGrad = false;
  /** @internal The gradient behind `grad`, read by internals that must not allocate a Parameter's (null while it has none). */
  _grad: Tensor | null = null;
  /** The recorded op that made this tensor (null for leaves, and after backward() freed the graph). */
  gradFn: GradFn | null = null;
  /** @internal The set that owns this tensor (a scope or a training step), if any. */
  _owner: Set<Tensor> | null = null;
  /** @internal Kept by the user: never freed by a scope, a step or backward(). */
  _kept = false;
  /** @internal Freed at its last use by an inference plan (src/autograd/plan.ts): named in the error of a later read. */
  _freedEarly = false;
  /** @internal backward() freed the graph that made this tensor. */
  _freedGraph = false;
  /**
   * @internal Bumped whenever the data may have been written: by view() and set() (a view may be
   * written through until the next call that may allocate) and by kernels that write a layer's
   * state in place (the running statistics); a cache of values derived from the data keys on it.
   */
  _version = 0;

  /** dL/d(this) summed by backward() on a leaf that requires a gradient (null until then). */
  get grad(): Tensor | null {
    return this._grad;
  }
  set grad(g: Tensor | null) {
    this._grad = g;
  }

  /** Wraps `size` floats at `ptr`, allocated in `rt`; `own` = free them on dispose. */
  constructor(rt: Runtime, ptr: number, shape: readonly number[], own = true) {
    this.#rt = rt;
    this.#ptr = ptr;
    // a frozen shape (another tensor's) is shared, not copied
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze([...shape]);
    let size = 1;
    for (let i = 0; i < shape.length; i++) size *= shape[i];
    this.size = size;
    this.#held = own ? { rt, ptr } : null;
    if (own && registry) {
      if (pending.push(this) >= PENDING_MAX) Tensor.#registerPending();
      else if (!queued) {
        queued = true;
        later(() => {
          queued = false;
          Tensor.#registerPending();
        });
      }
    }
  }

  /** Registers the pending tensors that are still alive with the finalizer (see `registry`). */
  static #registerPending(): void {
    // a base disposed while its views live is registered too: its bytes go when they are collected
    for (const t of pending) if (t.#held!.ptr !== 0) registry!.register(t, t.#held!);
    pending.length = 0;
  }

  /** Allocates an uninitialised tensor of `shape` in the active backend. */
  static empty(shape: readonly number[]): Tensor {
    return Tensor._empty(checkShape('Tensor.empty', shape));
  }

  /**
   * @internal Tensor.empty for a shape already checked (a live tensor's, or one a layer computed
   * from it): a layer's output skips the check every call would repeat.
   */
  static _empty(shape: readonly number[]): Tensor {
    const rt = runtime();
    // a Graph's inference run may place its intermediates in the buffer it keeps (src/graph/arena.ts)
    if (arena.run !== null) return arenaEmpty(rt, shape, Tensor, allocFloats);
    return new Tensor(rt, allocFloats(rt, 'Tensor.empty', shape), shape);
  }

  /**
   * @internal The same bytes under another shape of as many elements (no copy): it keeps `x`'s bytes
   * alive until it is disposed too (a view of a view shares the first base).
   */
  static _viewOf(x: Tensor, shape: readonly number[]): Tensor {
    const base = x.#base ?? x;
    const v = new Tensor(x.#rt, x.ptr, shape, false);
    v.#base = base;
    base.#views++;
    return v;
  }

  /** @internal The tensor whose bytes this view reads (itself when it is no view). */
  get _base(): Tensor {
    return this.#base ?? this;
  }

  /** @internal True once the bytes are free for reuse: this tensor and every view of it disposed. */
  get _released(): boolean {
    return this.#ptr === 0 && this.#views === 0;
  }

  /** Allocates a tensor of `shape` filled with `value`. */
  static full(shape: readonly number[], value: number): Tensor {
    if (typeof value !== 'number') throw new TypeError(`Tensor.full: value: expected a number, got ${describe(value)}`);
    const t = Tensor.empty(checkShape('Tensor.full', shape));
    t.view().fill(value);
    return t;
  }

  /** True once dispose() has freed the memory; reading or computing with it then throws. */
  get disposed(): boolean {
    if (planning.run !== null) noteUse(this);
    return this.#ptr === 0;
  }

  /** The backend that holds this tensor. */
  get runtime(): Runtime {
    if (planning.run !== null) noteUse(this);
    return this.#rt;
  }

  /** Address (WASM) or handle (JS) of the data; throws if disposed or from another backend. */
  get ptr(): number {
    if (planning.run !== null) noteUse(this);
    if (this.#ptr === 0) throw new Error(disposedMessage(this, 'was disposed and cannot be used'));
    const rt = runtime();
    if (rt !== this.#rt)
      throw new Error(
        `tensor [${this.shape.join(', ')}] belongs to backend '${this.#rt.name}', but the active backend is '${rt.name}' (init() was called again)`,
      );
    return this.#ptr;
  }

  /** A fresh view over the data; valid only until the next call that may allocate. */
  view(): Float32Array {
    this._version++;
    return this.#rt.f32(this.ptr, this.size);
  }

  /** Copies `data` (as many values as the tensor has) into the tensor, in place. Returns this. */
  set(data: Float32Array | Float64Array | readonly number[]): this {
    if (!(data instanceof Float32Array || data instanceof Float64Array || Array.isArray(data))) {
      throw new TypeError(`Tensor.set: data: expected a Float32Array, Float64Array or number[], got ${describe(data)}`);
    }
    if (data.length !== this.size)
      throw new RangeError(`Tensor.set: data has ${data.length} values but the tensor [${this.shape.join(', ')}] has ${this.size}`);
    if (Array.isArray(data)) {
      for (let i = 0; i < data.length; i++)
        if (typeof data[i] !== 'number') throw new TypeError(`Tensor.set: data[${i}]: expected a number, got ${describe(data[i])}`);
    }
    this.view().set(data);
    return this;
  }

  /** A copy of the data. */
  toArray(): Float32Array {
    return this.view().slice();
  }

  /** The single value of a one-element tensor, as a number. */
  item(): number {
    if (this.size !== 1)
      throw new RangeError(`Tensor.item: expected a tensor with one element, got shape [${this.shape.join(', ')}] (${this.size} elements)`);
    return this.view()[0];
  }

  /**
   * Computes dL/d(leaf) for every leaf below this tensor that requires a gradient, adding it to the
   * leaf's .grad. `gradient` is dL/d(this) (default 1 for a one-element tensor). Frees the graph's
   * interior tensors (call keep() on one to use it afterwards) and ends the training step.
   */
  backward(gradient?: Tensor): void {
    if (gradient !== undefined) {
      if (!(gradient instanceof Tensor)) throw new TypeError(`Tensor.backward: gradient: expected a Tensor, got ${describe(gradient)}`);
      if (gradient.shape.join() !== this.shape.join())
        throw new RangeError(`Tensor.backward: gradient: expected shape [${this.shape.join(', ')}], got [${gradient.shape.join(', ')}]`);
    } else if (this.size !== 1) {
      throw new RangeError(
        `Tensor.backward: a gradient is needed for a tensor of ${this.size} elements (shape [${this.shape.join(', ')}]); only one-element tensors default to 1`,
      );
    }
    runBackward(this, gradient ?? null, HOOKS);
  }

  /** @internal backward() that does not end the training step (a loss class differentiating its own op). */
  _backwardWithinStep(): void {
    runBackward(this, null, HOOKS, false);
  }

  /** A copy that records no history (requiresGrad false). */
  detach(): Tensor {
    const t = track(Tensor.empty(this.shape));
    t.view().set(this.view());
    return t;
  }

  /** Takes this tensor from its scope or training step: it lives until dispose(). Returns this. */
  keep(): this {
    this._kept = true;
    untrack(this);
    return this;
  }

  /** Frees the memory; later use throws. Safe to call twice. */
  dispose(): void {
    if (this.#ptr === 0) return;
    untrack(this); // its scope or step no longer holds it (a manual loop never ends a step)
    // a disposed output abandons its recorded op: what the op saved is freed with it
    if (this.gradFn !== null) letGo(this.gradFn);
    this.gradFn = null;
    this.#ptr = 0;
    const base = this.#base;
    if (base !== null) {
      // a view: the last one out frees a base disposed before it
      if (--base.#views === 0 && base.#ptr === 0) base.#release();
    } else if (this.#views === 0) this.#release();
  }

  /** Frees the bytes of a tensor that has its own (a view has none; an arena's tensor does not own them). */
  #release(): void {
    const h = this.#held;
    if (h === null || h.ptr === 0) return;
    const ptr = h.ptr;
    h.ptr = 0; // the registry's callback, if it ever runs, then frees nothing
    this.#rt.k.free(ptr);
  }

  /** Same as dispose(), for `using t = …` (explicit resource management). */
  [disposeSymbol](): void {
    this.dispose();
  }

  /** Shape, backend, the leading values and whether it records gradients, e.g. for console.log. */
  toString(): string {
    const head = `Tensor([${this.shape.join(', ')}], f32, ${this.#rt.name}`;
    if (this.disposed) return `${head}, disposed)`;
    const v = this.#rt.f32(this.#ptr, Math.min(this.size, 6));
    const vals = Array.from(v, (x) => Number(x.toPrecision(5))).join(', ') + (this.size > 6 ? ', …' : '');
    const grad = this.gradFn !== null ? `, gradFn=${this.gradFn.name}` : this.requiresGrad ? ', requiresGrad' : '';
    return `${head}, [${vals}]${grad})`;
  }

  /** Node's console.log and util.inspect print toString(). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/**
 * A trainable tensor with a gradient of the same shape (zero until a backward adds to it). The
 * gradient is allocated at its first read (a backward, an optimizer step, the user): a model that
 * only infers holds its weights once, not twice.
 */
export class Parameter extends Tensor {
  #where: string;
  /** `where` names the owner in errors (a layer passes e.g. 'Linear: weight'). */
  constructor(shape: readonly number[], value: number, where = 'Parameter') {
    // every check before the allocation
    const dims = checkShape(where, shape);
    if (typeof value !== 'number') throw new TypeError(`${where}: value: expected a number, got ${describe(value)}`);
    const rt = runtime();
    super(rt, allocFloats(rt, where, dims), dims);
    this.#where = where;
    this.view().fill(value);
    this.requiresGrad = true;
  }

  /**
   * dL/d(this), summed by backward(): zero-filled in this parameter's backend at its first read.
   * Throws, naming the parameter, if it cannot be allocated (nothing else changes) or if the
   * parameter was disposed before it had one.
   */
  get grad(): Tensor {
    return this._grad ?? this.#allocGrad();
  }
  set grad(g: Tensor | null) {
    this._grad = g;
  }

  #allocGrad(): Tensor {
    if (this.disposed) throw new Error(`${this.#where} (gradient): the parameter was disposed`);
    const rt = this.runtime;
    const ptr = allocFloats(rt, `${this.#where} (gradient)`, this.shape);
    rt.f32(ptr, this.size).fill(0);
    return (this._grad = new Tensor(rt, ptr, this.shape));
  }

  dispose(): void {
    super.dispose();
    this._grad?.dispose();
  }
}

/**
 * @internal Where a layer's own backward adds `p`'s gradient: its .grad (allocated at the first
 * need), or null for an absent parameter or a frozen one (requiresGrad false gets none, as on the tape).
 */
export function gradOf(p: Parameter | null): Tensor | null {
  return p !== null && p.requiresGrad ? p.grad : null;
}

/** Allocates room for the floats of `shape` (at least one) in `rt`; the runtime refuses a block over its cap. */
function allocFloats(rt: Runtime, where: string, shape: readonly number[]): number {
  const bytes = Math.max(sizeOf(shape), 1) * 4;
  try {
    return rt.k.alloc(bytes);
  } catch (e) {
    throw new RangeError(`${where}: could not allocate ${bytes} bytes for shape [${shape.join(', ')}]: ${(e as Error).message}`);
  }
}

/** Element count of a checked shape. */
function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i];
  return n;
}

/** @internal True when two shapes have the same dimensions (no closure: layers compare on every call). */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Checks a shape: an array of non-negative safe integers whose product is a safe integer. Returns a copy. */
export function checkShape(where: string, shape: unknown): number[] {
  if (!Array.isArray(shape)) throw new TypeError(`${where}: shape: expected an array of non-negative integers, got ${describe(shape)}`);
  // indexed loops, no closures: every Tensor.empty runs this
  let zero = false;
  for (let i = 0; i < shape.length; i++) {
    const d: unknown = shape[i];
    if (!Number.isSafeInteger(d) || (d as number) < 0)
      throw new TypeError(`${where}: shape[${i}]: expected a non-negative integer, got ${describe(d)}`);
    if (d === 0) zero = true;
  }
  // checked step by step, so that huge dims cannot overflow to Infinity and then NaN (× 0)
  if (!zero) {
    let n = 1;
    for (let i = 0; i < shape.length; i++) {
      n *= shape[i] as number;
      if (!Number.isSafeInteger(n)) throw new RangeError(`${where}: shape [${shape.join(', ')}]: the element count passes 2^53 - 1`);
    }
  }
  return shape.slice() as number[];
}

/**
 * Copies `data` (Float32Array, Float64Array or number[]) into the active backend as a tensor of
 * `shape` (by default 1-D). The length must equal the product of the shape.
 */
export function tensor(
  data: Float32Array | Float64Array | readonly number[],
  shape?: readonly number[],
  options: { requiresGrad?: boolean } = {},
): Tensor {
  if (options === null || typeof options !== 'object') throw new TypeError(`tensor: options: expected an object, got ${describe(options)}`);
  for (const key of Object.keys(options))
    if (key !== 'requiresGrad') throw new TypeError(`tensor: unknown option '${key}' (expected one of requiresGrad)`);
  if (options.requiresGrad !== undefined && typeof options.requiresGrad !== 'boolean')
    throw new TypeError(`tensor: requiresGrad: expected a boolean, got ${describe(options.requiresGrad)}`);
  if (!(data instanceof Float32Array || data instanceof Float64Array || Array.isArray(data))) {
    throw new TypeError(`tensor: data: expected a Float32Array, Float64Array or number[], got ${describe(data)}`);
  }
  const dims = shape === undefined ? [data.length] : checkShape('tensor', shape);
  const size = dims.reduce((a, b) => a * b, 1);
  if (data.length !== size) throw new RangeError(`tensor: data has ${data.length} values but shape [${dims.join(', ')}] needs ${size}`);
  if (Array.isArray(data)) {
    // an indexed loop, not forEach: forEach skips the holes of a sparse array
    for (let i = 0; i < data.length; i++) {
      if (typeof data[i] !== 'number') throw new TypeError(`tensor: data[${i}]: expected a number, got ${describe(data[i])}`);
    }
  }
  const t = Tensor.empty(dims);
  t.view().set(data);
  t.requiresGrad = options.requiresGrad ?? false;
  return track(t);
}

/** @internal Why `t` can no longer be read: disposed, or freed at its planned last use (src/autograd/plan.ts). */
export function disposedMessage(t: Tensor, plain = 'was disposed'): string {
  const head = `tensor [${t.shape.join(', ')}]`;
  if (!t._freedEarly) return `${head} ${plain}`;
  return (
    `${head} was freed at its last use in the first call of this forward under noGrad for these shapes, and read later: ` +
    'keep() a tensor used after the forward, or set `static planInference = false` on a Module subclass whose forward takes another path for the same shapes'
  );
}

/** Runs `fn` without recording gradients and frees every tensor it made except those it returns. */
export function noGrad<T>(fn: () => T): T {
  return scoped(fn, (v): v is Tensor => v instanceof Tensor, false);
}
