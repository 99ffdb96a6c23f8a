// loadOnnx on ONNX's own backend node tests (test/fixtures/onnx/node): each model of a supported
// operator loaded as a Graph and run to ONNX's expected outputs, on every backend; the others refused
// with a message naming the node, the operator and why, with nothing allocated.
import { beforeAll, describe, expect, it } from 'vitest';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { init, noGrad, tensor, type Tensor } from '../src/index';
import { loadOnnx } from '../src/onnx/index';
import { ModelProtoSchema, TensorProto_DataType, TensorProtoSchema } from '../src/onnx/onnx_pb';
import type { OnnxTensor } from '../src/onnx/index';
import { countAllocations } from './alloc_count';
import { maxAbsDiff, nodeTests } from './onnx_node_helpers';
import { BACKENDS } from './helpers';

// ONNX's expected outputs are NumPy float32 (or float64 rounded); ours differ by float32 rounding of
// a few operations: relative to the output's magnitude.
const NODE_TOL = 1e-5;

// Operators whose inputs after the first are weights or attributes in the models torch exports; the
// node tests feed them as graph inputs, so here they become initializers (the loader reads those).
const CONST_INPUTS = new Set(['Conv', 'BatchNormalization', 'Gemm', 'Clip', 'Reshape', 'Pad']);

// Refused by the loader (or by parseOnnx/foldOnnx before it), each with the reason in its message.
const REFUSED: Record<string, RegExp> = {
  test_convtranspose: /\(ConvTranspose\): unsupported operator/,
  test_cast_FLOAT_to_FLOAT16: /\(Cast\): attribute to: expected FLOAT or INT64, got FLOAT16/,
  test_globalaveragepool: /expected opset 11–21, got 1$/,
  test_hardsigmoid: /expected opset 11–21, got 6$/,
  test_gather_0: /Gather/,
  test_unsqueeze_axis_0: /Unsqueeze/,
  test_squeeze: /Squeeze/,
  test_slice: /Slice/,
  test_shape: /output 'y': a constant of int64, expected float32 data/,
};

function int64Proto(t: OnnxTensor) {
  return create(TensorProtoSchema, {
    name: t.name,
    dims: t.dims.map(BigInt),
    dataType: TensorProto_DataType.INT64,
    int64Data: Array.from(t.data as BigInt64Array),
  });
}

/** The node test's model with its weight-like inputs made initializers, and the feeds of the rest. */
function prepare(model: Uint8Array, inputs: OnnxTensor[]): { bytes: Uint8Array; feeds: [string, OnnxTensor][]; op: string } {
  const m = fromBinary(ModelProtoSchema, model);
  const g = m.graph!;
  const op = g.node[0].opType;
  const names = g.input.map((v) => v.name);
  const feeds: [string, OnnxTensor][] = [];
  names.forEach((name, i) => {
    const t = { ...inputs[i], name };
    if (i === 0 || !CONST_INPUTS.has(op)) return feeds.push([name, t]);
    g.initializer.push(
      t.dtype === 'float32'
        ? create(TensorProtoSchema, {
            name,
            dims: t.dims.map(BigInt),
            dataType: TensorProto_DataType.FLOAT,
            rawData: new Uint8Array((t.data as Float32Array).slice().buffer),
          })
        : int64Proto(t),
    );
  });
  g.input = g.input.filter((v) => feeds.some(([n]) => n === v.name));
  // ONNX's training-mode BN tests also check the running statistics: read from the layer's state instead
  if (op === 'BatchNormalization') g.output.length = 1;
  return { bytes: toBinary(ModelProtoSchema, m), feeds, op };
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

for (const backend of BACKENDS) {
  describe(`loadOnnx on ONNX's node tests (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    for (const t of nodeTests()) {
      const refused = REFUSED[t.name];
      it(`${t.name}: ${refused ? 'refused, nothing allocated' : "ONNX's expected outputs"}`, async () => {
        const { bytes, feeds, op } = prepare(t.model, t.inputs());
        if (refused) {
          const counter = countAllocations();
          try {
            await expect(loadOnnx(bytes)).rejects.toThrow(refused);
            expect(counter.calls()).toBe(0);
          } finally {
            counter.stop();
          }
          return;
        }
        const want = t.outputs();
        const training = /training_mode/.test(t.name);
        const g = await loadOnnx(bytes, { training });
        const out = noGrad(() => {
          const ys = g.run(Object.fromEntries(feeds.map(([k, v]) => [k, tensor(v.data as Float32Array, v.dims)])));
          return Object.fromEntries(Object.entries(ys).map(([k, y]) => [k, { shape: y.shape, data: (y as Tensor).toArray() }]));
        });
        const names = g.outputNames;
        const y = out[names[0]];
        expect(y.shape).toEqual(want[0].dims);
        expect(maxAbsDiff(y.data, want[0].data as Float32Array)).toBeLessThanOrEqual(
          NODE_TOL * Math.max(1, maxAbs(want[0].data as Float32Array)),
        );
        if (op === 'BatchNormalization' && training) {
          // ONNX's rule: running_var moves toward the population variance (÷ M)
          const sd = g.stateDict();
          const [, mean, vari] = want;
          const keys = Object.keys(sd);
          const rm = sd[keys.find((k) => /mean/.test(k))!] as Float32Array;
          const rv = sd[keys.find((k) => /var/.test(k))!] as Float32Array;
          expect(maxAbsDiff(rm, mean.data as Float32Array)).toBeLessThanOrEqual(NODE_TOL);
          expect(maxAbsDiff(rv, vari.data as Float32Array)).toBeLessThanOrEqual(NODE_TOL);
        }
        g.dispose();
      });
    }
  });
}
