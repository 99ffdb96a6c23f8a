// The tape: ops record a GradFn on their output when any input requires a gradient; backward()
// walks the recorded graph from the root in reverse topological order, summing gradients where a
// tensor feeds several ops, and accumulates into the leaves' .grad.
// Memory has an owner at every moment (no FinalizationRegistry runs inside a synchronous loop):
// backward() frees the graph's interior tensors; after the first backward(), every tensor made
// outside a scope belongs to the training step it was made in and is freed when the next step's
// backward() ends, unless kept; noGrad(fn) frees what fn made except what it returns.
// see: https://github.com/karpathy/micrograd/blob/master/micrograd/engine.py (topological backward);
//      https://github.com/tensorflow/tfjs/blob/master/tfjs-core/src/engine.ts (scopes, keep)
import type { Tensor } from '../tensor';
import { noteMade, planning } from './plan';

/** How an op computes its inputs' gradients from its output's; what it saved it frees in release(). */
export interface GradFn {
  /** The op's name, for errors and toString(). */
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /**
   * dL/d(input) for each input (null where the input needs none, or where the op added it to a
   * leaf's .grad itself); the engine owns the results. `inputGrad` overrides whether the first
   * input's gradient is computed (a layer's backward(dy) wants dx whatever x requires).
   */
  backward(gy: Tensor, inputGrad?: boolean): (Tensor | null)[];
  /** Frees what the op saved for its backward (not its inputs or output). */
  release?(): void;
  /** Set once what the op saved was freed: it cannot run again. */
  done?: boolean;
  /** Tensors reachable only through this op (a Sequential's intermediates), freed with it. */
  owns?: Tensor[];
  /**
   * Holders of what the op saved (default 1, the tape: until its backward or the output's dispose);
   * a layer that ran the op holds it too, until its next forward, so its backward(dy) can run it.
   */
  holds?: number;
}

/** One holder lets go of `fn`; the last one frees what it saved (by the tape's backward, the output's dispose, or the layer). */
export function letGo(fn: GradFn): void {
  if (fn.done) return;
  fn.holds = (fn.holds ?? 1) - 1;
  if (fn.holds > 0) return;
  fn.done = true;
  fn.release?.();
  const owned = fn.owns;
  fn.owns = undefined;
  if (owned) for (const t of owned) t.dispose();
}

let gradEnabled = true;
/** Scopes opened by noGrad, innermost last: each owns what is made inside it. */
const scopes: Set<Tensor>[] = [];
/** On after the first backward(): tensors made outside a scope then belong to a step. */
let stepOwnership = false;
let currentStep = new Set<Tensor>();
let previousStep = new Set<Tensor>();

/** True inside noGrad (not fit's untaped step): no backward can follow, so intermediates may go at once. */
export function inInference(): boolean {
  return !gradEnabled && scopes.length > 0;
}

/** True when ops record onto the tape (outside noGrad). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Runs `fn` with recording off and no scope: what it makes is the caller's (fit's training step,
 * which drives the layers' own backward and frees its tensors itself).
 */
export function untaped<T>(fn: () => T): T {
  const was = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = was;
  }
}

/** Gives a new tensor its owner: the innermost scope, else the current step (after the first backward). */
export function track(t: Tensor): Tensor {
  if (planning.run !== null) noteMade(t);
  const owner = scopes.length > 0 ? scopes[scopes.length - 1] : stepOwnership ? currentStep : null;
  if (owner !== null) {
    owner.add(t);
    t._owner = owner;
  }
  return t;
}

/** Takes `t` from its owner: the caller frees it (dispose or `using`). */
export function untrack(t: Tensor): void {
  t._owner?.delete(t);
  t._owner = null;
}

function freeAll(set: Set<Tensor>): void {
  for (const t of set) {
    t._owner = null;
    t.dispose();
  }
  set.clear();
}

/** Values returned from a scope: a tensor, or tensors in an array or a plain object. */
function returned(v: unknown, out: Set<Tensor>, isTensor: (v: unknown) => v is Tensor): void {
  if (isTensor(v)) out.add(v);
  else if (Array.isArray(v)) for (const e of v) returned(e, out, isTensor);
  else if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const e of Object.values(v)) returned(e, out, isTensor);
  }
}

/**
 * Runs `fn` with recording off and frees every tensor made inside it except those it returns (a
 * tensor, or tensors in an array or a plain object), which go to the enclosing owner.
 */
