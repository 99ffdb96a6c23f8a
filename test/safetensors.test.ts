// The safetensors format: round trips, the reference writer's exact bytes, every corrupt or
// hostile input rejected with its own message, and interop with PyTorch through
// test/fixtures/gen_safetensors.py (torch_small.* written by torch, ours_small read by torch).
// see: https://github.com/huggingface/safetensors ("Format" section)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors, type SafetensorsInput, type SafetensorsTensor } from '../src/io/safetensors';
import { init, BatchNorm1d, tensor } from '../src/index';

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url);
const enc = new TextEncoder();
const MB = 1e6;

/** A file from a header (an object, or raw text) and a data section (zeros, or given bytes). */
function file(header: unknown, data: number | Uint8Array = 0, declared?: bigint): Uint8Array {
  const json = enc.encode(typeof header === 'string' ? header : JSON.stringify(header));
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}
const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

/** Runs `act` and checks it throws a plain Error (no RangeError/TypeError leaking out) with `message`. */
function throwsExactly(act: () => unknown, message: string | RegExp): void {
  let e: unknown;
  try {
    act();
  } catch (err) {
    e = err;
  }
  expect(e, 'expected a throw').toBeInstanceOf(Error);
  expect((e as Error).constructor).toBe(Error);
  if (typeof message === 'string') expect((e as Error).message).toBe(message);
  else expect((e as Error).message).toMatch(message);
}

/** The bit patterns of any typed array, so -0 and NaN payloads count. */
const bits = (a: Float32Array | BigInt64Array) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

describe('safetensors: round trip', () => {
  const nan = new Float32Array(new Uint32Array([0x7fc00001, 0xffa00000]).buffer); // NaN payloads, one signalling
  const tensors: Record<string, SafetensorsInput> = {
    'fc.weight': { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, -0, 1e-45, 3.4e38]) },
    'fc.bias': { shape: [2], data: nan },
    'bn.num_batches_tracked': { shape: [], data: BigInt64Array.of(2n ** 63n - 1n) },
    'ünï.😀': { shape: [], data: Float32Array.of(Infinity) },
    empty: { shape: [2, 0, 3], data: new Float32Array(0) },
    counters: { shape: [3], data: BigInt64Array.of(-1n, 0n, -(2n ** 63n)) },
  };
  const metadata = { format: 'pt', note: 'line\nbreak "quoted" ünï' };

  it('keeps names, dtypes, shapes, metadata and every bit of data', () => {
    const bytes = encodeSafetensors(tensors, metadata);
    const { tensors: out, metadata: meta } = decodeSafetensors(bytes);
    expect(meta).toEqual(metadata);
    expect(Object.keys(out).sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      expect(out[name].dtype, name).toBe(t.data instanceof Float32Array ? 'F32' : 'I64');
      expect(out[name].shape, name).toEqual(t.shape);
      expect(out[name].data.constructor, name).toBe(t.data.constructor);
      expect(bits(out[name].data), name).toEqual(bits(t.data));
    }
    // what decode returns encodes to the same bytes
    expect(encodeSafetensors(out, meta)).toEqual(bytes);
    expect(decodeSafetensors(encodeSafetensors({})).metadata).toBeUndefined();
  });

  it('reads a file at any byte offset of its buffer (unaligned data is copied)', () => {
    const bytes = encodeSafetensors(tensors);
    for (const shift of [1, 2, 3, 5]) {
      const host = new Uint8Array(bytes.length + shift);
      host.set(bytes, shift);
      const out = decodeSafetensors(host.subarray(shift)).tensors;
      expect(bits(out['fc.weight'].data)).toEqual(bits(tensors['fc.weight'].data));
      expect(out['bn.num_batches_tracked'].data).toEqual(BigInt64Array.of(2n ** 63n - 1n));
    }
  });

  it('matches the reference writer byte for byte (its own test vectors)', () => {
    const pad = (s: string, n: number) => [
      ...new Uint8Array(new BigUint64Array([BigInt(s.length + n)]).buffer),
      ...enc.encode(s + ' '.repeat(n)),
    ];
    const le = (v: number[]) => [...new Uint8Array(Float32Array.from(v).buffer)];
    const six = Float32Array.from([0, 1, 2, 3, 4, 5]);
    expect([...encodeSafetensors({})]).toEqual(pad('{}', 6));
    expect([...encodeSafetensors({}, { framework: 'pt' })]).toEqual(pad('{"__metadata__":{"framework":"pt"}}', 5));
    expect([...encodeSafetensors({ 'attn.0': { shape: [1, 2, 3], data: six } })]).toEqual([
      ...pad('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}', 0),
      ...le([0, 1, 2, 3, 4, 5]),
    ]);
    expect([...encodeSafetensors({ attn0: { shape: [1, 1, 2, 3], data: six } })]).toEqual([
      ...pad('{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}', 7),
      ...le([0, 1, 2, 3, 4, 5]),
    ]);
  });

  it('lays tensors out as the reference: I64 first, then names in code-point (UTF-8) order', () => {
    const one = { shape: [1], data: Float32Array.of(1) };
    const bytes = encodeSafetensors({ b: one, '😀': one, '\uffff': one, a: one, n: { shape: [], data: BigInt64Array.of(7n) } });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, { data_offsets: number[] }>;
    // UTF-16 order would put '😀' (0xD83D…) before '\uffff'; UTF-8 and Rust put it after.
    expect(
      Object.entries(header)
        .sort((x, y) => x[1].data_offsets[0] - y[1].data_offsets[0])
        .map(([k]) => k),
    ).toEqual(['n', 'a', 'b', '\uffff', '😀']);
    expect(n % 8).toBe(0);
  });

  it('a tensor named __proto__ in a file is data, not a prototype', () => {
    const out = decodeSafetensors(file('{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4)).tensors;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(out['__proto__'].shape).toEqual([1]);
  });
});

