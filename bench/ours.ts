// Our kernels at the kernel level: inputs copied once into preallocated buffers of the active
// backend, so a timed call is the kernel wrapper alone (no tensor allocation, no checks).
import { readFile } from 'node:fs/promises';
import { init, runtime } from '../src/runtime/index';
import { bnBackward, bnNormalize, bnTrain } from '../src/kernels/batchnorm';
import { tensor } from '../src/tensor';
import { BatchNorm1d, BatchNorm2d } from '../src/nn/batchnorm';
import { CrossEntropyLoss } from '../src/nn/loss';
import type { Sequential } from '../src/nn/layers';
import type { Optimizer } from '../src/optim/optimizers';
import type { Tensor } from '../src/tensor';
import { EPS, type Inputs } from './inputs';

export type OurBackend = 'wasm-simd' | 'wasm' | 'js';
export type Op = 'forward' | 'inference' | 'backward';
export const OPS: Op[] = ['forward', 'inference', 'backward'];

declare const __WASM_BASE__: string;
const FILES = { 'wasm-simd': 'batchnorm-simd.wasm', wasm: 'batchnorm.wasm' } as const;
const modules = new Map<string, WebAssembly.Module>();

/**
 * Makes `name` the active backend. Each WASM module is compiled once and reinstantiated per
 * shape: instances of one module share its compiled code, so V8's tier-up carries over and
 * each shape starts from a fresh, small linear memory.
 */
export async function useBackend(name: OurBackend): Promise<void> {
  if (name === 'js') {
    await init({ backend: 'js' });
    return;
  }
  let mod = modules.get(name);
  if (!mod) {
    const bytes = await readFile(new URL(__WASM_BASE__ + FILES[name], import.meta.url));
    mod = await WebAssembly.compile(bytes);
    modules.set(name, mod);
  }
  await init({ backend: name, module: mod });
}

/** Buffers of one shape in the active backend; `run[op]` is what gets timed. */
export interface OurCase {
  run: Record<Op, () => void>;
  /** Copy of the output of `op` (y, or dx) after running it once more. */
  output(op: Op): Float32Array;
  /** Addresses of x, y, dy, dx (for the roofline, which reuses them). */
  ptr: { x: number; y: number; dy: number; dx: number };
  free(): void;
}

export function setupOurs(inp: Inputs): OurCase {
  const rt = runtime(), k = rt.k, g = inp.g, C = g.c;
  const owned: number[] = [];
  const alloc = (bytes: number) => {
    // 64-byte multiples: the roofline loops move 64 bytes per step
    const p = k.alloc(Math.ceil(Math.max(bytes, 64) / 64) * 64);
    owned.push(p);
    return p;
  };
  const x = alloc(g.size * 4), y = alloc(g.size * 4), dy = alloc(g.size * 4), dx = alloc(g.size * 4);
  const gamma = alloc(C * 4), beta = alloc(C * 4), dgamma = alloc(C * 4), dbeta = alloc(C * 4);
  // batch statistics (written by forward, read by backward) and the running ones (inference)
  const mean = alloc(C * 8), vari = alloc(C * 8), invstd = alloc(C * 8);
  const rMean = alloc(C * 8), rInv = alloc(C * 8);
  // views are made after the last alloc: an alloc may grow memory and detach older views
  rt.f32(x, g.size).set(inp.x);
  rt.f32(dy, g.size).set(inp.dy);
  rt.f32(gamma, C).set(inp.gamma);
  rt.f32(beta, C).set(inp.beta);
  const rm = rt.f64(rMean, C), ri = rt.f64(rInv, C);
  for (let c = 0; c < C; c++) {
    // what the layers do in eval: f64 mean, invstd from the f32 running variance
    rm[c] = inp.runMean[c];
    ri[c] = 1 / Math.sqrt(inp.runVar[c] + EPS);
  }
  const run: Record<Op, () => void> = {
    forward: () => bnTrain(g, x, y, gamma, beta, EPS, mean, vari, invstd),
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

/**
 * Runs the public layer API (BatchNorm1d for [N, C], BatchNorm2d otherwise) once per op, untimed,
 * so the raw-kernel figures can be checked to be what the layers compute.
 */
export function layerOutputs(inp: Inputs): Record<Op, Float32Array> {
  const C = inp.g.c, spec = inp.spec;
  const bn = spec.layout === 'NC' ? new BatchNorm1d(C) : new BatchNorm2d(C, { layout: spec.layout });
  bn.loadStateDict({ weight: inp.gamma, bias: inp.beta, running_mean: inp.runMean, running_var: inp.runVar, num_batches_tracked: 0 });
  const x = tensor(inp.x, spec.shape), dy = tensor(inp.dy, spec.shape);
  try {
    const y = bn.train().forward(x);
    const dx = bn.backward(dy);
    const forward = y.toArray(), backward = dx.toArray();
    y.dispose();
    dx.dispose();
    // the train forward above moved the running statistics: put them back for eval
    bn.loadStateDict({ weight: inp.gamma, bias: inp.beta, running_mean: inp.runMean, running_var: inp.runVar, num_batches_tracked: 0 });
    const yi = bn.eval().forward(x);
    const inference = yi.toArray();
    yi.dispose();
    return { forward, inference, backward };
  } finally {
    x.dispose();
    dy.dispose();
    bn.dispose();
  }
}

/** Roofline steps over the case's own buffers (the SIMD build's v128 loops). */
export function rooflineSteps(c: OurCase, bytes: number): { read: () => void; copy: () => void; readCopy: () => void; adds: () => void } {
  const k = runtime().k, p = c.ptr;
  const B = Math.floor(bytes / 64) * 64;
  return {
    read: () => { k.rooflineRead(p.x, B); },
    copy: () => k.rooflineCopy(p.x, p.y, B),
    // two vector adds for every 16 bytes of x (8 a round): what the statistics of x must add
    adds: () => { k.rooflineAdds(B / 64, 1); },
    // backward's mix (read x and dy, write dx) as one step over three buffers, so they share the
    // cache the way the kernel's three do: time = time(read B) + time(copy B), moving 3·B
    readCopy: () => { k.rooflineRead(p.x, B); k.rooflineCopy(p.dy, p.dx, B); },
  };
}

/** One training step of `model` on fixed inputs with `opt` and cross-entropy; returns the loss. */
export function ourTrainer(model: Sequential, x: Tensor, labels: Int32Array, opt: Optimizer) {
  const lossFn = new CrossEntropyLoss();
  model.train();
  const step = (): number => {
    opt.zeroGrad();
    const logits = model.forward(x);
    const loss = lossFn.forward(logits, labels);
    const dlogits = lossFn.backward();
    model.backwardParams(dlogits);
    opt.step();
    logits.dispose(); dlogits.dispose();
    return loss;
  };
  return { step, dispose: () => { opt.dispose(); lossFn.dispose(); } };
}
