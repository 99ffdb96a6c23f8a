// The cost of a layer call beyond its kernel: each layer called as a user calls it (output
// disposed) against the kernel wrappers it runs, on buffers allocated once, in alternating samples
// (measurePair) so that the machine's load falls on both columns alike. No Node built-ins: run.ts
// prints the table and writes it into its JSON.
import { BatchNorm1d, BatchNorm2d } from '../src/nn/batchnorm';
import { Conv2d } from '../src/nn/conv';
import { Linear } from '../src/nn/linear';
import { ReLU } from '../src/nn/layers';
import type { Module } from '../src/nn/module';
import { tensor, Tensor } from '../src/tensor';
import { activationBackward, activationForward } from '../src/kernels/activations';
import { matmul } from '../src/kernels/gemm';
import { addColumnSums } from '../src/kernels/reduce';
import { slidingWindow } from '../src/kernels/conv';
import { backwardNCHW, forwardNCHW } from '../src/autograd/conv_ops';
import { checkShape2d } from '../src/nn/conv';
import { kernelCase } from './kernel_case';
import { makeInputs, type ShapeSpec } from './inputs';
import { EPS } from './inputs';
import { measureCpuPair, measurePair, type Budget, type CpuClock } from './timing';

/** The MLP's hidden layers: BatchNorm1d(100) and Linear(100, 100) at batch 60. */
export const MLP_SHAPE: ShapeSpec = { name: 'NC 60x100 (MLP)', layout: 'NC', shape: [60, 100], tiny: true };
/** Targets: a layer call within this ratio of its kernel at the bench's shapes… */
export const CALL_RATIO = 1.1;
/** …and within this many µs of it at the MLP's shape. */
export const CALL_SMALL_US = 1;

export interface CallRow {
  layer: string;
  shape: string;
  op: string;
  layerUs: number;
  kernelUs: number;
  ratio: number;
  /** layerUs − kernelUs. */
  extraUs: number;
  /** ≤ CALL_SMALL_US extra at the MLP's shape, ≤ CALL_RATIO elsewhere. */
  ok: boolean;
  small: boolean;
  /** The same two columns by CPU time (measureCpuPair), when the runtime gave a CPU clock; else null. */
  cpu: { layerUs: number; kernelUs: number; ratio: number; extraUs: number; ok: boolean } | null;
}

export interface Case {
  layer: string;
  shape: string;
  op: string;
  small: boolean;
  run: () => void;
  kernel: () => void;
}

const dims = (s: readonly number[]) => s.join('x');

/** Random values in [-1, 1) from a fixed LCG (the figures do not depend on the values). */
function values(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2 ** 31 - 1;
  }
  return v;
}

/** A layer's forward then backward(dy) once: from then on it runs its saved-state path (as Sequential drives it). */
function driven<M extends Module>(m: M, x: Tensor): M {
  const y = m.forward(x);
  const dy = tensor(values(y.size, 7), y.shape);
  m.backward(dy).dispose();
  y.dispose();
  dy.dispose();
  m.forward(x).dispose();
  return m;
}

/** BatchNorm1d/2d at a bench shape: training forward (on the tape, as a user's first call), eval forward, backward. */
function bnCases(spec: ShapeSpec, small: boolean, owned: { dispose(): void }[]): Case[] {
  const inp = makeInputs(spec);
  const C = inp.g.c;
  const make = () => {
    const bn = spec.layout === 'NC' ? new BatchNorm1d(C) : new BatchNorm2d(C, { layout: spec.layout as 'NCHW' | 'NHWC' });
    bn.loadStateDict({ weight: inp.gamma, bias: inp.beta, running_mean: inp.runMean, running_var: inp.runVar, num_batches_tracked: 0 });
    owned.push(bn);
    return bn;
  };
  const x = tensor(inp.x, spec.shape),
    dy = tensor(inp.dy, spec.shape);
  owned.push(x, dy);
  const kc = kernelCase({ ...inp, runInv: Array.from(inp.runVar, (v) => 1 / Math.sqrt(v + EPS)) }, EPS);
  owned.push({ dispose: () => kc.free() });
  const name = spec.layout === 'NC' ? 'BatchNorm1d' : 'BatchNorm2d';
  const tape = make(),
    manual = driven(make(), x),
    evalBn = make().eval();
  const base = { layer: name, shape: spec.name, small };
  return [
    { ...base, op: 'forward', run: () => tape.forward(x).dispose(), kernel: kc.run.forward },
    { ...base, op: 'forward (Sequential)', run: () => manual.forward(x).dispose(), kernel: kc.run.forward },
    { ...base, op: 'eval forward', run: () => evalBn.forward(x).dispose(), kernel: kc.run.inference },
    { ...base, op: 'backward', run: () => manual.backward(dy).dispose(), kernel: kc.run.backward },
  ];
}

