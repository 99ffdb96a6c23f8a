// PyTorch's weights into a model loaded from its ONNX export: loadOnnx names each initializer as the
// exporter did (PyTorch's state-dict names), so the safetensors of the same model's state_dict load
// into the unfolded graph by name, and the graph then gives torch's output under those weights.
// Fixtures: scripts/gen_onnx_fixtures.py (residual.onnx, its input) and scripts/gen_onnx_safetensors.py
// (other weights as safetensors, torch's output with them).
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeSafetensors, foldBatchNorm, init, loadSafetensors, noGrad, tensor } from '../src/index';
import { loadOnnx } from '../src/onnx/index';
import { maxAbsDiff, readOnnxFixture, readTensorPb } from './onnx_node_helpers';
import { BACKENDS } from './helpers';

// PyTorch's float32 convolutions against ours (im2col GEMM) through 5 conv layers, outputs of order 1
const TOL = 1e-4;

for (const backend of BACKENDS) {
  describe(`PyTorch's safetensors into a graph loaded from ONNX (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it("loads every tensor of the state_dict by name and gives torch's output under the new weights", async () => {
      const bytes = readOnnxFixture('residual.state.safetensors');
      const graph = await loadOnnx(readOnnxFixture('residual.onnx'), { fold: false });
      const x = readTensorPb('residual.input.pb');
      const want = readTensorPb('residual.state.output.pb').data as Float32Array;
      const run = () => noGrad(() => graph.forward(tensor(x.data as Float32Array, x.dims)).toArray());
      const before = run();
      expect(maxAbsDiff(before, want)).toBeGreaterThan(0.01); // the export's own weights give another output

      loadSafetensors(graph, bytes);
      // every float tensor of the file is now the graph's state under the same name, bit for bit
      const file = decodeSafetensors(bytes).tensors;
      const state = graph.stateDict();
      for (const [name, t] of Object.entries(file)) {
        if (t.dtype !== 'F32') continue;
        expect(Object.keys(state), name).toContain(name);
        expect(Array.from(state[name] as Float32Array), name).toEqual(Array.from(t.data));
      }
      expect(maxAbsDiff(run(), want)).toBeLessThan(TOL);
      graph.dispose();
    });

    it('then folds BatchNorm into the convolutions with the loaded statistics', async () => {
      const graph = await loadOnnx(readOnnxFixture('residual.onnx'), { fold: false });
      loadSafetensors(graph, readOnnxFixture('residual.state.safetensors'));
      const folded = foldBatchNorm(graph);
      const x = readTensorPb('residual.input.pb');
      const want = readTensorPb('residual.state.output.pb').data as Float32Array;
      const got = noGrad(() => folded.forward(tensor(x.data as Float32Array, x.dims)).toArray());
      expect(maxAbsDiff(got, want)).toBeLessThan(TOL);
      folded.dispose();
      graph.dispose();
    });
  });
}
