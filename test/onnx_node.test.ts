// ONNX's own backend node tests (vendored in test/fixtures/onnx/node, see its README): every model of
// a supported operator parses, folds and re-encodes at opset 17; onnxruntime-node runs the re-encoded
// model on the test's inputs and gives the test's expected outputs. Models of unsupported operators
// or types are refused with an error naming the node and the operator.
import { describe, expect, it } from 'vitest';
import { encodeOnnx, foldOnnx, parseOnnx, SHAPE_OPS } from '../src/onnx/index';
import { maxAbsDiff, nodeTests, runOrt } from './onnx_node_helpers';

// ONNX's node tests compare with rtol 1e-3, atol 1e-7 (onnx/backend/test/case/node); the outputs
// here are of order 1, so 1e-5 absolute is tighter than theirs and wider than float32 rounding
// differences between ONNX's numpy reference and onnxruntime's kernels.
const NODE_TEST_TOL = 1e-5;

// Refused on purpose: an operator outside the supported list, a float16 cast, models of opsets < 11.
const REFUSED: Record<string, RegExp> = {
  test_globalaveragepool: /^parseOnnx: opset_import: expected opset 11–21, got 1$/,
  test_hardsigmoid: /^parseOnnx: opset_import: expected opset 11–21, got 6$/,
  test_convtranspose: /node '.*' \(ConvTranspose\): unsupported operator/,
  test_cast_FLOAT_to_FLOAT16: /node '.*' \(Cast\): attribute to: expected FLOAT or INT64, got FLOAT16/,
};

// Shape-subgraph operators applied to a graph input: foldOnnx evaluates them on constants only.
const FOLD_REFUSED = ['test_gather_0', 'test_unsqueeze_axis_0', 'test_squeeze', 'test_slice'];

// Cases that feed an operator's configuration (Clip's bounds, Reshape's shape, Pad's pads) as graph inputs; an
// exported model has them as constants, and so do these once the inputs become initializers.
const CONFIG_INPUTS = /^test_(clip|reshape|constant_pad)/;

describe('ONNX node tests', () => {
  const cases = nodeTests();
  it('vendors the cases the README lists', () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
  });
  for (const c of cases) {
    if (REFUSED[c.name]) {
      it(`${c.name}: refused`, () => {
        expect(() => parseOnnx(c.model)).toThrow(REFUSED[c.name]);
      });
      continue;
    }
    if (FOLD_REFUSED.includes(c.name)) {
      it(`${c.name}: parses; folding refuses the operator on a computed tensor`, () => {
        const parsed = parseOnnx(c.model);
        expect(() => foldOnnx(parsed)).toThrow(
          /^foldOnnx: node '.*' \((Gather|Unsqueeze|Squeeze|Slice)\): input '.*': expected a constant \(a shape subgraph\), got a computed tensor/,
        );
      });
      continue;
    }
    it(`${c.name}: parses, folds, re-encodes; onnxruntime runs the re-encoded model to the expected outputs`, async () => {
      const parsed = parseOnnx(c.model);
      let [inputs, outputs] = [c.inputs(), c.outputs()];
      if (CONFIG_INPUTS.test(c.name)) {
        parsed.inputs.slice(1).forEach((v, i) => parsed.initializers.set(v.name, { ...inputs[i + 1], name: v.name }));
        parsed.inputs = parsed.inputs.slice(0, 1);
        inputs = inputs.slice(0, 1);
      }
      const feeds = Object.fromEntries(parsed.inputs.map((v, i) => [v.name, inputs[i]]));
      const shapes = Object.fromEntries(parsed.inputs.map((v, i) => [v.name, inputs[i].dims]));
      const folded = foldOnnx(parsed, shapes);
      expect(folded.nodes.filter((n) => SHAPE_OPS.has(n.op))).toEqual([]);
      for (const [i, o] of folded.outputs.entries())
        if (folded.initializers.has(o.name) === false) expect(folded.shapes.get(o.name)).toEqual(outputs[i].dims);
      const out = await runOrt(encodeOnnx(folded), feeds);
      folded.outputs.forEach((o, i) => {
        const want = outputs[i];
        expect(out[o.name].dims).toEqual(want.dims);
        const got =
          want.data instanceof BigInt64Array ? Array.from(out[o.name].data as unknown as BigInt64Array, Number) : out[o.name].data;
        const exp = want.data instanceof BigInt64Array ? Array.from(want.data, Number) : want.data;
        expect(maxAbsDiff(got, exp)).toBeLessThanOrEqual(NODE_TEST_TOL);
      });
    });
  }
});
