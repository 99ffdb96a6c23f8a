// Fine-tuning an imported model: the PyTorch-exported conv_bn_relu CNN (12×12 inputs, 10 classes)
// loaded in training mode, every layer frozen but the last, trained with fit on MNIST digits
// (downsampled to 12×12): the loss falls, the BatchNorm running statistics move, the frozen weights
// do not, and the last layer's gradients match central differences of the loss. On every backend.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, fit, noGrad, tensor, F, SGD, type Graph } from '../src/index';
import { loadOnnx } from '../src/onnx/index';
import { loadMnist, IMAGE_SIDE } from '../examples/mnist/data';
import { readOnnxFixture } from './onnx_node_helpers';
import { BACKENDS, bits } from './helpers';

const SIDE = 12;
// central differences of a float32 loss of order 1 with step 1e-2: rounding ~1e-7/1e-2 = 1e-5 and
// truncation O(h²) (the loss is smooth in the last layer's weights), against gradients of order 1e-2
const FD_TOL = 2e-4;

/** Digits cropped to 24×24 and averaged over 2×2 blocks: the 12×12 inputs the exported CNN takes. */
function digits(n: number): { x: Float32Array; y: Int32Array } {
  const { train } = loadMnist({ trainSize: n, testSize: 0 });
  const x = new Float32Array(n * SIDE * SIDE);
  for (let i = 0; i < n; i++)
    for (let r = 0; r < SIDE; r++)
      for (let c = 0; c < SIDE; c++) {
        let s = 0;
        for (const [dr, dc] of [
          [0, 0],
          [0, 1],
          [1, 0],
          [1, 1],
        ])
          s += train.x[i * IMAGE_SIDE * IMAGE_SIDE + (2 + 2 * r + dr) * IMAGE_SIDE + 2 + 2 * c + dc];
        x[i * SIDE * SIDE + r * SIDE + c] = s / 4;
      }
  return { x, y: train.y.slice(0, n) };
}

function lossOf(g: Graph, x: Float32Array, y: Int32Array): number {
  return noGrad(() => F.crossEntropy(g.forward(tensor(x, [y.length, 1, SIDE, SIDE])), y).item());
}

for (const backend of BACKENDS) {
  describe(`fine-tuning a model loaded from ONNX (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('last layer only: loss falls, running statistics move, frozen weights stay, gradients match finite differences', async () => {
      const g = await loadOnnx(readOnnxFixture('conv_bn_relu.onnx'), { training: true });
      expect(g.training).toBe(true);
      const trained = g.namedParameters().filter(([k]) => k.startsWith('fc.'));
      expect(trained.map(([k]) => k)).toEqual(['fc.weight', 'fc.bias']);
      for (const [k, p] of g.namedParameters()) if (!k.startsWith('fc.')) p.requiresGrad = false;
      const before = g.stateDict();
      const data = digits(256);
      const logs = await fit(
        g,
        { x: data.x, y: data.y, shape: [1, SIDE, SIDE] },
        {
          epochs: 3,
          batchSize: 32,
          optimizer: new SGD(
            trained.map(([, p]) => p),
            { lr: 0.05, momentum: 0.9 },
          ),
          loss: 'crossEntropy',
          verbose: 0,
        },
      );
      expect(logs[2].loss).toBeLessThan(logs[0].loss);
      // a frozen parameter never gets a gradient buffer (src/tensor.ts: allocated at the first need)
      for (const [k, p] of g.namedParameters()) expect(p._grad === null, k).toBe(!k.startsWith('fc.'));
      const after = g.stateDict();
      for (const [k, v] of Object.entries(before)) {
        if (typeof v === 'number' || v === undefined) continue;
        const was = bits(v)!;
        const moved = bits(after[k] as Float32Array)!.some((b, i) => b !== was[i]);
        // the BN running statistics move (training mode), the frozen weights do not, the last layer learns
        if (/running_(mean|var)$/.test(k) || k.startsWith('fc.')) expect(moved, k).toBe(true);
        else expect(moved, k).toBe(false);
      }

      // dL/dW of the last layer, against central differences of the loss on one batch
      const xb = data.x.subarray(0, 16 * SIDE * SIDE);
      const yb = data.y.subarray(0, 16);
      const [, w] = trained[0];
      w.grad.view().fill(0);
      const loss = F.crossEntropy(g.forward(tensor(xb, [16, 1, SIDE, SIDE])), yb);
      loss.backward();
      const grad = w.grad.toArray();
      const h = 1e-2;
      for (const i of [0, 7, 100, grad.length - 1]) {
        const v = w.view()[i];
        w.view()[i] = v + h;
        const up = lossOf(g, xb, yb);
        w.view()[i] = v - h;
        const down = lossOf(g, xb, yb);
        w.view()[i] = v;
        expect(Math.abs((up - down) / (2 * h) - grad[i])).toBeLessThanOrEqual(FD_TOL);
      }
      g.dispose();
    });
  });
}
