// Gradient clipping by total norm, as torch.nn.utils.clip_grad_norm_: the norm over every
// parameter's gradient together, summed in f64 in parameter order.
// see: https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html
import type { Parameter } from '../tensor';
import * as ew from '../kernels/elementwise';
import { checkTensor, describe } from '../validate';

/**
 * Scales every gradient by maxNorm / (total + 1e-6) when the total norm exceeds maxNorm. Returns the
 * total norm before clipping. `normType`: 2 (default), 1, or Infinity.
 */
export function clipGradNorm(params: readonly Parameter[], maxNorm: number, normType = 2): number {
  const where = 'clipGradNorm';
  if (!Array.isArray(params)) throw new TypeError(`${where}: params: expected an array of Parameters, got ${describe(params)}`);
  params.forEach((p, i) => checkTensor(where, `params[${i}]`, p));
  if (typeof maxNorm !== 'number' || !(maxNorm >= 0))
    throw new RangeError(`${where}: maxNorm: expected a number ≥ 0, got ${describe(maxNorm)}`);
  if (normType !== 1 && normType !== 2 && normType !== Infinity)
    throw new RangeError(`${where}: normType: expected 1, 2 or Infinity, got ${describe(normType)}`);
  let total = 0;
  // a parameter without a gradient yet (allocated at its first read) adds zero: it is skipped, not allocated
  for (const p of params) {
    if (p._grad === null) continue;
    const g = p._grad.view();
    if (normType === Infinity) for (let i = 0; i < g.length; i++) total = Math.max(total, Math.abs(g[i]));
    else if (normType === 1) for (let i = 0; i < g.length; i++) total += Math.abs(g[i]);
    else for (let i = 0; i < g.length; i++) total += g[i] * g[i];
  }
  if (normType === 2) total = Math.sqrt(total);
  const coef = maxNorm / (total + 1e-6);
  if (coef < 1)
    for (const p of params) {
      const g = p._grad;
      if (g !== null) ew.scalar('mul', g.ptr, coef, g.ptr, g.size);
    }
  return total;
}
