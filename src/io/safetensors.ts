// The safetensors model format, so that a state dict saved here loads in PyTorch and back.
// A file is: an 8-byte little-endian u64 N; N bytes of UTF-8 JSON mapping each tensor name to
// { dtype, shape, data_offsets: [begin, end] } (offsets relative to the data section), with an
// optional "__metadata__" map of strings; then the data section, little-endian and row-major.
// see: https://github.com/huggingface/safetensors ("Format" section of the README)
//
// Pure TypeScript over Uint8Array/DataView/TextEncoder/TextDecoder, so it runs in browsers and
// edge runtimes as well as in Node. Supported dtypes: F32 (Float32Array) for every learned tensor,
// and I64 (BigInt64Array) for PyTorch's integer counters such as `num_batches_tracked`, which
// PyTorch saves as an I64 tensor of shape [].

import { scanHeader } from './header_scan';

/** The dtypes this module reads and writes: F32 ↔ Float32Array, I64 ↔ BigInt64Array. */
export type SafetensorsDtype = 'F32' | 'I64';

/** A decoded tensor; `dtype` tells which array `data` is. */
export type SafetensorsTensor =
  | { dtype: 'F32'; shape: number[]; data: Float32Array }
  | { dtype: 'I64'; shape: number[]; data: BigInt64Array };

/** A tensor to encode: the dtype follows from `data` (a given `dtype` must agree with it). */
export interface SafetensorsInput {
  shape: readonly number[];
  data: Float32Array | BigInt64Array;
  dtype?: SafetensorsDtype;
}

/** What decodeSafetensors() returns; `metadata` is undefined when the file has no "__metadata__". */
export interface SafetensorsFile {
  tensors: Record<string, SafetensorsTensor>;
  metadata: Record<string, string> | undefined;
}

/** Options of decodeSafetensors(). */
export interface DecodeOptions {
  /** Largest JSON header accepted, in bytes. Default 100 000 000, the reference reader's limit. */
  maxHeaderBytes?: number;
  /** Most tensors accepted (loadSafetensors: the model's state entries and a small slack). Default 100 000. */
  maxEntries?: number;
}
const DECODE_KEYS = ['maxHeaderBytes', 'maxEntries'];

// NOTE: the reference implementation refuses headers over 100 MB so that a hostile file cannot
// make the reader parse (and allocate for) an unbounded JSON document.
// see: https://github.com/huggingface/safetensors (README, "Benefits": "Prevent DOS attacks")
const DEFAULT_MAX_HEADER = 100_000_000;
// Far above any model's tensor count, far below what a 100 MB header of empty tensors holds (~1.5 M).
const DEFAULT_MAX_ENTRIES = 100_000;
// A header is an object (1) of tensor objects or the metadata object (2) whose shape and
// data_offsets are arrays (3); anything deeper is not a safetensors header.
const MAX_DEPTH = 3;
const METADATA_KEY = '__metadata__';
const ITEMSIZE: Record<SafetensorsDtype, number> = { F32: 4, I64: 8 };
// The reference writer lays tensors out by descending dtype alignment, then by name; its Dtype
// enum is ordered by alignment and ranks I64 above F32. Matching it gives byte-identical files.
// see: https://github.com/huggingface/safetensors/blob/main/safetensors/src/tensor.rs (prepare)
const ALIGN_RANK: Record<SafetensorsDtype, number> = { I64: 0, F32: 1 };
// Every dtype the format defines, so an unsupported one is reported as such, not as garbage.
const KNOWN_DTYPES = new Set([
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'F8_E8M0',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'C64',
  'I64',
  'U64',
]);
const SUPPORTED = 'this reader supports F32 (Float32Array) and I64 (BigInt64Array)';

// NOTE: typed-array views use the host's byte order; the format is little-endian. On a
// little-endian host (every mainstream one) raw bytes are copied, which also keeps NaN payloads;
// elsewhere each value goes through DataView with explicit little-endian access.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A safetensors error: names the tensor and the field, what was expected and what came. */
function fail(message: string): never {
  throw new Error(`safetensors: ${message}`);
}

