// The forward predict and evaluate run per batch: under noGrad, freeing each intermediate at its
// last use from the second batch of a shape on (src/autograd/plan.ts), whatever the model's forward.
import { noGrad, type Tensor } from '../tensor';
import type { Module } from '../nn/module';
import { runtime } from '../runtime/index';
import { planned, type Plan } from '../autograd/plan';

const PLANS = new WeakMap<Module, Map<string, Plan>>();

/** model.forward(x) under noGrad with the model's plan for x's shape on this backend. */
export function inferenceForward(model: Module, x: Tensor): Tensor {
  let plans = PLANS.get(model);
  if (plans === undefined) PLANS.set(model, (plans = new Map()));
  const key = `${runtime().name}|${model.training}|${x.shape.join(',')}`;
  return planned(
    plans,
    key,
    () => noGrad(() => model.forward(x)),
    (y) => new Set([y]),
  );
}
