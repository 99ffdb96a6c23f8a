// Our kernels at the kernel level (buffers filled once: kernel_case.ts), the public layers for checking
// them, the roofline over the same buffers, and our side of the training-step benchmarks.
import { readFile } from 'node:fs/promises';
import { init, relaxedSimdSupported, WASM_FILES, type BackendName } from '../src/runtime/index';
import { rooflineAdds, rooflineCopy, rooflineRead } from '../src/kernels/roofline';
import { kernelCase, type KernelCase, type Op } from './kernel_case';
import { tensor } from '../src/tensor';
import { BatchNorm1d, BatchNorm2d } from '../src/nn/batchnorm';
import { CrossEntropyLoss } from '../src/nn/loss';
import type { Sequential } from '../src/nn/layers';
import type { Optimizer } from '../src/optim/optimizers';
import type { Tensor } from '../src/tensor';
import { EPS, type Inputs } from './inputs';

export type OurBackend = BackendName;
export { OPS, type Op } from './kernel_case';

declare const __WASM_BASE__: string;
const modules = new Map<string, WebAssembly.Module>();

/** `names` less 'wasm-relaxed' where the runtime has no relaxed SIMD (Node 20: scripts/bench.mjs passes the flag). */
export function runnable<T extends OurBackend>(names: readonly T[]): T[] {
  return names.filter((n) => n !== 'wasm-relaxed' || relaxedSimdSupported());
}

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
    const bytes = await readFile(new URL(__WASM_BASE__ + WASM_FILES[name], import.meta.url));
    mod = await WebAssembly.compile(bytes);
    modules.set(name, mod);
  }
  await init({ backend: name, module: mod });
}

/** The kernel-level case of `inp` (see kernel_case.ts), with inference on its running statistics. */
export function setupOurs(inp: Inputs): KernelCase {
  // what the layers do in eval: f64 mean, invstd from the f32 running variance
  const runInv = Array.from(inp.runVar, (v) => 1 / Math.sqrt(v + EPS));
  return kernelCase({ ...inp, runInv }, EPS);
}

/**
 * Runs the public layer API (BatchNorm1d for [N, C], BatchNorm2d otherwise) once per op, untimed,
 * so the raw-kernel figures can be checked to be what the layers compute.
 */
export function layerOutputs(inp: Inputs): Record<Op, Float32Array> {
  const C = inp.g.c,
    spec = inp.spec;
  const bn = spec.layout === 'NC' ? new BatchNorm1d(C) : new BatchNorm2d(C, { layout: spec.layout as 'NCHW' | 'NHWC' });
  bn.loadStateDict({ weight: inp.gamma, bias: inp.beta, running_mean: inp.runMean, running_var: inp.runVar, num_batches_tracked: 0 });
  const x = tensor(inp.x, spec.shape),
    dy = tensor(inp.dy, spec.shape);
  try {
    const y = bn.train().forward(x);
    const dx = bn.backward(dy);
    const forward = y.toArray(),
      backward = dx.toArray();
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
export function rooflineSteps(
  c: KernelCase,
  bytes: number,
): { read: () => void; copy: () => void; readCopy: () => void; adds: () => void } {
  const p = c.ptr;
  const B = Math.floor(bytes / 64) * 64;
  return {
    read: () => {
      rooflineRead(p.x, B);
    },
    copy: () => rooflineCopy(p.x, p.y, B),
    // two vector adds for every 16 bytes of x (8 a round): what the statistics of x must add
    adds: () => {
      rooflineAdds(B / 64, 1);
    },
    // backward's mix (read x and dy, write dx) as one step over three buffers, so they share the
    // cache the way the kernel's three do: time = time(read B) + time(copy B), moving 3·B
    readCopy: () => {
      rooflineRead(p.x, B);
      rooflineCopy(p.dy, p.dx, B);
    },
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
    logits.dispose();
    dlogits.dispose();
    return loss;
  };
  return {
    step,
    dispose: () => {
      opt.dispose();
      lossFn.dispose();
    },
  };
}
