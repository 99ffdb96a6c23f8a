// Inference that frees at last use, for any forward (a Module subclass's too): the first batch of an
// input shape runs under noGrad while the tensors its ops make are numbered and every read of each
// (its address, a view, a check) is noted; later batches of that shape free each tensor as soon as
// the tensor made after its last read exists, so peak memory is the largest live set. JS has no
// reference counts, so a tensor's last use is learnt from a run, once per input shape, and checked:
// a later run that makes a tensor of another shape at some step stops freeing for that run.
// see: https://github.com/tensorflow/tfjs/blob/master/tfjs-core/src/engine.ts (tidy and scopes);
//      https://pytorch.org/docs/stable/notes/autograd.html (inference frees by reference count)
import type { Tensor } from '../tensor';

/** What a first run learnt: per tensor made, in order, its shape, whether the scope returned it, and which tensors to free when it is made. */
export interface Plan {
  shapes: string[];
  freeAt: number[][];
}

interface Run {
  made: Tensor[];
  shapes: string[];
  last: number[];
  index: Map<Tensor, number>;
  plan: Plan | null;
}

/** The run in progress (null outside a planned inference): read by Tensor's accessors. */
export const planning: { run: Run | null } = { run: null };

/** Notes a read of `t` at the current step of the run. */
export function noteUse(t: Tensor): void {
  const run = planning.run!;
  const i = run.index.get(t);
  if (i !== undefined) run.last[i] = run.made.length - 1;
}

/** Numbers a tensor made in the run; with a plan, frees those whose last read came before it. */
export function noteMade(t: Tensor): void {
  const run = planning.run!;
  if (run.index.has(t)) return; // handed on by its scope: already numbered
  const k = run.made.length;
  run.made.push(t);
  run.index.set(t, k);
  run.last.push(k);
  const shape = t.shape.join(',');
  run.shapes.push(shape);
  const plan = run.plan;
  if (plan === null) return;
  if (plan.shapes[k] !== shape) {
    run.plan = null; // another path than the plan's: free nothing more early in this run
    return;
  }
  for (const i of plan.freeAt[k] ?? []) {
    const old = run.made[i];
    if (!old._kept) {
      old._freedEarly = true;
      old.dispose();
    }
  }
}

/**
 * Runs `inScope` (a noGrad scope around the forward) with the plan learnt for `key`, or learns one;
 * `returned(result)` lists the tensors the scope hands back, which are never freed early.
 */
export function planned<T>(plans: Map<string, Plan>, key: string, inScope: () => T, returned: (r: T) => Set<Tensor>): T {
  const prev = planning.run;
  const plan = plans.get(key) ?? null;
  const run: Run = { made: [], shapes: [], last: [], index: new Map(), plan };
  planning.run = run;
  let result: T;
  try {
    result = inScope();
  } finally {
    planning.run = prev;
  }
  if (plan === null) {
    const kept = returned(result);
    const freeAt: number[][] = [];
    run.made.forEach((t, i) => {
      // freed when the tensor after its last read is made; one read by the last tensor's step stays to the end
      const at = run.last[i] + 1;
      if (kept.has(t) || at >= run.made.length) return;
      (freeAt[at] ??= []).push(i);
    });
    plans.set(key, { shapes: run.shapes, freeAt });
  } else if (run.plan === null) plans.delete(key);
  return result;
}
