// Node-only ONNX test helpers: fixture files and onnxruntime-node (the native CPU build), the
// reference runtime of the ONNX tests.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseOnnxTensor, type OnnxTensor } from '../src/onnx/index';

/** The folder of the ONNX fixtures. */
export const ONNX_FIXTURES = join(__dirname, 'fixtures', 'onnx');

/** A fixture file's bytes (path relative to test/fixtures/onnx). */
export function readOnnxFixture(path: string): Uint8Array {
  return new Uint8Array(readFileSync(join(ONNX_FIXTURES, path)));
}

/** A serialized TensorProto fixture (.pb), as an OnnxTensor. */
export function readTensorPb(path: string): OnnxTensor {
  return parseOnnxTensor(readOnnxFixture(path));
}

/** The vendored ONNX node tests: name, model bytes, and readers of test_data_set_0's inputs and expected outputs. */
export function nodeTests(): { name: string; model: Uint8Array; inputs: () => OnnxTensor[]; outputs: () => OnnxTensor[] }[] {
  const root = join(ONNX_FIXTURES, 'node');
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => {
      const files = readdirSync(join(root, d.name, 'test_data_set_0')).sort();
      const read = (prefix: string) => (): OnnxTensor[] =>
        files.filter((f) => f.startsWith(prefix)).map((f) => readTensorPb(join('node', d.name, 'test_data_set_0', f)));
      return { name: d.name, model: readOnnxFixture(join('node', d.name, 'model.onnx')), inputs: read('input_'), outputs: read('output_') };
    });
}

/** Runs a model with onnxruntime-node on one thread and returns its outputs by name. */
export async function runOrt(
  model: Uint8Array,
  feeds: Record<string, { dims: number[]; data: Float32Array | BigInt64Array }>,
): Promise<Record<string, { dims: number[]; data: Float32Array }>> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'] });
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds))
      inputs[k] = new ort.Tensor(v.data instanceof Float32Array ? 'float32' : 'int64', v.data, v.dims);
    const out = await session.run(inputs);
    const result: Record<string, { dims: number[]; data: Float32Array }> = {};
    for (const [k, t] of Object.entries(out)) result[k] = { dims: t.dims.slice(), data: t.data as Float32Array };
    return result;
  } finally {
    await session.release();
  }
}

/** The largest |a − b| over two arrays of equal length (Infinity when the lengths differ). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
