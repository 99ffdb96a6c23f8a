// Input checks of LayerNorm, GroupNorm and InstanceNorm (layers and functional forms alike): each
// returns the plan of a valid shape and throws, naming the argument, for any other.
import { groupPlan, layerPlan, type NormPlan } from './norm_core';
import { describe } from '../validate';

const SPATIAL: Record<number, string> = { 3: 'L', 4: 'H, W', 5: 'D, H, W' };

/** An option's value, or `fallback` when it is undefined (null is a value, and is checked as one). */
export function given<T>(v: T | undefined, fallback: T): T {
  return v === undefined ? fallback : v;
}

/** A positive integer or a non-empty array of them, as an array (PyTorch's normalized_shape). */
export function checkNormalizedShape(where: string, s: unknown): number[] {
  const dims = typeof s === 'number' ? [s] : Array.isArray(s) ? [...(s as unknown[])] : null;
  if (dims === null || dims.length === 0 || !dims.every((d) => Number.isInteger(d) && (d as number) >= 1))
    throw new RangeError(`${where}: normalizedShape: expected a positive integer or a non-empty array of them, got ${describe(s)}`);
  return dims as number[];
}

/** LayerNorm's plan: the input's last dims must equal normalizedShape. */
export function layerNormPlan(where: string, shape: readonly number[], ns: readonly number[]): NormPlan {
  const k = ns.length;
  if (shape.length < k || ns.some((d, i) => shape[shape.length - k + i] !== d))
    throw new RangeError(`${where}: input: expected a tensor whose last dims are [${ns.join(', ')}], got [${shape.join(', ')}]`);
  return layerPlan(shape, k);
}

/** GroupNorm's plan for an input [N, C, *]. */
export function groupNormPlan(where: string, shape: readonly number[], groups: number, channels: number): NormPlan {
  if (shape.length < 2 || shape[1] !== channels)
    throw new RangeError(`${where}: input: expected a tensor [N, ${channels}, *] (rank 2 or more), got [${shape.join(', ')}]`);
  return groupPlan(shape, groups);
}

/**
 * InstanceNorm's plan for an input of `rank` with `channels` channels, or (`unbatched`, the layers
 * as PyTorch's) of rank − 1 without the batch dim, which is the same memory as a batch of one; with
 * the instance's own statistics there must be more than one position (PyTorch's check).
 */
export function instanceNormPlan(
  where: string,
  shape: readonly number[],
  rank: number,
  channels: number,
  inputStats: boolean,
  unbatched = false,
): NormPlan {
  const batched = shape.length === rank && shape[1] === channels;
  const single = unbatched && shape.length === rank - 1 && shape[0] === channels;
  if (!batched && !single) {
    const also = unbatched ? ` or an unbatched rank-${rank - 1} one ([${channels}, ${SPATIAL[rank]}])` : '';
    throw new RangeError(
      `${where}: input: expected a rank-${rank} tensor with ${channels} channels ([N, ${channels}, ${SPATIAL[rank]}])${also}, got [${shape.join(', ')}]`,
    );
  }
  const plan = groupPlan(batched ? shape : [1, ...shape], channels);
  if (inputStats && plan.affine.l === 1)
    throw new RangeError(`${where}: expected more than 1 spatial element when training, got input size [${shape.join(', ')}]`);
  return plan;
}
