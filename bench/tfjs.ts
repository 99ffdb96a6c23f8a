// TF.js's WebAssembly backend, the reference the speed-up columns are measured against, in two
// formulations (same maths, checked against each other and against ours):
//
// 'bn'  forward   = tf.moments over the non-channel axes + tf.batchNorm
//       inference = tf.batchNorm with the running mean and variance
//       tf.batchNorm's wasm kernel indexes its per-channel inputs by the innermost axis (with
//       [1,C,1,1] parameters its NCHW output is wrong), so NCHW is transposed to NHWC and back
//       inside the timed function.
// 'ops' the same with broadcasting element-wise ops, (x − mean)·(γ·rsqrt(var + eps)) + β, with
//       per-channel tensors shaped to broadcast ([C], or [1,C,1,1] for NCHW). TF.js runs these
//       faster than its batchNorm kernel (several times so for inference): the stronger baseline.
// backward, both: tf.grad of sum(y·dy) w.r.t. x through the moments; tf.grad records and runs
//       the forward as part of the gradient, so this figure includes a forward.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients in Node; tfjs-layers brings them in
import '@tensorflow/tfjs-layers';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { EPS, type Inputs } from './inputs';
import type { Op } from './ours';

let ready: Promise<string> | null = null;

/** Selects the wasm backend once; returns a description of how it runs (SIMD, threads). */
export function initTfjs(): Promise<string> {
  ready ??= (async () => {
    // Node loads the .wasm from disk: the directory of the package's dist/, as a path ending in '/'
    const main = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
    setWasmPaths(dirname(main) + '/');
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs: the wasm backend did not initialise');
    await tf.ready();
    const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT'),
      threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT');
    return `tfjs-core ${tf.version_core}, wasm backend (SIMD ${simd ? 'on' : 'off'}, threads ${threads ? 'on' : 'off'})`;
  })();
  return ready;
}

export type TfForm = 'bn' | 'ops';

export interface TfCase {
  run: Record<Op, () => void>;
  output(op: Op): Float32Array;
  free(): void;
}

export function setupTfjs(inp: Inputs, form: TfForm): TfCase {
  const { spec, g } = inp;
  const nchw = spec.layout === 'NCHW';
  if (!nchw && !g.channelsLast) throw new Error(`tfjs: layout ${spec.layout} not wired up`);
  const rank = spec.shape.length;
  // per-channel tensors broadcast against x: [C] on the last axis, or [1,C,1,1]
  const pshape = form === 'ops' && nchw ? [1, g.c, 1, 1] : [g.c];
  const x = tf.tensor(inp.x, spec.shape),
    dy = tf.tensor(inp.dy, spec.shape);
  const gamma = tf.tensor(inp.gamma, pshape),
    beta = tf.tensor(inp.beta, pshape);
  const rMean = tf.tensor(inp.runMean, pshape),
    rVar = tf.tensor(inp.runVar, pshape);
  // axes reduced by the moments: all but the channel axis (the last one after any transpose)
  const lastAxes = Array.from({ length: rank - 1 }, (_, i) => i);
  const axes = form === 'ops' && nchw ? [0, 2, 3] : lastAxes;

  let train: (xin: tf.Tensor) => tf.Tensor, infer: (xin: tf.Tensor) => tf.Tensor;
  if (form === 'bn') {
    const toLast = (t: tf.Tensor) => (nchw ? tf.transpose(t, [0, 2, 3, 1]) : t);
    const toFirst = (t: tf.Tensor) => (nchw ? tf.transpose(t, [0, 3, 1, 2]) : t);
    train = (xin) => {
      const xl = toLast(xin);
      const { mean, variance } = tf.moments(xl, axes);
      // scale and offset are always passed: in 4.22 the gradient of batchNorm fails without a scale
      return toFirst(tf.batchNorm(xl, mean, variance, beta, gamma, EPS));
    };
    infer = (xin) => toFirst(tf.batchNorm(toLast(xin), rMean, rVar, beta, gamma, EPS));
  } else {
    const norm = (xin: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor) =>
      tf.add(tf.mul(tf.sub(xin, mean), tf.mul(gamma, tf.rsqrt(tf.add(variance, EPS)))), beta);
    train = (xin) => {
      const { mean, variance } = tf.moments(xin, axes, true);
      return norm(xin, mean, variance);
    };
    infer = (xin) => norm(xin, rMean, rVar);
  }
  const grad = tf.grad((xin: tf.Tensor) => tf.sum(tf.mul(train(xin), dy)));
  const fns: Record<Op, () => tf.Tensor> = {
    forward: () => train(x),
    inference: () => infer(x),
    backward: () => grad(x),
  };
  return {
    // the wasm backend runs each op synchronously, so the work is done when the tidy returns
    run: {
      forward: () =>
        tf.tidy(() => {
          fns.forward();
        }),
      inference: () =>
        tf.tidy(() => {
          fns.inference();
        }),
      backward: () =>
        tf.tidy(() => {
          fns.backward();
        }),
    },
    output(op) {
      const t = tf.tidy(() => fns[op]());
      const v = t.dataSync() as Float32Array;
      t.dispose();
      return Float32Array.from(v);
    },
    free() {
      for (const t of [x, dy, gamma, beta, rMean, rVar]) t.dispose();
    },
  };
}

/** Live TF.js tensors (a leak shows as growth across shapes). */
export function tfjsTensors(): number {
  return tf.memory().numTensors;
}
