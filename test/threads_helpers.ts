// What the thread tests share: deterministic inputs, exact comparisons, and a short SGD run whose
// final weights' bits are compared between thread counts.
import { CrossEntropyLoss, SGD, tensor, type Sequential } from '../src/index';

/** Deterministic values in [-1, 1) (a 32-bit LCG), exact in f32. */
export function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s >>> 8) * 2 ** -23 - 1;
  }
  return out;
}

/** The bits of a Float32Array (a copy), to compare exactly: NaN payloads and −0 included. */
export const bits = (a: Float32Array) => new Uint32Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/** Index of the first element where two results differ, −1 when they are bit-identical (a fast check of millions). */
export function firstDiff(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** firstDiff of each result against its reference. */
export const diffs = (got: Uint32Array[], ref: Uint32Array[]) => got.map((g, i) => firstDiff(g, ref[i]));

/** `model` trained `steps` SGD steps (momentum 0.9) on seeded batches of `shape`, then disposed: its final weights' bits, in name order. */
export function trainedBits(model: Sequential, steps: number, shape: number[], seed: number, labelStride: number): Uint32Array {
  const opt = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  const lossFn = new CrossEntropyLoss();
  const size = shape.reduce((a, b) => a * b, 1);
  model.train();
  for (let step = 0; step < steps; step++) {
    const x = tensor(values(size, seed + step), shape);
    const labels = new Int32Array(shape[0]).map((_, i) => (i * labelStride + step) % 10);
    opt.zeroGrad();
    const logits = model.forward(x);
    lossFn.forward(logits, labels);
    const dLogits = lossFn.backward();
    model.backward(dLogits).dispose();
    opt.step();
    for (const t of [dLogits, logits, x]) t.dispose();
  }
  const sd = model.stateDict();
  const out = Uint32Array.from(
    Object.keys(sd)
      .sort()
      .flatMap((key) => (sd[key] instanceof Float32Array ? Array.from(bits(sd[key] as Float32Array)) : [])),
  );
  opt.dispose();
  lossFn.dispose();
  model.dispose();
  return out;
}