/** ReLU at a shape: forward and backward against the activation kernels. */
function reluCases(shape: number[], label: string, small: boolean, owned: { dispose(): void }[]): Case[] {
  const n = shape.reduce((a, b) => a * b, 1);
  const x = tensor(values(n, 1), shape),
    dy = tensor(values(n, 2), shape),
    y = Tensor.empty(shape),
    dx = Tensor.empty(shape);
  owned.push(x, dy, y, dx);
  const relu = driven(new ReLU(), x);
  const base = { layer: 'ReLU', shape: label, small };
  return [
    { ...base, op: 'forward', run: () => relu.forward(x).dispose(), kernel: () => activationForward('relu', x.ptr, y.ptr, n) },
    { ...base, op: 'backward', run: () => relu.backward(dy).dispose(), kernel: () => activationBackward('relu', x.ptr, dy.ptr, dx.ptr, n) },
  ];
}

/** Linear(in, out) at batch n: forward (on the tape and driven) and backward with dx against the products. */
function linearCases(n: number, fin: number, fout: number, small: boolean, owned: { dispose(): void }[]): Case[] {
  const x = tensor(values(n * fin, 3), [n, fin]),
    dy = tensor(values(n * fout, 4), [n, fout]),
    y = Tensor.empty([n, fout]),
    dx = Tensor.empty([n, fin]);
  owned.push(x, dy, y, dx);
  const tape = new Linear(fin, fout),
    lin = driven(new Linear(fin, fout), x);
  owned.push(tape, lin);
  const w = lin.weight,
    b = lin.bias!;
  const base = { layer: 'Linear', shape: `${dims([n, fin])} → ${fout}`, small };
  return [
    {
      ...base,
      op: 'forward',
      run: () => tape.forward(x).dispose(),
      kernel: () => matmul(x.ptr, w.ptr, y.ptr, n, fout, fin, { transB: true, bias: b.ptr }),
    },
    {
      ...base,
      op: 'forward (Sequential)',
      run: () => lin.forward(x).dispose(),
      kernel: () => matmul(x.ptr, w.ptr, y.ptr, n, fout, fin, { transB: true, bias: b.ptr }),
    },
    {
      ...base,
      op: 'backward',
      run: () => lin.backward(dy).dispose(),
      kernel: () => {
        matmul(dy.ptr, w.ptr, dx.ptr, n, fin, fout);
        matmul(dy.ptr, x.ptr, w.grad.ptr, fout, fin, n, { transA: true, beta: 1 });
        addColumnSums(dy.ptr, n, fout, b.grad.ptr);
      },
    },
  ];
}

