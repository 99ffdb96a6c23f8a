// The convolution gradients TF.js's wasm backend needs to train a CNN. In 4.22 it registers no
// Conv2DBackpropFilter kernel (tf.grad through tf.conv2d throws "Kernel 'Conv2DBackpropFilter' not
// registered for backend 'wasm'"), and its Conv2DBackpropInput took ~9× the time of its XNNPACK
// forward Conv2D on the CNN's second conv (97 vs 11 ms, [60,14,14,32] → 64 channels). Two ways to supply them, switched with setConvGrads():
//
// 'stock' the filter gradient from TF.js's own wasm Conv3DBackpropFilterV2 kernel on a depth-1
//         view of x and dy (no copy); the input gradient from TF.js's own Conv2DBackpropInput.
// 'gemm'  the filter gradient as dW[kh·kw·in, out] = colsᵀ · dy[N·OH·OW, out], the columns written
//         transposed ([kh·kw·in, N·OH·OW], by a JS loop on the wasm heap) so that TF.js's
//         BatchMatMul (XNNPACK) runs without a transpose flag; the input gradient (stride 1,
//         dilation 1) as the forward Conv2D of dy with the filter flipped in space and in/out
//         swapped. The strongest TF.js baseline we could make; the CNN ratios are taken against it.
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type ConvGrads = 'stock' | 'gemm';
let mode: ConvGrads = 'gemm';
let installed = false;

type Info = tf.TensorInfo;
interface Args {
  inputs: Record<string, Info>;
  backend: BackendWasm;
  attrs: Record<string, unknown>;
}
type Attrs = {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

const kernel = (name: string) => {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`tfjs: no wasm kernel ${name}`);
  return k.kernelFunc as unknown as (a: Args) => Info;
};
const view = (t: Info, shape: number[]): Info => ({ dataId: t.dataId, shape, dtype: t.dtype });

function convInfo(xShape: number[], filterShape: number[], a: Attrs) {
  if (a.dataFormat !== 'NHWC') throw new Error(`tfjs conv grads: NHWC only, got ${a.dataFormat}`);
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
}

function filterGradStock({ inputs: { x, dy }, backend, attrs }: Args): Info {
  const a = attrs as unknown as Attrs & { filterShape: number[] };
  const ci = convInfo(x.shape, a.filterShape, a);
  const v5 = (t: Info) => view(t, [t.shape[0], 1, ...t.shape.slice(1)]);
  const pad = ci.padInfo.type === 'SAME' ? 'same' : ci.padInfo.type === 'VALID' ? 'valid' : null;
  if (pad === null) throw new Error('tfjs conv grads (stock): explicit padding has no Conv3D form');
  const out = kernel('Conv3DBackpropFilterV2')({
    inputs: { x: v5(x), dy: v5(dy) },
    backend,
    attrs: { strides: [1, ci.strideHeight, ci.strideWidth], pad, filterShape: [1, ...a.filterShape] },
  });
  return view(out, a.filterShape);
}

function filterGradGemm({ inputs: { x, dy }, backend, attrs }: Args): Info {
  const a = attrs as unknown as Attrs & { filterShape: number[] };
  const ci = convInfo(x.shape, a.filterShape, a);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: O } = ci;
  const { filterHeight: KH, filterWidth: KW, strideHeight: SH, strideWidth: SW } = ci;
  const { top, left } = ci.padInfo;
  const M = N * OH * OW,
    K = KH * KW * C;
  const cols = backend.makeOutput([1, K, M], 'float32');
  // views after the allocation (it may grow the heap and detach older ones)
  const xv = backend.typedArrayFromHeap(x) as Float32Array,
    cv = backend.typedArrayFromHeap(cols) as Float32Array;
  for (let i = 0; i < KH; i++) {
    for (let j = 0; j < KW; j++) {
      for (let c = 0; c < C; c++) {
        let o = ((i * KW + j) * C + c) * M;
        for (let n = 0; n < N; n++) {
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh * SH - top + i;
            if (ih < 0 || ih >= H) {
              cv.fill(0, o, o + OW);
              o += OW;
              continue;
            }
            const row = (n * H + ih) * W;
            for (let ow = 0; ow < OW; ow++, o++) {
              const iw = ow * SW - left + j;
              cv[o] = iw >= 0 && iw < W ? xv[(row + iw) * C + c] : 0;
            }
          }
        }
      }
    }
  }
  const out = kernel('BatchMatMul')({
    inputs: { a: cols, b: view(dy, [1, M, O]) },
    backend,
    attrs: { transposeA: false, transposeB: false },
  });
  backend.disposeData(cols.dataId);
  return view(out, a.filterShape);
}

