// safetensors files built to attack the reader: a tensor named __proto__, keys given twice, metadata
// nested 100 000 deep, headers of millions of empty tensors. Each is refused with a safetensors error,
// early, and leaves the model as it was.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  BatchNorm1d,
  Generator,
  Linear,
  Sequential,
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
} from '../src/index';
import { BACKENDS, caught } from './helpers';

/** A file whose header is `json` (padded with spaces to 8 bytes) followed by `dataBytes` zero bytes. */
function file(json: string, dataBytes = 0): Uint8Array {
  const text = new TextEncoder().encode(json);
  const n = Math.ceil(text.length / 8) * 8;
  const out = new Uint8Array(8 + n + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(text, 8);
  out.fill(0x20, 8 + text.length, 8 + n);
  return out;
}

const model = () => new Sequential(new Linear(3, 4, { generator: new Generator(1) }), new BatchNorm1d(4));

/** A header of `count` zero-size tensors (each a valid entry: [0, 0) of an empty data section). */
function emptyTensors(count: number): string {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(`"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
  return `{${parts.join(',')}}`;
}

for (const b of BACKENDS) {
  describe(`loadSafetensors with hostile names (${b})`, () => {
    beforeAll(async () => {
      await init({ backend: b });
    });

    it("an extra tensor named '__proto__' is an unexpected key in strict mode, and ignored otherwise", () => {
      const m = model();
      const good = saveSafetensors(m);
      const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
      for (const [name, t] of Object.entries(decodeSafetensors(good).tensors))
        if (t.dtype === 'F32') tensors[name] = { shape: t.shape, data: t.data.map((v) => v + 1) };
      Object.defineProperty(tensors, '__proto__', { value: { shape: [1], data: Float32Array.of(5) }, enumerable: true });
      const bytes = encodeSafetensors(tensors);
      const before = m.stateDict();
      expect(caught(() => loadSafetensors(m, bytes)).message).toMatch(
        /^Sequential\.loadStateDict: unexpected key '__proto__'|loadStateDict: unexpected key '__proto__'/,
      );
      expect(m.stateDict()).toEqual(before);
      loadSafetensors(m, bytes, { strict: false });
      expect(m.stateDict()['0.weight']).toEqual((before['0.weight'] as Float32Array).map((v) => v + 1));
      expect(Object.getPrototypeOf(m)).toBe(Sequential.prototype);
      m.dispose();
    });
  });
}

describe('decodeSafetensors on hostile headers', () => {
  beforeAll(async () => {
    await init({ backend: 'js' });
  });

  it('a duplicated __metadata__ key is refused, as the reference reader refuses it', () => {
    const bytes = file(
      '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"__metadata__":{"format":"evil"}}',
      4,
    );
    expect(caught(() => decodeSafetensors(bytes)).message).toBe('safetensors: header: __metadata__ appears twice');
  });

  it('a duplicated tensor name, or a field given twice, is refused instead of keeping the last', () => {
    const twice = file('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4);
    expect(caught(() => decodeSafetensors(twice)).message).toBe("safetensors: header: tensor 'w' appears twice");
    const field = file('{"w":{"dtype":"I64","shape":[1],"dtype":"F32","data_offsets":[0,4]}}', 4);
    expect(caught(() => decodeSafetensors(field)).message).toBe("safetensors: header: key 'dtype' appears twice in 'w'");
    const meta = file('{"__metadata__":{"a":"1","a":"2"}}');
    expect(caught(() => decodeSafetensors(meta)).message).toBe("safetensors: header: key 'a' appears twice in '__metadata__'");
    // the same name in two objects is no duplicate
    expect(
      Object.keys(decodeSafetensors(file('{"__metadata__":{"w":"x"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 4)).tensors),
    ).toEqual(['w']);
  });

  it('metadata nested 100 000 deep gives a safetensors error, not a stack overflow', () => {
    const deep = `{"__metadata__":{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`;
    const e = caught(() => decodeSafetensors(file(deep)));
    expect(e.constructor).toBe(Error);
    expect(e.message).toBe(
      'safetensors: header: nested 4 levels deep; a header is an object of tensor objects (and __metadata__), at most 3 levels',
    );
    // a string that merely contains brackets is data
    const meta = decodeSafetensors(file('{"__metadata__":{"a":"[[[[{{{{\\"]]"}}')).metadata;
    expect(meta).toEqual({ a: '[[[[{{{{"]]' });
  });

  it('a header of a million empty tensors is refused after maxEntries, before it is parsed', () => {
    const bytes = file(emptyTensors(1_000_000));
    expect(bytes.length).toBeGreaterThan(50e6);
    const t0 = performance.now();
    expect(caught(() => decodeSafetensors(bytes)).message).toBe('safetensors: header: more than 100000 tensors (maxEntries)');
    expect(caught(() => decodeSafetensors(bytes, { maxEntries: 10 })).message).toBe(
      'safetensors: header: more than 10 tensors (maxEntries)',
    );
    const ms = performance.now() - t0;
    console.log(`decode of a ${(bytes.length / 1e6).toFixed(0)} MB header refused twice in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(3000); // the whole parse took 10 s and 1.15 GB at 60 MB
    expect(Object.keys(decodeSafetensors(file(emptyTensors(10)), { maxEntries: 10 }).tensors)).toHaveLength(10);
  });

  it('loadSafetensors bounds the header by what the model needs', () => {
    const m = model(); // 7 state entries
    const huge = file(emptyTensors(200_000));
    expect(caught(() => loadSafetensors(m, huge)).message).toBe(
      'safetensors: header length 11688896 bytes exceeds the limit of ' + ((7 + 64) * 4096 + 2 ** 20) + ' (maxHeaderBytes)',
    );
    expect(caught(() => loadSafetensors(m, huge, { maxHeaderBytes: 100_000_000 })).message).toBe(
      'safetensors: header: more than 71 tensors (maxEntries)',
    );
    m.dispose();
  });

  it('unknown options are refused', () => {
    expect(caught(() => decodeSafetensors(file('{}'), { maxHeader: 10 } as object)).message).toBe(
      "safetensors: options: unknown option 'maxHeader' (expected one of maxHeaderBytes, maxEntries)",
    );
    const m = model();
    expect(caught(() => loadSafetensors(m, saveSafetensors(m), { strcit: true } as object)).message).toMatch(
      /^loadSafetensors: unknown option 'strcit'/,
    );
    m.dispose();
  });
});
