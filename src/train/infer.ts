// Inference that frees each intermediate at its last use, for any forward (a Module subclass's too):
// predict and evaluate per batch, and a subclass's forward called under noGrad. The first call of an
// input shape learns the last uses, later calls free at them (src/autograd/plan.ts).
import { noGrad, Tensor } from '../tensor';
import type { Module } from '../nn/module';
import { runtime } from '../runtime/index';
import { inInference } from '../autograd/engine';
import { planned, planning, type Plan } from '../autograd/plan';

const PLANS = new WeakMap<Module, Map<string, Plan>>();

function plansOf(model: Module): Map<string, Plan> {
  let plans = PLANS.get(model);
  if (plans === undefined) PLANS.set(model, (plans = new Map()));
  return plans;
}

/** Adds the tensors in `v` (a tensor, or an array or plain object of them, one level down) to `out`. */
function collect(v: unknown, out: Set<Tensor>): void {
  if (v instanceof Tensor) {
    out.add(v);
  } else if (Array.isArray(v)) {
    for (const e of v) if (e instanceof Tensor) out.add(e);
  } else if (v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    for (const e of Object.values(v)) if (e instanceof Tensor) out.add(e);
  }
}

/** What a forward hands out: its result, and tensors it left in a field of the model or of a child (read after the call). */
function handedOut(model: Module, result: unknown): Set<Tensor> {
  const out = new Set<Tensor>();
  collect(result, out);
  const walk = (m: Module): void => {
    for (const key of Object.keys(m)) collect((m as unknown as Record<string, unknown>)[key], out);
    for (const [, c] of m.children()) walk(c);
  };
  walk(model);
  return out;
}

/** model.forward(x) under noGrad with the model's plan for x's shape on this backend. */
export function inferenceForward(model: Module, x: Tensor): Tensor {
  const key = `${runtime().name}|${model.training}|${x.shape.join(',')}`;
  return planned(
    plansOf(model),
    key,
    () => noGrad(() => model.forward(x)),
    (y) => handedOut(model, y),
  );
}

/** The plan's key for a call's arguments: shapes of tensors, values of primitives; null for anything else. */
function argsKey(args: unknown[]): string | null {
  let key = '';
  for (const a of args) {
    if (a instanceof Tensor) key += `|[${a.shape.join(',')}]`;
    else if (a === null || a === undefined || typeof a === 'number' || typeof a === 'boolean') key += `|${String(a)}`;
    else if (typeof a === 'string') key += `|${JSON.stringify(a)}`;
    else return null;
  }
  return key;
}

/**
 * @internal Wraps a Module subclass's forward: called under noGrad, outside another planned call, with
 * tensors and primitives as arguments, it runs with the module's plan for those shapes and its mode,
 * so intermediates are freed at their last use (from the second call); otherwise as written.
 */
export function planForward<F extends (this: Module, ...args: never[]) => unknown>(forward: F): F {
  return function (this: Module, ...args: unknown[]): unknown {
    if (planning.run !== null || !inInference()) return forward.apply(this, args as never[]);
    const key = argsKey(args);
    if (key === null) return forward.apply(this, args as never[]);
    return planned(
      plansOf(this),
      `${runtime().name}|${this.training}${key}`,
      () => forward.apply(this, args as never[]),
      (r) => handedOut(this, r),
    );
  } as unknown as F;
}
