// State sized by a module's first training forward (the BN-LSTM's per-step statistics when tMax is
// left to the data) takes the size of a state being loaded instead: loadStateDict and
// loadSafetensors size such modules first, and put them back when the load then fails.
import type { Module } from './module';

/** What a resizable module gives back: keep the new size (free the old tensors) or put the old back. */
export interface Resized {
  commit(): void;
  undo(): void;
}

/** A module with state it may still resize, given the length a loaded state has for each of its own entries. */
interface SizedByState {
  sizeForState(lengthOf: (local: string) => number | undefined): Resized | null;
}

/** Sizes every such module of `model` (dotted names as in stateDict) to the lengths `lengthOf` gives. */
export function sizeForState(model: Module, lengthOf: (name: string) => number | undefined): Resized {
  const done: Resized[] = [];
  const undo = () => {
    for (const r of done.reverse()) r.undo();
  };
  const walk = (m: Module, prefix: string) => {
    const s = m as Partial<SizedByState>;
    if (typeof s.sizeForState === 'function') {
      const r = s.sizeForState((local) => lengthOf(prefix + local));
      if (r !== null) done.push(r);
    }
    for (const [n, c] of m.children()) walk(c, `${prefix}${n}.`);
  };
  try {
    walk(model, '');
  } catch (e) {
    undo();
    throw e;
  }
  return { commit: () => done.forEach((r) => r.commit()), undo };
}