export function scoped<T>(fn: () => T, isTensor: (v: unknown) => v is Tensor, grad: boolean): T {
  if (typeof fn !== 'function') throw new TypeError(`noGrad: fn: expected a function, got ${fn === null ? 'null' : typeof fn}`);
  const scope = new Set<Tensor>();
  const was = gradEnabled;
  scopes.push(scope);
  gradEnabled = grad;
  let result: T;
  try {
    result = fn();
  } finally {
    gradEnabled = was;
    scopes.pop();
  }
  if (result instanceof Promise) {
    freeAll(scope);
    throw new TypeError('noGrad: fn returned a Promise; pass a synchronous function (tensors made after an await have no scope)');
  }
  const keep = new Set<Tensor>();
  returned(result, keep, isTensor);
  for (const t of keep) {
    if (scope.delete(t)) track(t);
  }
  freeAll(scope);
  return result;
}

/** Topological order of the graph below `root` (inputs before the ops that use them). */
function order(root: Tensor): Tensor[] {
  const seen = new Set<Tensor>();
  const out: Tensor[] = [];
  // iterative DFS: a deep graph (a long recurrent unroll) must not overflow the JS stack
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const fn = top[0].gradFn;
    if (fn !== null && top[1] < fn.inputs.length) {
      const next = fn.inputs[top[1]++];
      if (!seen.has(next) && next.requiresGrad) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      out.push(top[0]);
    }
  }
  return out;
}

export interface BackwardHooks {
  /** A tensor of ones shaped like the root. */
  ones(like: Tensor): Tensor;
  /** dst += src, same size. */
  addInto(dst: Tensor, src: Tensor): void;
  /** A zero tensor shaped like `t`, owned by nobody. */
  zeros(like: Tensor): Tensor;
}

/** Runs the backward pass from `root` (its gradient `gradient`, or 1 for a one-element root). */
export function runBackward(root: Tensor, gradient: Tensor | null, hooks: BackwardHooks, endsStep = true): void {
  const where = 'Tensor.backward';
  if (!root.requiresGrad)
    throw new Error(`${where}: this tensor does not require a gradient (no input of the ops that made it has requiresGrad)`);
  if (root.gradFn === null && root._freedGraph)
    throw new Error(`${where}: the graph was already freed by an earlier backward(); run the forward again`);
  const topo = order(root);
  // a Parameter's .grad is allocated at its first read: every leaf's before any gradient is added
  for (const t of topo) if (t.gradFn === null) void t.grad;
  const grads = new Map<Tensor, Tensor>();
  grads.set(root, gradient ?? hooks.ones(root));
  try {
    for (let i = topo.length - 1; i >= 0; i--) {
      const t = topo[i];
      const gy = grads.get(t);
      if (gy === undefined) continue;
      grads.delete(t);
      const fn = t.gradFn;
      if (fn === null) {
        // a leaf that requires a gradient: accumulate into .grad, as PyTorch does
        if (t.grad === null) t.grad = hooks.zeros(t);
        hooks.addInto(t.grad, gy);
        if (gy !== gradient) gy.dispose();
        continue;
      }
      if (fn.done)
        throw new Error(
          `${where}: the ${fn.name} op below this tensor was already freed (by an earlier backward() or by disposing its output); run the forward again`,
        );
      const gis = fn.backward(gy);
      if (gy !== gradient) gy.dispose();
      fn.inputs.forEach((x, k) => {
        const g = gis[k];
        if (g === null || g === undefined) return;
        if (!x.requiresGrad) return g.dispose();
        const prev = grads.get(x);
        if (prev === undefined) grads.set(x, g);
        else {
          hooks.addInto(prev, g);
          g.dispose();
        }
      });
    }
  } finally {
    for (const g of grads.values()) if (g !== gradient) g.dispose();
    // free the graph: saved state, interior tensors (the root and kept tensors stay)
    for (const t of topo) {
      const fn = t.gradFn;
      if (fn === null) continue;
      letGo(fn);
      t.gradFn = null;
      t._freedGraph = true;
      if (t !== root && !t._kept) {
        untrack(t);
        t.dispose();
      }
    }
    if (endsStep) endStep();
  }
}

/** The end of a training step: the step before it is freed; ownership by step is on from now. */
function endStep(): void {
  stepOwnership = true;
  freeAll(previousStep);
  const done = currentStep;
  currentStep = previousStep;
  previousStep = done;
}
