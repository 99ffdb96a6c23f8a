// Bundled by test/onnx_runtimes.test.ts with the fixture inlined, then run in each runtime: parse,
// fold and re-encode a PyTorch-exported model, and refuse a truncated copy of it.
import { encodeOnnx, foldOnnx, parseOnnx } from '../../src/onnx/index';
import model from '../fixtures/onnx/conv_bn_relu.onnx';

// FNV-1a over bytes, as hex: equal hashes ⇒ the same encoding in every runtime.
function fnv(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16);
}

/** What the runtimes must agree on. */
export function run(): Record<string, unknown> {
  const folded = foldOnnx(parseOnnx(model), { input: [3, 1, 12, 12] });
  const bytes = encodeOnnx(folded);
  const again = foldOnnx(parseOnnx(bytes));
  let refused = '';
  try {
    parseOnnx(model.subarray(0, model.length >> 1));
  } catch (e) {
    refused = (e as Error).message.split(' (')[0];
  }
  let sum = 0;
  for (const t of again.initializers.values()) for (const v of t.data as Float32Array) sum += v;
  return { ops: again.nodes.map((n) => n.op), output: again.shapes.get('output'), bytes: bytes.length, hash: fnv(bytes), sum, refused };
}