/** A short, bounded rendering of a value from an untrusted header for an error message. */
function show(v: unknown): string {
  let s: string;
  if (v === undefined) return 'undefined';
  if (typeof v === 'string') s = `'${v}'`;
  else if (typeof v === 'number') s = `number ${v}`;
  else {
    try {
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = String(v);
    }
    if (Array.isArray(v)) s = `array ${s}`;
    else if (v !== null && typeof v === 'object') s = `object ${s}`;
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** A tensor name for a message, bounded so a hostile megabyte-long name stays readable. */
const quote = (name: string) => `'${name.length > 80 ? `${name.slice(0, 77)}...` : name}'`;
const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const dims = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/** Sets an own property, so a key like "__proto__" from a file is data, not a prototype change. */
function put<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Element count of `shape`, or NaN when it passes 2^53 − 1 (as the reference, checked step by step). */
function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return NaN;
  }
  return n;
}

/** Orders names by Unicode code point, which is UTF-8 byte order: Rust's and Python's str order. */
function compareNames(a: string, b: string): number {
  const ia = a[Symbol.iterator](),
    ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next(),
      y = ib.next();
    if (x.done || y.done) return x.done ? (y.done ? 0 : -1) : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

// A lone UTF-16 surrogate has no UTF-8 form: TextEncoder would silently turn it into U+FFFD.
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Checks one tensor to encode; returns its dtype and byte length. */
function checkInput(name: string, t: unknown): { dtype: SafetensorsDtype; shape: number[]; bytes: number } {
  const at = `tensor ${quote(name)}`;
  if (t === null || typeof t !== 'object') fail(`${at}: expected an object { shape, data }, got ${show(t)}`);
  const { shape, data, dtype } = t as Partial<SafetensorsInput>;
  const kind = data instanceof Float32Array ? 'F32' : data instanceof BigInt64Array ? 'I64' : null;
  if (kind === null) {
    const got = ArrayBuffer.isView(data) ? data.constructor.name : show(data);
    fail(`${at}: data: expected a Float32Array (F32) or BigInt64Array (I64), got ${got}`);
  }
  if (dtype !== undefined && dtype !== kind) fail(`${at}: dtype ${show(dtype)} does not match data, a ${data!.constructor.name} (${kind})`);
  if (!Array.isArray(shape)) fail(`${at}: shape: expected an array of non-negative integers, got ${show(shape)}`);
  shape.forEach((d, i) => {
    if (!isIndex(d)) fail(`${at}: shape[${i}]: expected a non-negative integer, got ${show(d)}`);
  });
  const n = elementCount(shape);
  if (n !== data!.length)
    fail(`${at}: data has ${data!.length} values, but shape ${dims(shape)} needs ${Number.isNaN(n) ? 'more than 2^53 - 1' : n}`);
  return { dtype: kind, shape: [...shape], bytes: data!.byteLength };
}

/**
 * Encodes named tensors (and optional string metadata) as a safetensors file, byte for byte as
 * the reference writer does: tensors ordered by descending alignment (I64 before F32) then name,
 * compact JSON header with "__metadata__" first and metadata keys sorted, padded with spaces to a
 * multiple of 8 bytes so every tensor is aligned to its element size.
 */
export function encodeSafetensors(tensors: Record<string, SafetensorsInput>, metadata?: Record<string, string>): Uint8Array {
  if (tensors === null || typeof tensors !== 'object') fail(`tensors: expected an object of { shape, data }, got ${show(tensors)}`);
  const entries = Object.keys(tensors).map((name) => {
    if (name === METADATA_KEY) fail(`tensor name '${METADATA_KEY}' is reserved for the metadata map`);
    if (LONE_SURROGATE.test(name)) fail(`tensor ${quote(name)}: name has a lone UTF-16 surrogate, which UTF-8 cannot hold`);
    return { name, t: tensors[name], ...checkInput(name, tensors[name]) };
  });
  entries.sort((a, b) => ALIGN_RANK[a.dtype] - ALIGN_RANK[b.dtype] || compareNames(a.name, b.name));

  const parts: string[] = [];
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata))
      fail(`metadata: expected an object of strings, got ${show(metadata)}`);
    const keys = Object.keys(metadata).sort(compareNames);
    const items = keys.map((k) => {
      const v: unknown = metadata[k];
      if (typeof v !== 'string') fail(`metadata ${quote(k)}: expected a string, got ${show(v)}`);
      if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v))
        fail(`metadata ${quote(k)}: has a lone UTF-16 surrogate, which UTF-8 cannot hold`);
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`${JSON.stringify(METADATA_KEY)}:{${items.join(',')}}`);
  }
  let offset = 0;
  for (const e of entries) {
    // NOTE: JSON.stringify escapes strings as serde_json does (\" \\ \b \f \n \r \t, other
    // control characters as lower-case \u00xx, everything else raw), so headers match byte for byte.
    parts.push(
      `${JSON.stringify(e.name)}:{"dtype":"${e.dtype}","shape":[${e.shape.join(',')}],"data_offsets":[${offset},${offset + e.bytes}]}`,
    );
    offset += e.bytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // spaces: still valid JSON whitespace
  let at = 8 + headerLength;
  for (const e of entries) {
    writeData(view, out, at, e.t.data);
    at += e.bytes;
  }
  return out;
}

