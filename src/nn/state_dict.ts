// Loading a state dict: every name, length and type checked before anything is written. State sized
// by a module's first training forward (the BN-LSTM's per-step statistics when tMax is left to the
// data) takes the size of the state being loaded instead: loadStateDict and loadSafetensors size
// such modules first, and put them back when the load then fails.
import type { Module, StateDictInput } from './module';
import { describe } from '../validate';

type Values = Float32Array | Float64Array | readonly number[];

/** Module.loadStateDict after its argument checks: sizes, checks every entry, then writes them all. */
export function loadState(model: Module, where: string, state: StateDictInput, strict: boolean): void {
  const sized = sizeForState(model, (name) => {
    const v = state[name];
    return v instanceof Float32Array || v instanceof Float64Array || Array.isArray(v) ? v.length : undefined;
  });
  try {
    loadChecked(model, where, state, strict);
  } catch (e) {
    sized.undo();
    throw e;
  }
  sized.commit();
}

function loadChecked(model: Module, where: string, state: StateDictInput, strict: boolean): void {
  const entries = model.stateEntries();
  const names = entries.map((e) => e.name);
  if (strict) {
    for (const key of Object.keys(state)) {
      if (!names.includes(key)) throw new Error(`${where}: unexpected key '${key}' (expected ${names.join(', ')})`);
    }
  }
  const writes: (() => void)[] = [];
  for (const e of entries) {
    const v = state[e.name];
    if (v === undefined) {
      if (strict) throw new Error(`${where}: missing key '${e.name}'`);
      continue;
    }
    if ('tensor' in e) {
      const t = e.tensor;
      if (!(v instanceof Float32Array || v instanceof Float64Array || Array.isArray(v))) {
        throw new TypeError(`${where}: ${e.name}: expected a Float32Array, Float64Array or number[], got ${describe(v)}`);
      }
      const arr = v as Values;
      if (arr.length !== t.size) throw new RangeError(`${where}: ${e.name}: expected length ${t.size}, got ${arr.length}`);
      if (Array.isArray(arr)) {
        for (let i = 0; i < arr.length; i++) {
          if (typeof arr[i] !== 'number') throw new TypeError(`${where}: ${e.name}[${i}]: expected a number, got ${describe(arr[i])}`);
        }
      }
      writes.push(() => t.view().set(arr));
    } else {
      const n = typeof v === 'bigint' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
        throw new TypeError(`${where}: ${e.name}: expected a non-negative integer, got ${describe(v)}`);
      writes.push(() => e.setCount(n));
    }
  }
  model.checkUsable(where);
  for (const w of writes) w();
}

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