let stockInputGrad: ((a: Args) => Info) | null = null;

function inputGradGemm(args: Args): Info {
  const {
    inputs: { dy, filter },
    backend,
    attrs,
  } = args;
  const a = attrs as unknown as Attrs & { inputShape: number[] };
  const ci = convInfo(a.inputShape, filter.shape, a);
  if (ci.strideHeight !== 1 || ci.strideWidth !== 1) return stockInputGrad!(args);
  const [KH, KW, C, O] = filter.shape;
  const { top, bottom, left, right } = ci.padInfo;
  // W'[i, j, o, c] = W[KH−1−i, KW−1−j, c, o]
  const flipped = backend.makeOutput([KH, KW, O, C], 'float32');
  const fv = backend.typedArrayFromHeap(filter) as Float32Array,
    wv = backend.typedArrayFromHeap(flipped) as Float32Array;
  for (let i = 0; i < KH; i++)
    for (let j = 0; j < KW; j++) {
      const src = ((KH - 1 - i) * KW + (KW - 1 - j)) * C * O,
        dst = (i * KW + j) * O * C;
      for (let c = 0; c < C; c++) for (let o = 0; o < O; o++) wv[dst + o * C + c] = fv[src + c * O + o];
    }
  const pad = [
    [0, 0],
    [KH - 1 - top, KH - 1 - bottom],
    [KW - 1 - left, KW - 1 - right],
    [0, 0],
  ];
  const out = kernel('Conv2D')({
    inputs: { x: dy, filter: flipped },
    backend,
    attrs: { strides: 1, pad, dataFormat: 'NHWC', dilations: 1 },
  });
  backend.disposeData(flipped.dataId);
  return out;
}

/** Registers the two gradient kernels (once) and selects how they compute. Call after initTfjs(). */
export function setConvGrads(m: ConvGrads): void {
  mode = m;
  if (installed) return;
  installed = true;
  stockInputGrad = kernel('Conv2DBackpropInput');
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropInput',
    backendName: 'wasm',
    kernelFunc: ((a: Args) => (mode === 'gemm' ? inputGradGemm(a) : stockInputGrad!(a))) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ((a: Args) => (mode === 'gemm' ? filterGradGemm(a) : filterGradStock(a))) as unknown as tf.KernelFunc,
  });
}

/** Max |a − b| / max |b| between the gradients of both modes on one conv (untimed check). */
export function checkConvGrads(
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  seed: number,
): { dW: number; dx: number } {
  const prev = mode;
  const x = tf.randomNormal(xShape, 0, 1, 'float32', seed),
    w = tf.randomNormal(filterShape, 0, 1, 'float32', seed + 1);
  const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same');
  const dy = tf.randomNormal(y.shape, 0, 1, 'float32', seed + 2) as tf.Tensor4D;
  const run = (m: ConvGrads) => {
    setConvGrads(m);
    const gw = tf
      .engine()
      .runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape }) as tf.Tensor;
    const gx = tf
      .engine()
      .runKernel(
        'Conv2DBackpropInput',
        { dy, filter: w },
        { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: xShape },
      ) as tf.Tensor;
    const r = [gw.dataSync().slice() as Float32Array, gx.dataSync().slice() as Float32Array];
    tf.dispose([gw, gx]);
    return r;
  };
  const [sw, sx] = run('stock'),
    [gw, gx] = run('gemm');
  setConvGrads(prev);
  tf.dispose([x, w, y, dy]);
  const rel = (a: Float32Array, b: Float32Array) => {
    let d = 0,
      m = 0;
    for (let i = 0; i < a.length; i++) {
      d = Math.max(d, Math.abs(a[i] - b[i]));
      m = Math.max(m, Math.abs(b[i]));
    }
    return d / m;
  };
  return { dW: rel(gw, sw), dx: rel(gx, sx) };
}
