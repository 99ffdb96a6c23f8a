// Thin wrappers over the optimizer update rules (assembly/optim.ts, src/js/optim.ts): flags are
// booleans here and 0/1 across the scalar ABI.
import { runtime } from '../runtime/index';

/** One SGD step on `n` floats of p from g; `buf` is the momentum buffer (0: none), `first` the first step. */
export function sgdStep(
  p: number,
  g: number,
  buf: number,
  n: number,
  lr: number,
  momentum: number,
  dampening: number,
  weightDecay: number,
  nesterov: boolean,
  first: boolean,
): void {
  runtime().k.sgdStep(p, g, buf, n, lr, momentum, dampening, weightDecay, nesterov ? 1 : 0, first ? 1 : 0);
}

/** One Adam step on `n` floats of p from g with moments m, v; `decoupled` is AdamW; `t` counts steps from 1. */
export function adamStep(
  p: number,
  g: number,
  m: number,
  v: number,
  n: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  decoupled: boolean,
  t: number,
): void {
  runtime().k.adamStep(p, g, m, v, n, lr, beta1, beta2, eps, weightDecay, decoupled ? 1 : 0, t);
}

/** One RMSprop step; `avg` (centered) and `buf` (momentum) are 0 when unused. */
export function rmspropStep(
  p: number,
  g: number,
  v: number,
  avg: number,
  buf: number,
  n: number,
  lr: number,
  alpha: number,
  eps: number,
  weightDecay: number,
  momentum: number,
  centered: boolean,
): void {
  runtime().k.rmspropStep(p, g, v, avg, buf, n, lr, alpha, eps, weightDecay, momentum, centered ? 1 : 0);
}

/** One Adagrad step; `t` counts steps from 1. */
export function adagradStep(
  p: number,
  g: number,
  sum: number,
  n: number,
  lr: number,
  lrDecay: number,
  eps: number,
  weightDecay: number,
  t: number,
): void {
  runtime().k.adagradStep(p, g, sum, n, lr, lrDecay, eps, weightDecay, t);
}

/** One Adadelta step with the running averages v (of g²) and u (of δ²). */
export function adadeltaStep(
  p: number,
  g: number,
  v: number,
  u: number,
  n: number,
  lr: number,
  rho: number,
  eps: number,
  weightDecay: number,
): void {
  runtime().k.adadeltaStep(p, g, v, u, n, lr, rho, eps, weightDecay);
}
