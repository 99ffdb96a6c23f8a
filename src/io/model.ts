// Saving and loading a model's state as safetensors under PyTorch's state_dict names, so a model
// trained here loads with torch's load_state_dict and back.
// see: https://github.com/huggingface/safetensors (format); src/io/safetensors.ts
import { Module, type StateDictInput } from '../nn/module';
import { decodeSafetensors, encodeSafetensors, type SafetensorsInput } from './safetensors';
import { describe } from '../validate';

/** The model's state as safetensors bytes: F32 tensors, I64 scalar counters (num_batches_tracked). */
export function saveSafetensors(model: Module, metadata?: Record<string, string>): Uint8Array {
  if (!(model instanceof Module)) throw new TypeError(`saveSafetensors: model: expected a Module, got ${describe(model)}`);
  const tensors: Record<string, SafetensorsInput> = {};
  for (const e of model.stateEntries()) {
    tensors[e.name] = 'tensor' in e
      ? { shape: [...e.tensor.shape], data: e.tensor.toArray() }
      : { shape: [], data: BigInt64Array.of(BigInt(e.count())) };
  }
  return encodeSafetensors(tensors, metadata);
}

/**
 * Loads safetensors bytes into `model`. Every name, shape and dtype is checked before anything is
 * written: a corrupt or mismatched file leaves the model unchanged.
 */
export function loadSafetensors(model: Module, bytes: Uint8Array, options: { strict?: boolean } = {}): void {
  if (!(model instanceof Module)) throw new TypeError(`loadSafetensors: model: expected a Module, got ${describe(model)}`);
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`loadSafetensors: bytes: expected a Uint8Array, got ${describe(bytes)}`);
  const { tensors } = decodeSafetensors(bytes);
  const entries = new Map(model.stateEntries().map((e) => [e.name, e]));
  const state: StateDictInput = {};
  for (const [name, t] of Object.entries(tensors)) {
    const e = entries.get(name);
    if (e === undefined) {
      state[name] = t.dtype === 'F32' ? t.data : 0; // reported (or ignored) by loadStateDict
      continue;
    }
    if ('tensor' in e) {
      const want = e.tensor.shape;
      if (t.dtype !== 'F32') throw new TypeError(`loadSafetensors: '${name}': expected dtype F32, got ${t.dtype}`);
      if (t.shape.length !== want.length || t.shape.some((v, i) => v !== want[i])) {
        throw new RangeError(`loadSafetensors: '${name}': expected shape [${want.join(', ')}], got [${t.shape.join(', ')}]`);
      }
      state[name] = t.data;
    } else {
      if (t.dtype !== 'I64' || t.shape.length !== 0) throw new TypeError(`loadSafetensors: '${name}': expected an I64 scalar, got ${t.dtype} [${t.shape.join(', ')}]`);
      state[name] = t.data[0];
    }
  }
  model.loadStateDict(state, options);
}