describe('safetensors: encode rejects bad input', () => {
  const ok = { shape: [2], data: new Float32Array(2) };
  const cases: [string, () => unknown, string][] = [
    ['not an object', () => encodeSafetensors(null as never), 'safetensors: tensors: expected an object of { shape, data }, got null'],
    [
      'Float64Array',
      () => encodeSafetensors({ w: { shape: [2], data: new Float64Array(2) as never } }),
      "safetensors: tensor 'w': data: expected a Float32Array (F32) or BigInt64Array (I64), got Float64Array",
    ],
    [
      'number[]',
      () => encodeSafetensors({ w: { shape: [2], data: [1, 2] as never } }),
      "safetensors: tensor 'w': data: expected a Float32Array (F32) or BigInt64Array (I64), got array [1,2]",
    ],
    [
      'length',
      () => encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } }),
      "safetensors: tensor 'w': data has 3 values, but shape [2, 2] needs 4",
    ],
    [
      'shape entry',
      () => encodeSafetensors({ w: { shape: [2, -1], data: new Float32Array(2) } }),
      "safetensors: tensor 'w': shape[1]: expected a non-negative integer, got number -1",
    ],
    [
      'shape type',
      () => encodeSafetensors({ w: { shape: 2 as never, data: new Float32Array(2) } }),
      "safetensors: tensor 'w': shape: expected an array of non-negative integers, got number 2",
    ],
    [
      'dtype mismatch',
      () => encodeSafetensors({ w: { ...ok, dtype: 'I64' } }),
      "safetensors: tensor 'w': dtype 'I64' does not match data, a Float32Array (F32)",
    ],
    [
      'reserved name',
      () => encodeSafetensors({ __metadata__: ok }),
      "safetensors: tensor name '__metadata__' is reserved for the metadata map",
    ],
    [
      'lone surrogate',
      () => encodeSafetensors({ 'w\ud800': ok }),
      "safetensors: tensor 'w\ud800': name has a lone UTF-16 surrogate, which UTF-8 cannot hold",
    ],
    [
      'metadata value',
      () => encodeSafetensors({ w: ok }, { epoch: 3 as never }),
      "safetensors: metadata 'epoch': expected a string, got number 3",
    ],
    [
      'metadata type',
      () => encodeSafetensors({ w: ok }, ['pt'] as never),
      'safetensors: metadata: expected an object of strings, got array ["pt"]',
    ],
  ];
  for (const [name, act, message] of cases) it(name, () => throwsExactly(act, message));
});

