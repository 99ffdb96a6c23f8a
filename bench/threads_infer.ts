// bench --threads rows for the inference kernels a Graph runs under noGrad (the convolution with its
// fused bias and ReLU at resnet18's shapes, at batch 1 and at the demo's batch, a size near the split
// threshold, the 3×3 depthwise convolution, max pooling without argmax) and the training depthwise
// convolution (forward; backward: dx, dW, db). Each row: a setup returning the timed call, its
// output (to compare the bits between thread counts) and a cleanup.
import { Conv2d, Generator, MaxPool2d, noGrad, tensor, type Tensor } from '../src/index';
import { runFusedConv, runMaxPoolInfer } from '../src/graph/fuse';

/** A bench row (bench/threads.ts's Case). */
export interface ThreadCase {
  name: string;
  flops: number;
  bytes: number;
  setup(): { run: () => void; out: () => Float32Array; dispose: () => void };
}

const RELU = { kind: 'relu', lo: 0, hi: Infinity } as const;
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** `call(x)` under noGrad on a seeded x of `shape`, its output disposed each call. */
function inferCase(
  name: string,
  shape: number[],
  flops: number,
  values: (n: number, seed: number) => Float32Array,
  make: () => { call(x: Tensor): Tensor; dispose(): void },
): ThreadCase {
  return {
    name,
    flops,
    bytes: 0,
    setup() {
      const m = make();
      const x = tensor(values(size(shape), 3), shape);
      const once = () => noGrad(() => m.call(x));
      return {
        run: () => once().dispose(),
        out: () => {
          const y = once();
          const v = y.toArray();
          y.dispose();
          return v;
        },
        dispose: () => {
          x.dispose();
          m.dispose();
        },
      };
    },
  };
}

/** A dense convolution c → o (k×k, padding k/2, stride s) in eval, run fused with a ReLU. */
function convInfer(name: string, shape: number[], o: number, k: number, s: number, values: (n: number, seed: number) => Float32Array) {
  const [n, c, h, w] = shape;
  const oh = Math.floor((h + 2 * (k >> 1) - k) / s) + 1,
    ow = Math.floor((w + 2 * (k >> 1) - k) / s) + 1;
  return inferCase(name, shape, 2 * n * o * oh * ow * c * k * k, values, () => {
    const conv = new Conv2d(c, o, k, { stride: s, padding: k >> 1, generator: new Generator(1) }).eval();
    return { call: (x) => runFusedConv(conv, x, RELU), dispose: () => conv.dispose() };
  });
}

