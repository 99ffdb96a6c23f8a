// Saving and loading a model's state as safetensors under PyTorch's state_dict names, so a model
// trained here loads with torch's load_state_dict and back.
// see: https://github.com/huggingface/safetensors (format); src/io/safetensors.ts
import { Module, type StateDictInput } from '../nn/module';
import { decodeSafetensors, encodeSafetensors, type SafetensorsFile, type SafetensorsInput } from './safetensors';
import { sizeForState } from '../nn/state_dict';
import { checkOptions, describe } from '../validate';

/** Any module, the recurrent layers included (their forward takes other arguments than Module's). */
type AnyModule = Omit<Module, 'forward'>;

/** The model's state as safetensors bytes: F32 tensors, I64 scalar counters (num_batches_tracked). */
export function saveSafetensors(model: AnyModule, metadata?: Record<string, string>): Uint8Array {
  if (!(model instanceof Module)) throw new TypeError(`saveSafetensors: model: expected a Module, got ${describe(model)}`);
  const tensors: Record<string, SafetensorsInput> = {};
  for (const e of model.stateEntries()) {
    tensors[e.name] =
      'tensor' in e ? { shape: [...e.tensor.shape], data: e.tensor.toArray() } : { shape: [], data: BigInt64Array.of(BigInt(e.count())) };
  }
  return encodeSafetensors(tensors, metadata);
}

// Tensors a file may hold beyond the model's own (reported, or ignored when not strict), and the
// header bytes allowed per tensor and for the metadata: a header larger than the model can need
// is refused before it is parsed.
const EXTRA_ENTRIES = 64;
const HEADER_BYTES_PER_ENTRY = 4096;
const HEADER_BYTES_METADATA = 1 << 20;

/** Options of loadSafetensors(). */
export interface LoadSafetensorsOptions {
  /** Refuse a file whose names differ from the model's. Default true. */
  strict?: boolean;
  /** Largest JSON header accepted, in bytes. Default: 4 KiB per tensor the model has (+ 64), + 1 MiB of metadata. */
  maxHeaderBytes?: number;
}

/**
 * Loads safetensors bytes into `model`. Every name, shape and dtype is checked before anything is
 * written: a corrupt or mismatched file leaves the model unchanged. The header may hold at most 64
 * tensors beyond the model's.
 */
export function loadSafetensors(model: AnyModule, bytes: Uint8Array, options: LoadSafetensorsOptions = {}): void {
  const where = 'loadSafetensors';
  if (!(model instanceof Module)) throw new TypeError(`${where}: model: expected a Module, got ${describe(model)}`);
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${where}: bytes: expected a Uint8Array, got ${describe(bytes)}`);
  checkOptions(where, options, ['strict', 'maxHeaderBytes']);
  const entries = new Map(model.stateEntries().map((e) => [e.name, e]));
  const maxEntries = entries.size + EXTRA_ENTRIES;
  const maxHeaderBytes = options.maxHeaderBytes ?? maxEntries * HEADER_BYTES_PER_ENTRY + HEADER_BYTES_METADATA;
  const { tensors } = decodeSafetensors(bytes, { maxEntries, maxHeaderBytes });
  // state a first training forward would size (BN-LSTM statistics) takes the file's size; put back on a refusal
  const sized = sizeForState(model, (name) => (Object.hasOwn(tensors, name) ? tensors[name].data.length : undefined));
  try {
    loadTensors(where, model, tensors, options.strict);
  } catch (e) {
    sized.undo();
    throw e;
  }
  sized.commit();
}

function loadTensors(where: string, model: Module, tensors: SafetensorsFile['tensors'], strict: boolean | undefined): void {
  const entries = new Map(model.stateEntries().map((e) => [e.name, e]));
  // a null prototype: a file's name such as '__proto__' stays a key that loadStateDict checks
  const state: StateDictInput = Object.create(null) as StateDictInput;
  for (const [name, t] of Object.entries(tensors)) {
    const e = entries.get(name);
    if (e === undefined) {
      put(state, name, t.dtype === 'F32' ? t.data : 0); // reported (or ignored) by loadStateDict
      continue;
    }
    if ('tensor' in e) {
      const want = e.tensor.shape;
      if (t.dtype !== 'F32') throw new TypeError(`${where}: '${name}': expected dtype F32, got ${t.dtype}`);
      if (t.shape.length !== want.length || t.shape.some((v, i) => v !== want[i])) {
        throw new RangeError(`${where}: '${name}': expected shape [${want.join(', ')}], got [${t.shape.join(', ')}]`);
      }
      put(state, name, t.data);
    } else {
      if (t.dtype !== 'I64' || t.shape.length !== 0)
        throw new TypeError(`${where}: '${name}': expected an I64 scalar, got ${t.dtype} [${t.shape.join(', ')}]`);
      put(state, name, t.data[0]);
    }
  }
  model.loadStateDict(state, { strict });
}

/** Sets an own, enumerable property (a name from a file is data, never a prototype). */
function put(obj: StateDictInput, key: string, value: StateDictInput[string]): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}