describe('safetensors: decode rejects corrupt and hostile files', () => {
  const w = { w: f32([2], 0, 8) };
  const withEntry = (entry: unknown, data = 8) => file({ w: entry }, data);
  const cases: [string, () => Uint8Array, string | RegExp][] = [
    ['empty file', () => new Uint8Array(0), 'safetensors: file has 0 bytes, fewer than the 8-byte header length that starts every file'],
    ['7 bytes', () => new Uint8Array(7), 'safetensors: file has 7 bytes, fewer than the 8-byte header length that starts every file'],
    [
      'header length 2^53',
      () => file(w, 8, 2n ** 53n),
      'safetensors: header length 9007199254740992 bytes exceeds the limit of 100000000 (maxHeaderBytes)',
    ],
    [
      'header length 2^64 - 1',
      () => file(w, 8, 2n ** 64n - 1n),
      'safetensors: header length 18446744073709551615 bytes exceeds the limit of 100000000 (maxHeaderBytes)',
    ],
    [
      'header longer than the file',
      () => file(w, 0, 1000n),
      /^safetensors: header length 1000 bytes, but only \d+ bytes follow the 8-byte length$/,
    ],
    ['invalid UTF-8', () => Object.assign(file('{"w?":1}'), { [8 + 3]: 0xff }), 'safetensors: header (8 bytes) is not valid UTF-8'],
    ['not JSON', () => file('{"w": [0, 8}'), /^safetensors: header is not valid JSON \(.+\)$/],
    ['a UTF-8 BOM', () => file('\ufeff{}'), /^safetensors: header is not valid JSON/],
    ['JSON array', () => file('[1,2]'), 'safetensors: header: expected a JSON object, got array [1,2]'],
    ['JSON null', () => file('null'), 'safetensors: header: expected a JSON object, got null'],
    ['metadata not an object', () => file({ __metadata__: 'pt' }), "safetensors: __metadata__: expected an object of strings, got 'pt'"],
    [
      'metadata value not a string',
      () => file({ __metadata__: { epoch: 3 } }),
      "safetensors: __metadata__ 'epoch': expected a string, got number 3",
    ],
    [
      'entry not an object',
      () => withEntry([1, 2]),
      "safetensors: tensor 'w': expected an object with dtype, shape and data_offsets, got array [1,2]",
    ],
    ['missing dtype', () => withEntry({ shape: [2], data_offsets: [0, 8] }), "safetensors: tensor 'w': missing dtype"],
    ['missing shape', () => withEntry({ dtype: 'F32', data_offsets: [0, 8] }), "safetensors: tensor 'w': missing shape"],
    ['missing data_offsets', () => withEntry({ dtype: 'F32', shape: [2] }), "safetensors: tensor 'w': missing data_offsets"],
    [
      'dtype not a string',
      () => withEntry({ ...f32([2], 0, 8), dtype: 4 }),
      "safetensors: tensor 'w': dtype: expected a string, got number 4",
    ],
    [
      'F16',
      () => withEntry({ ...f32([4], 0, 8), dtype: 'F16' }),
      "safetensors: tensor 'w': dtype 'F16' is not supported (this reader supports F32 (Float32Array) and I64 (BigInt64Array))",
    ],
    [
      'BF16',
      () => withEntry({ ...f32([4], 0, 8), dtype: 'BF16' }),
      "safetensors: tensor 'w': dtype 'BF16' is not supported (this reader supports F32 (Float32Array) and I64 (BigInt64Array))",
    ],
    [
      'F64',
      () => withEntry({ ...f32([1], 0, 8), dtype: 'F64' }),
      "safetensors: tensor 'w': dtype 'F64' is not supported (this reader supports F32 (Float32Array) and I64 (BigInt64Array))",
    ],
    [
      'unknown dtype',
      () => withEntry({ ...f32([2], 0, 8), dtype: 'f32' }),
      "safetensors: tensor 'w': dtype 'f32' is not a safetensors dtype (this reader supports F32 (Float32Array) and I64 (BigInt64Array))",
    ],
    [
      'shape not an array',
      () => withEntry({ ...f32([2], 0, 8), shape: '2' }),
      "safetensors: tensor 'w': shape: expected an array of non-negative integers, got '2'",
    ],
    [
      'negative shape',
      () => withEntry(f32([-2], 0, 8)),
      "safetensors: tensor 'w': shape[0]: expected a non-negative integer, got number -2",
    ],
    [
      'fractional shape',
      () => withEntry(f32([1, 1.5], 0, 8)),
      "safetensors: tensor 'w': shape[1]: expected a non-negative integer, got number 1.5",
    ],
    [
      'shape beyond 2^53',
      () => withEntry(f32([2 ** 60], 0, 8)),
      "safetensors: tensor 'w': shape[0]: expected a non-negative integer, got number 1152921504606847000",
    ],
    [
      'shape product overflow',
      () => withEntry(f32([2 ** 31, 2 ** 31, 2 ** 31], 0, 8)),
      "safetensors: tensor 'w': shape [2147483648, 2147483648, 2147483648] of F32 overflows: it needs more than 2^53 - 1 bytes",
    ],
    [
      'byte count overflow',
      () => withEntry({ dtype: 'I64', shape: [2 ** 51], data_offsets: [0, 8] }),
      "safetensors: tensor 'w': shape [2251799813685248] of I64 overflows: it needs more than 2^53 - 1 bytes",
    ],
    [
      'data_offsets not a pair',
      () => withEntry({ ...f32([2], 0, 8), data_offsets: [0, 8, 16] }),
      "safetensors: tensor 'w': data_offsets: expected [begin, end], two non-negative integers, got array [0,8,16]",
    ],
    [
      'negative data_offsets',
      () => withEntry(f32([2], -8, 0)),
      "safetensors: tensor 'w': data_offsets: expected [begin, end], two non-negative integers, got array [-8,0]",
    ],
    ['reversed data_offsets', () => withEntry(f32([2], 8, 0)), "safetensors: tensor 'w': data_offsets [8, 0] are reversed (begin > end)"],
    [
      'data_offsets out of range',
      () => withEntry(f32([2], 0, 8), 4),
      "safetensors: tensor 'w': data_offsets [0, 8] reach past the end of the data section, which has 4 bytes",
    ],
    [
      'byte length ≠ shape',
      () => file({ 'fc.weight': f32([10, 10], 0, 396) }, 396),
      "safetensors: tensor 'fc.weight': data_offsets [0, 396] hold 396 bytes, but shape [10, 10] of F32 needs 400",
    ],
    [
      'overlapping tensors',
      () => file({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12),
      "safetensors: tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]",
    ],
    [
      'same bytes twice',
      () => file({ a: f32([2], 0, 8), b: f32([2], 0, 8) }, 8),
      "safetensors: tensor 'b': data_offsets [0, 8] overlap tensor 'a' [0, 8]",
    ],
    [
      'a gap',
      () => file({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12),
      "safetensors: data section bytes [4, 8) belong to no tensor (the next is 'b' at [8, 12]); offsets must be contiguous",
    ],
    [
      'not starting at 0',
      () => file({ a: f32([1], 4, 8) }, 8),
      "safetensors: data section bytes [0, 4) belong to no tensor (the next is 'a' at [4, 8]); offsets must be contiguous",
    ],
    [
      'trailing bytes',
      () => file(w, 12),
      "safetensors: the data section has 12 bytes, but the tensors' data_offsets cover only [0, 8); offsets must cover it exactly",
    ],
    [
      'data but no tensors',
      () => file({}, 4),
      "safetensors: the data section has 4 bytes, but the tensors' data_offsets cover only [0, 0); offsets must cover it exactly",
    ],
  ];
  for (const [name, make, message] of cases) it(name, () => throwsExactly(() => decodeSafetensors(make()), message));

  it('checks its own arguments', () => {
    throwsExactly(() => decodeSafetensors(new ArrayBuffer(8) as never), 'safetensors: bytes: expected a Uint8Array, got object {}');
    throwsExactly(() => decodeSafetensors(new Float32Array(4) as never), 'safetensors: bytes: expected a Uint8Array, got Float32Array');
    throwsExactly(
      () => decodeSafetensors(file({}), { maxHeaderBytes: -1 }),
      'safetensors: options.maxHeaderBytes: expected a non-negative integer, got number -1',
    );
    throwsExactly(
      () => decodeSafetensors(file(w, 8), { maxHeaderBytes: 16 }),
      'safetensors: header length 54 bytes exceeds the limit of 16 (maxHeaderBytes)',
    );
  });

  it('a huge declared header length is rejected before anything is allocated', () => {
    const hostile = file(w, 8, 2n ** 53n);
    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) expect(() => decodeSafetensors(hostile)).toThrow(/exceeds the limit/);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 * MB);
  });

  it('a tiny file claiming a huge tensor is rejected without allocating it', () => {
    const before = process.memoryUsage().arrayBuffers;
    throwsExactly(
      () => decodeSafetensors(withEntry(f32([1e6, 1e6], 0, 8))),
      "safetensors: tensor 'w': data_offsets [0, 8] hold 8 bytes, but shape [1000000, 1000000] of F32 needs 4000000000000",
    );
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 * MB);
  });

  it('a truncated file always throws a clean Error, at every length', () => {
    const good = new Uint8Array(readFileSync(fixture('torch_small.safetensors')));
    for (let len = 0; len < good.length; len++) throwsExactly(() => decodeSafetensors(good.subarray(0, len)), /^safetensors: /);
  });

  it('random byte flips in the length and header either decode or throw a clean Error', () => {
    const good = new Uint8Array(readFileSync(fixture('torch_small.safetensors')));
    const headerEnd = 8 + Number(new DataView(good.buffer, good.byteOffset).getBigUint64(0, true));
    let s = 12345;
    const rand = (n: number) => (((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * n) | 0;
    let threw = 0;
    const ROUNDS = 3000;
    for (let round = 0; round < ROUNDS; round++) {
      const bad = good.slice();
      for (let k = 1 + rand(3); k > 0; k--) bad[rand(headerEnd)] ^= 1 << rand(8);
      try {
        const { tensors } = decodeSafetensors(bad);
        // a flip that keeps the file valid (e.g. in a name or the padding) must still tile the data
        const total = Object.values(tensors).reduce((a, t: SafetensorsTensor) => a + t.data.byteLength, 0);
        expect(total).toBeLessThanOrEqual(bad.length);
      } catch (e) {
        expect((e as Error).constructor, (e as Error).message).toBe(Error);
        expect((e as Error).message).toMatch(/^safetensors: /);
        threw++;
      }
    }
    expect(threw).toBeGreaterThan(ROUNDS / 2);
  });
});

// ---- PyTorch interop (test/fixtures/gen_safetensors.py) ----

interface JsonTensor {
  dtype: 'F32' | 'I64';
  shape: number[];
  values: number[];
}
interface TorchFixture {
  metadata: Record<string, string>;
  tensors: Record<string, JsonTensor>;
  bn_step: { layer: string; momentum: number; eps: number; x: { shape: number[]; values: number[] }; expected: Record<string, JsonTensor> };
}
const torchJson = JSON.parse(readFileSync(fixture('torch_small.json'), 'utf8')) as TorchFixture;
const torchBytes = new Uint8Array(readFileSync(fixture('torch_small.safetensors')));
const toInput = (t: JsonTensor): SafetensorsInput => ({
  shape: t.shape,
  data: t.dtype === 'F32' ? Float32Array.from(t.values) : BigInt64Array.from(t.values, (v) => BigInt(v)),
});
// Running statistics computed here and by torch differ by rounding: the 2e-6 of the largest
// |value| that test/batchnorm_torch.test.ts allows for them (the script checks the same bound).
const RUN_TOL = 2e-6;
const closeTo = (a: ArrayLike<number>, b: ArrayLike<number>, what: string) => {
  const scale = Math.max(1, ...Array.from(b, Math.abs));
  for (let i = 0; i < b.length; i++) expect(Math.abs(a[i] - b[i]), `${what}[${i}]`).toBeLessThanOrEqual(RUN_TOL * scale);
};

describe('safetensors: PyTorch interop', () => {
  it('decodes the file torch wrote to the values torch reported', () => {
    const { tensors, metadata } = decodeSafetensors(torchBytes);
    expect(metadata).toEqual(torchJson.metadata);
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(torchJson.tensors).sort());
    for (const [name, want] of Object.entries(torchJson.tensors)) {
      const got = tensors[name];
      expect([got.dtype, got.shape], name).toEqual([want.dtype, want.shape]);
      expect(bits(got.data), name).toEqual(bits(toInput(want).data));
    }
    expect(tensors['1.num_batches_tracked']).toEqual({ dtype: 'I64', shape: [], data: BigInt64Array.of(1n) });
  });

  it('encodes the same state dict to exactly the bytes torch wrote', () => {
    const input = Object.fromEntries(Object.entries(torchJson.tensors).map(([k, t]) => [k, toInput(t)]));
    expect(encodeSafetensors(input, torchJson.metadata)).toEqual(torchBytes);
  });

  it('a BatchNorm1d trained here saves a file torch loads (ours_small.safetensors), and loads back', async () => {
    await init();
    const { tensors } = decodeSafetensors(torchBytes);
    const step = torchJson.bn_step;
    const prefix = `${step.layer}.`;
    const bnState = Object.fromEntries(
      Object.entries(tensors)
        .filter(([k]) => k.startsWith(prefix))
        .map(([k, t]) => [k.slice(prefix.length), t.data]),
    );
    const bn = new BatchNorm1d(3, { momentum: step.momentum, eps: step.eps });
    // num_batches_tracked is an I64 scalar: its one BigInt goes in as it is
    bn.loadStateDict({ ...bnState, num_batches_tracked: (bnState.num_batches_tracked as BigInt64Array)[0] } as never);
    bn.train();
    using x = tensor(step.x.values, step.x.shape);
    bn.forward(x).dispose();
    const sd = bn.stateDict();
    closeTo(sd.running_mean!, step.expected[`${prefix}running_mean`].values, 'running_mean');
    closeTo(sd.running_var!, step.expected[`${prefix}running_var`].values, 'running_var');
    expect(sd.num_batches_tracked).toBe(2);

    const ours: Record<string, SafetensorsInput> = { ...tensors };
    for (const key of ['weight', 'bias', 'running_mean', 'running_var'] as const) ours[prefix + key] = { shape: [3], data: sd[key]! };
    ours[`${prefix}num_batches_tracked`] = { shape: [], data: BigInt64Array.of(BigInt(sd.num_batches_tracked!)) };
    const bytes = encodeSafetensors(ours, torchJson.metadata);
    // Written once and committed: gen_safetensors.py loads it into torch (strict) and checks it.
    // A later run on another backend may round the running statistics differently, so the
    // committed file is compared within the same tolerance, not byte for byte.
    const path = fixture('ours_small.safetensors');
    if (!existsSync(path)) writeFileSync(path, bytes);
    const committed = decodeSafetensors(new Uint8Array(readFileSync(path)));
    const fresh = decodeSafetensors(bytes);
    expect(committed.metadata).toEqual(fresh.metadata);
    expect(Object.keys(committed.tensors).sort()).toEqual(Object.keys(fresh.tensors).sort());
    for (const [name, t] of Object.entries(fresh.tensors)) {
      expect([committed.tensors[name].dtype, committed.tensors[name].shape], name).toEqual([t.dtype, t.shape]);
      if (name.includes('running_')) closeTo(committed.tensors[name].data as Float32Array, t.data as Float32Array, name);
      else expect(bits(committed.tensors[name].data), name).toEqual(bits(t.data));
    }

    // and back: the saved state loads into a fresh layer unchanged
    const back = new BatchNorm1d(3);
    const saved = fresh.tensors;
    back.loadStateDict({
      weight: saved[`${prefix}weight`].data as Float32Array,
      bias: saved[`${prefix}bias`].data as Float32Array,
      running_mean: saved[`${prefix}running_mean`].data as Float32Array,
      running_var: saved[`${prefix}running_var`].data as Float32Array,
      num_batches_tracked: (saved[`${prefix}num_batches_tracked`].data as BigInt64Array)[0],
    });
    const again = back.stateDict();
    for (const key of ['weight', 'bias', 'running_mean', 'running_var'] as const) expect(bits(again[key]!), key).toEqual(bits(sd[key]!));
    expect(again.num_batches_tracked).toBe(2);
    bn.dispose();
    back.dispose();
  });
});