/** Conv2d(cin, cout, 3, padding 1) on NCHW [n, cin, side, side]: forward and backward against im2col + GEMM. */
function convCases(n: number, cin: number, cout: number, side: number, owned: { dispose(): void }[]): Case[] {
  const shape = [n, cin, side, side],
    yShape = [n, cout, side, side];
  const x = tensor(values(n * cin * side * side, 5), shape),
    dy = tensor(values(n * cout * side * side, 6), yShape),
    y = Tensor.empty(yShape),
    dx = Tensor.empty(shape);
  owned.push(x, dy, y, dx);
  const tape = new Conv2d(cin, cout, 3, { padding: 1 }),
    conv = driven(new Conv2d(cin, cout, 3, { padding: 1 }), x);
  owned.push(tape, conv);
  const g = checkShape2d('bench', shape, 'NCHW', cin, [3, 3], [1, 1], [1, 1]);
  const win = slidingWindow([3, 3], [1, 1], [1, 1], g);
  const base = { layer: 'Conv2d', shape: `${dims(shape)} → ${cout}`, small: false };
  return [
    {
      ...base,
      op: 'forward',
      run: () => tape.forward(x).dispose(),
      kernel: () => forwardNCHW(g, win, x, conv.weight, conv.bias, y, false),
    },
    {
      ...base,
      op: 'forward (Sequential)',
      run: () => conv.forward(x).dispose(),
      kernel: () => forwardNCHW(g, win, x, conv.weight, conv.bias, y, false),
    },
    {
      ...base,
      op: 'backward',
      run: () => conv.backward(dy).dispose(),
      kernel: () => backwardNCHW(g, win, x, conv.weight, dy, dx, conv.weight.grad, conv.bias!.grad, false),
    },
  ];
}

/** Every case at `shapes` (the bench's BN shapes) and at the MLP's and the demo CNN's. */
export function cases(shapes: ShapeSpec[], owned: { dispose(): void }[], only: (layer: string, shape: string) => boolean): Case[] {
  const out: Case[] = [];
  out.push(...bnCases(MLP_SHAPE, true, owned), ...reluCases([60, 100], MLP_SHAPE.name, true, owned));
  out.push(...linearCases(60, 100, 100, true, owned), ...linearCases(60, 784, 100, false, owned));
  for (const s of shapes.filter((s) => !s.tiny)) out.push(...bnCases(s, false, owned), ...reluCases(s.shape, s.name, false, owned));
  out.push(...convCases(60, 1, 32, 28, owned), ...convCases(60, 32, 64, 14, owned));
  return out.filter((c) => only(c.layer, c.shape));
}

/** Whether a layer's time passes against its kernel's: CALL_SMALL_US extra at the MLP's shape, CALL_RATIO elsewhere. */
function within(small: boolean, layerUs: number, kernelUs: number): boolean {
  return small ? layerUs - kernelUs <= CALL_SMALL_US : layerUs <= CALL_RATIO * kernelUs;
}

/**
 * Times every case in the active backend: layer and kernel in alternating samples, by the wall
 * clock and, given `cpu` (a CPU-time clock in ms), by CPU time too, which judges the target under
 * load. The layer's extra time is judged against CALL_SMALL_US at the MLP's shape and CALL_RATIO elsewhere.
 */
export function callCost(
  shapes: ShapeSpec[],
  budget: Budget,
  progress: (s: string) => void = () => {},
  only: (layer: string, shape: string) => boolean = () => true,
  cpu: CpuClock | null = null,
): CallRow[] {
  const owned: { dispose(): void }[] = [];
  try {
    return cases(shapes, owned, only).map((c) => {
      const [l, k] = measurePair(c.run, c.kernel, budget);
      const layerUs = l.ms * 1e3,
        kernelUs = k.ms * 1e3,
        extraUs = layerUs - kernelUs;
      const ok = within(c.small, layerUs, kernelUs);
      let byCpu: CallRow['cpu'] = null;
      if (cpu !== null) {
        const [lc, kc] = measureCpuPair(c.run, c.kernel, cpu);
        const l = lc * 1e3,
          k = kc * 1e3;
        byCpu = { layerUs: l, kernelUs: k, ratio: l / k, extraUs: l - k, ok: within(c.small, l, k) };
      }
      const cpuNote = byCpu ? `; CPU time ${byCpu.layerUs.toFixed(2)} against ${byCpu.kernelUs.toFixed(2)}` : '';
      progress(`  ${c.layer} ${c.shape} ${c.op}: ${layerUs.toFixed(2)} µs against ${kernelUs.toFixed(2)} µs${cpuNote}`);
      return {
        layer: c.layer,
        shape: c.shape,
        op: c.op,
        layerUs,
        kernelUs,
        ratio: layerUs / kernelUs,
        extraUs,
        ok,
        small: c.small,
        cpu: byCpu,
      };
    });
  } finally {
    for (const o of owned.reverse()) o.dispose();
  }
}