/** Writes `data` little-endian at byte `at` of `out`. */
function writeData(view: DataView, out: Uint8Array, at: number, data: Float32Array | BigInt64Array): void {
  if (LITTLE_ENDIAN_HOST) {
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
  } else if (data instanceof Float32Array) {
    for (let i = 0; i < data.length; i++) view.setFloat32(at + 4 * i, data[i], true);
  } else {
    for (let i = 0; i < data.length; i++) view.setBigInt64(at + 8 * i, data[i], true);
  }
}

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Checks one header entry against the data section's length; nothing is allocated here. */
function checkEntry(name: string, info: unknown, dataLength: number): Entry {
  const at = `tensor ${quote(name)}`;
  if (info === null || typeof info !== 'object' || Array.isArray(info))
    fail(`${at}: expected an object with dtype, shape and data_offsets, got ${show(info)}`);
  for (const field of ['dtype', 'shape', 'data_offsets']) {
    if (!hasOwn(info, field)) fail(`${at}: missing ${field}`);
  }
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (typeof dtype !== 'string') fail(`${at}: dtype: expected a string, got ${show(dtype)}`);
  if (dtype !== 'F32' && dtype !== 'I64') {
    fail(`${at}: dtype ${show(dtype)} is ${KNOWN_DTYPES.has(dtype) ? 'not supported' : 'not a safetensors dtype'} (${SUPPORTED})`);
  }
  if (!Array.isArray(shape)) fail(`${at}: shape: expected an array of non-negative integers, got ${show(shape)}`);
  shape.forEach((d, i) => {
    if (!isIndex(d)) fail(`${at}: shape[${i}]: expected a non-negative integer, got ${show(d)}`);
  });
  if (!Array.isArray(offsets) || offsets.length !== 2 || !isIndex(offsets[0]) || !isIndex(offsets[1])) {
    fail(`${at}: data_offsets: expected [begin, end], two non-negative integers, got ${show(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(`${at}: data_offsets [${begin}, ${end}] are reversed (begin > end)`);
  if (end > dataLength)
    fail(`${at}: data_offsets [${begin}, ${end}] reach past the end of the data section, which has ${dataLength} bytes`);
  const n = elementCount(shape);
  const need = n * ITEMSIZE[dtype];
  if (!Number.isSafeInteger(need)) fail(`${at}: shape ${dims(shape)} of ${dtype} overflows: it needs more than 2^53 - 1 bytes`);
  if (end - begin !== need)
    fail(`${at}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape ${dims(shape)} of ${dtype} needs ${need}`);
  return { name, dtype, shape: [...shape], begin, end };
}

/**
 * Checks that the tensors tile the data section: no gap, no overlap, nothing left over. The
 * reference reader requires this too, so a file can never make a reader touch a byte twice.
 */
function checkLayout(entries: Entry[], dataLength: number): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | null = null;
  for (const e of sorted) {
    if (e.begin < pos)
      fail(
        `tensor ${quote(e.name)}: data_offsets [${e.begin}, ${e.end}] overlap tensor ${quote(prev!.name)} [${prev!.begin}, ${prev!.end}]`,
      );
    if (e.begin > pos)
      fail(
        `data section bytes [${pos}, ${e.begin}) belong to no tensor (the next is ${quote(e.name)} at [${e.begin}, ${e.end}]); offsets must be contiguous`,
      );
    pos = e.end;
    prev = e;
  }
  if (pos !== dataLength)
    fail(`the data section has ${dataLength} bytes, but the tensors' data_offsets cover only [0, ${pos}); offsets must cover it exactly`);
}

/** Copies one tensor's bytes out of the file into its own, aligned typed array. */
function readData(bytes: Uint8Array, start: number, e: Entry): SafetensorsTensor {
  const n = (e.end - e.begin) / ITEMSIZE[e.dtype];
  const at = start + e.begin;
  // NOTE: the data section may sit at any byte offset of `bytes` (a header whose length is not a
  // multiple of 8, or a subarray), and a Float32Array view needs 4-byte alignment: always copy.
  if (LITTLE_ENDIAN_HOST) {
    const copy = bytes.slice(at, at + n * ITEMSIZE[e.dtype]).buffer;
    return e.dtype === 'F32'
      ? { dtype: 'F32', shape: e.shape, data: new Float32Array(copy) }
      : { dtype: 'I64', shape: e.shape, data: new BigInt64Array(copy) };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, n * ITEMSIZE[e.dtype]);
  if (e.dtype === 'F32')
    return { dtype: 'F32', shape: e.shape, data: Float32Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true)) };
  return { dtype: 'I64', shape: e.shape, data: BigInt64Array.from({ length: n }, (_, i) => view.getBigInt64(8 * i, true)) };
}