/** The rows, on inputs from `values`. */
export function inferCases(values: (n: number, seed: number) => Float32Array): ThreadCase[] {
  const depthwise = (c: number, s: number, opts: { groups?: number } = {}) =>
    new Conv2d(c, c, 3, { stride: s, padding: 1, groups: opts.groups ?? c, generator: new Generator(2) });
  const dwTrain = [60, 32, 28, 28];
  return [
    convInfer('infer conv resnet18 layer1 3×3 [1,64,56,56]', [1, 64, 56, 56], 64, 3, 1, values),
    convInfer('infer conv resnet18 layer4 3×3 [1,512,7,7]', [1, 512, 7, 7], 512, 3, 1, values),
    convInfer('infer conv resnet18 stem 7×7/2 [1,3,224,224]', [1, 3, 224, 224], 64, 7, 2, values),
    convInfer('infer conv demo conv2 [60,32,14,14]', [60, 32, 14, 14], 64, 3, 1, values),
    // near the threshold (2^18 multiply-adds): 2^19 and 2^17.2
    convInfer('infer conv small 3×3 [1,16,16,16] (2^19 MACs)', [1, 16, 16, 16], 16, 3, 1, values),
    convInfer('infer conv small 3×3 [1,8,12,12] (2^17.2 MACs)', [1, 8, 12, 12], 16, 3, 1, values),
    inferCase('infer depthwise 3×3 [1,96,112,112]', [1, 96, 112, 112], 2 * 9 * 96 * 112 * 112, values, () => {
      const m = depthwise(96, 1).eval();
      return { call: (x) => runFusedConv(m, x, { kind: 'clamp', lo: 0, hi: 6 }), dispose: () => m.dispose() };
    }),
    inferCase('infer depthwise 3×3 [1,32,16,16] (2^13 outputs)', [1, 32, 16, 16], 2 * 9 * 32 * 256, values, () => {
      const m = depthwise(32, 1).eval();
      return { call: (x) => runFusedConv(m, x, null), dispose: () => m.dispose() };
    }),
    inferCase('infer max-pool 3×3/2 [1,64,112,112]', [1, 64, 112, 112], 0, values, () => {
      const m = new MaxPool2d(3, { stride: 2, padding: 1 }).eval();
      return { call: (x) => runMaxPoolInfer(m, x), dispose: () => undefined };
    }),
    inferCase('train depthwise 3×3 forward [60,32,28,28]', dwTrain, 2 * 9 * size(dwTrain), values, () => {
      const m = depthwise(32, 1);
      return { call: (x) => m.forward(x), dispose: () => m.dispose() };
    }),
    trainBackward('train depthwise 3×3 backward [60,32,28,28]', dwTrain, 4 * 9 * size(dwTrain), values, () => depthwise(32, 1)),
    // batch 1: the training depthwise convolution in blocks of channels, channels-last max pooling
    // in blocks of output rows (forward) and of channels (backward)
    inferCase('train depthwise 3×3 forward [1,96,112,112]', [1, 96, 112, 112], 2 * 9 * 96 * 112 * 112, values, () => {
      const m = depthwise(96, 1);
      return { call: (x) => m.forward(x), dispose: () => m.dispose() };
    }),
    trainBackward('train depthwise 3×3 backward [1,96,112,112]', [1, 96, 112, 112], 4 * 9 * 96 * 112 * 112, values, () => depthwise(96, 1)),
    inferCase('infer max-pool 3×3/2 NHWC [1,112,112,64]', [1, 112, 112, 64], 0, values, () => {
      const m = new MaxPool2d(3, { stride: 2, padding: 1, layout: 'NHWC' }).eval();
      return { call: (x) => runMaxPoolInfer(m, x), dispose: () => undefined };
    }),
    inferCase('train max-pool 3×3/2 NHWC forward [1,112,112,64]', [1, 112, 112, 64], 0, values, () => {
      const m = new MaxPool2d(3, { stride: 2, padding: 1, layout: 'NHWC' });
      return { call: (x) => m.forward(x), dispose: () => undefined };
    }),
    trainBackward('train max-pool 3×3/2 NHWC backward [1,112,112,64]', [1, 112, 112, 64], 0, values, () => {
      const m = new MaxPool2d(3, { stride: 2, padding: 1, layout: 'NHWC' });
      return { forward: (x: Tensor) => m.forward(x), backward: (dy: Tensor) => m.backward(dy), dispose: () => undefined };
    }),
  ];
}

/** A layer's backward (dx, and its parameters' gradients) on a seeded x of `shape` and dy, dx disposed each call. */
function trainBackward(
  name: string,
  shape: number[],
  flops: number,
  values: (n: number, seed: number) => Float32Array,
  make: () => { forward(x: Tensor): Tensor; backward(dy: Tensor): Tensor; dispose(): void },
): ThreadCase {
  return {
    name,
    flops,
    bytes: 0,
    setup() {
      const m = make();
      const x = tensor(values(size(shape), 3), shape);
      const y = m.forward(x);
      const dy = tensor(values(y.size, 4), y.shape);
      return {
        run: () => m.backward(dy).dispose(),
        out: () => {
          const dx = m.backward(dy);
          const v = dx.toArray();
          dx.dispose();
          return v;
        },
        dispose: () => {
          for (const t of [dy, y, x]) t.dispose();
          m.dispose();
        },
      };
    },
  };
}
