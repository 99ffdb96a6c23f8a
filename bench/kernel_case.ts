// One benchmarked shape's buffers in the active backend, filled once, so that a timed call is the
// kernel wrapper alone (no tensor allocation, no argument checks). No Node built-ins: `npm run bench`
// (bench/ours.ts) and the portable bench every runtime runs (bench/kernels_portable.ts) share it.
import { runtime } from '../src/runtime/index';
import { bnBackward, bnNormalize, bnTrain, type Geometry } from '../src/kernels/batchnorm';

export type Op = 'forward' | 'inference' | 'backward';
export const OPS: Op[] = ['forward', 'inference', 'backward'];

/** Inputs of one shape; inference uses the running mean and 1/sqrt(running var + eps) given here. */
export interface KernelInputs {
  g: Geometry;
  x: Float32Array;
  dy: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  runMean: ArrayLike<number>;
  runInv: ArrayLike<number>;
}

/** Buffers of one shape in the active backend; `run[op]` is what gets timed. */
export interface KernelCase {
  run: Record<Op, () => void>;
  /** Copy of the output of `op` (y, or dx) after running it once more. */
  output(op: Op): Float32Array;
  /** Addresses of x, y, dy, dx (for the roofline, which reuses them). */
  ptr: { x: number; y: number; dy: number; dx: number };
  free(): void;
}

export function kernelCase(inp: KernelInputs, eps: number): KernelCase {
  const rt = runtime(),
    k = rt.k,
    g = inp.g,
    C = g.c;
  const owned: number[] = [];
  const alloc = (bytes: number) => {
    // 64-byte multiples: the roofline loops move 64 bytes per step
    const p = k.alloc(Math.ceil(Math.max(bytes, 64) / 64) * 64);
    owned.push(p);
    return p;
  };
  const x = alloc(g.size * 4),
    y = alloc(g.size * 4),
    dy = alloc(g.size * 4),
    dx = alloc(g.size * 4);
  const gamma = alloc(C * 4),
    beta = alloc(C * 4),
    dgamma = alloc(C * 4),
    dbeta = alloc(C * 4);
  // batch statistics (written by forward, read by backward) and the running ones (inference)
  const mean = alloc(C * 8),
    vari = alloc(C * 8),
    invstd = alloc(C * 8);
  const rMean = alloc(C * 8),
    rInv = alloc(C * 8);
  // views are made after the last alloc: an alloc may grow memory and detach older views
  rt.f32(x, g.size).set(inp.x);
  rt.f32(dy, g.size).set(inp.dy);
  rt.f32(gamma, C).set(inp.gamma);
  rt.f32(beta, C).set(inp.beta);
  rt.f64(rMean, C).set(inp.runMean);
  rt.f64(rInv, C).set(inp.runInv);
  const run: Record<Op, () => void> = {
    forward: () => bnTrain(g, x, y, gamma, beta, eps, mean, vari, invstd),
    inference: () => bnNormalize(g, x, y, gamma, beta, rMean, rInv),
    backward: () => bnBackward(g, x, dy, dx, gamma, mean, invstd, dgamma, dbeta, true),
  };
  // backward differentiates through the batch statistics of a forward on the same x
  run.forward();
  return {
    run,
    output(op) {
      if (op === 'backward') run.forward();
      run[op]();
      return rt.f32(op === 'backward' ? dx : y, g.size).slice();
    },
    ptr: { x, y, dy, dx },
    free() {
      for (const p of owned) k.free(p);
      owned.length = 0;
    },
  };
}