/**
 * Decodes a safetensors file. Every check runs before any tensor is allocated, so corrupt or
 * hostile input throws an Error naming the problem, and memory use stays within the file's size.
 */
export function decodeSafetensors(bytes: Uint8Array, options: DecodeOptions = {}): SafetensorsFile {
  if (!(bytes instanceof Uint8Array))
    fail(`bytes: expected a Uint8Array, got ${ArrayBuffer.isView(bytes) ? (bytes as ArrayBufferView).constructor.name : show(bytes)}`);
  if (options === null || typeof options !== 'object' || Array.isArray(options)) fail(`options: expected an object, got ${show(options)}`);
  for (const key of Object.keys(options)) {
    if (!DECODE_KEYS.includes(key)) fail(`options: unknown option ${quote(key)} (expected one of ${DECODE_KEYS.join(', ')})`);
  }
  const cap = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER;
  if (!isIndex(cap)) fail(`options.maxHeaderBytes: expected a non-negative integer, got ${show(cap)}`);
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  if (!isIndex(maxEntries)) fail(`options.maxEntries: expected a non-negative integer, got ${show(maxEntries)}`);
  if (bytes.length < 8) fail(`file has ${bytes.length} bytes, fewer than the 8-byte header length that starts every file`);

  // The length is a u64: compare it as a BigInt, before anything is decoded or allocated.
  const declared = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (declared > BigInt(cap)) fail(`header length ${declared} bytes exceeds the limit of ${cap} (maxHeaderBytes)`);
  const n = Number(declared);
  if (n > bytes.length - 8) fail(`header length ${n} bytes, but only ${bytes.length - 8} bytes follow the 8-byte length`);

  const problem = scanHeader(bytes.subarray(8, 8 + n), MAX_DEPTH, maxEntries, METADATA_KEY);
  if (problem?.kind === 'depth')
    fail(
      `header: nested ${problem.depth} levels deep; a header is an object of tensor objects (and ${METADATA_KEY}), at most ${MAX_DEPTH} levels`,
    );
  if (problem?.kind === 'entries') fail(`header: more than ${maxEntries} tensors (maxEntries)`);
  if (problem?.kind === 'duplicate') {
    fail(
      problem.parent === null
        ? problem.key === METADATA_KEY
          ? `header: ${METADATA_KEY} appears twice`
          : `header: tensor ${quote(problem.key)} appears twice`
        : `header: key ${quote(problem.key)} appears twice in ${quote(problem.parent)}`,
    );
  }
  let text: string;
  try {
    // fatal: invalid UTF-8 throws instead of becoming U+FFFD; ignoreBOM: a BOM stays and fails as
    // JSON, as in the reference reader.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    fail(`header (${n} bytes) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail(`header: expected a JSON object, got ${show(header)}`);

  const h = header as Record<string, unknown>;
  let metadata: Record<string, string> | undefined;
  if (hasOwn(h, METADATA_KEY)) {
    const m = h[METADATA_KEY];
    if (m === null || typeof m !== 'object' || Array.isArray(m)) fail(`${METADATA_KEY}: expected an object of strings, got ${show(m)}`);
    metadata = {};
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== 'string') fail(`${METADATA_KEY} ${quote(k)}: expected a string, got ${show(v)}`);
      put(metadata, k, v);
    }
  }

  const start = 8 + n;
  const dataLength = bytes.length - start;
  const entries = Object.keys(h)
    .filter((k) => k !== METADATA_KEY)
    .map((k) => checkEntry(k, h[k], dataLength));
  checkLayout(entries, dataLength);

  const tensors: Record<string, SafetensorsTensor> = {};
  for (const e of entries.sort((a, b) => a.begin - b.begin || a.end - b.end)) put(tensors, e.name, readData(bytes, start, e));
  return { tensors, metadata };
}
