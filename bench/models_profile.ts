// The --profile part of bench/models.ts: where an inference run of a Graph spends its time, by step
// kind and by layer shape, and each dense convolution's rate against sgemm's at the same (M, N, K).
import { performance } from 'node:perf_hooks';
import { tensor, noGrad, type Tensor } from '../src/tensor';
import type { Graph } from '../src/graph/graph';
import { setStepTimer } from '../src/graph/run';
import { inferredPool, runFusedConv, runMaxPoolInfer } from '../src/graph/fuse';
import type { Module } from '../src/nn/module';
import { Conv2d } from '../src/nn/conv';
import { Linear } from '../src/nn/linear';
import { matmul } from '../src/kernels/gemm';
import { seededInput } from '../test/onnx_helpers';
import { median } from './timing';

/** Each layer call of one run, with its input shape: a recorded run (outside noGrad, so nothing is fused) calls every layer's forward. */
export function layerCalls(graph: Graph, x: Tensor): { m: Module; shape: number[]; outSize: number }[] {
  const calls: { m: Module; shape: number[]; outSize: number }[] = [];
  const undo: (() => void)[] = [];
  for (const [, m] of graph.children()) {
    const fwd = m.forward.bind(m);
    m.forward = (t: Tensor) => {
      const y = fwd(t);
      calls.push({ m, shape: [...t.shape], outSize: y.size });
      return y;
    };
    undo.push(() => delete (m as { forward?: unknown }).forward);
  }
  try {
    graph.forward(x).dispose();
  } finally {
    for (const u of undo) u();
  }
  return calls;
}

/** Multiply-adds ×2 of the convolutions and Linear layers of one run. */
export function countFlop(graph: Graph, x: Tensor): number {
  let flop = 0;
  for (const { m, outSize } of layerCalls(graph, x)) {
    if (m instanceof Conv2d) flop += 2 * outSize * (m.inChannels / m.groups) * m.kernelSize[0] * m.kernelSize[1];
    else if (m instanceof Linear) flop += 2 * outSize * m.inFeatures;
  }
  return flop;
}

/** Milliseconds in each of our layers as an inference run calls them (each timed alone on a seeded input of its shape), by kind and shape. */
export function profile(graph: Graph, x: Tensor, runMs: number): void {
  const rows = new Map<string, { ms: number; calls: number }>();
  for (const { m, shape } of layerCalls(graph, x)) {
    let key = `${m.constructor.name} [${shape.join('×')}]`;
    if (m instanceof Conv2d) key += ` k${m.kernelSize[0]} s${m.stride[0]} g${m.groups} → ${m.outChannels}`;
    const t = tensor(seededInput(shape, 3), shape);
    // the kernels an inference run calls: fused convolutions, max pooling without its argmax
    const call = () =>
      noGrad(() => (m instanceof Conv2d ? runFusedConv(m, t, null) : inferredPool(m) ? runMaxPoolInfer(m, t) : m.forward(t))).dispose();
    call();
    const s: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      call();
      s.push(performance.now() - t0);
    }
    t.dispose();
    const r = rows.get(key) ?? { ms: 0, calls: 0 };
    r.ms += median(s);
    r.calls++;
    rows.set(key, r);
  }
  // every step of real inference runs (noGrad), by kind: layers and the ops between them
  const kinds = new Map<string, { ms: number; calls: number }>();
  setStepTimer((kind, ms) => {
    const r = kinds.get(kind) ?? { ms: 0, calls: 0 };
    r.ms += ms;
    r.calls++;
    kinds.set(kind, r);
  });
  const RUNS = 3;
  try {
    for (let i = 0; i < RUNS; i++) noGrad(() => graph.forward(x)).dispose();
  } finally {
    setStepTimer(null);
  }
  const steps = [...kinds].sort((a, b) => b[1].ms - a[1].ms);
  const inSteps = steps.reduce((s, [, r]) => s + r.ms, 0) / RUNS;
  console.log(`  profile: a run ${runMs.toFixed(1)} ms; its steps ${inSteps.toFixed(1)} ms, by kind (mean of ${RUNS} runs):`);
  for (const [k, r] of steps) console.log(`  ${(r.ms / RUNS).toFixed(2).padStart(8)} ms  ${String(r.calls / RUNS).padStart(3)}×  ${k}`);
  const sorted = [...rows].sort((a, b) => b[1].ms - a[1].ms);
  const layers = sorted.reduce((s, [, r]) => s + r.ms, 0);
  console.log(`  each layer timed alone on an input of its shape: ${layers.toFixed(1)} ms in all, by kind and shape:`);
  for (const [k, r] of sorted.slice(0, 20)) console.log(`  ${r.ms.toFixed(2).padStart(8)} ms  ${String(r.calls).padStart(3)}×  ${k}`);
  convRates(graph, x);
}

/**
 * Each dense convolution (groups 1) of one run, by shape: its GFLOP/s timed alone (fused kernel, no
 * activation) beside sgemm's at the same (M, N, K) = (out channels, n·oh·ow, c·kh·kw) on seeded
 * buffers, alternating the two (A B A B) so the machine's load falls on both alike.
 */
function convRates(graph: Graph, x: Tensor): void {
  const seen = new Map<string, { m: Conv2d; shape: number[]; outSize: number; calls: number }>();
  for (const { m, shape, outSize } of layerCalls(graph, x)) {
    if (!(m instanceof Conv2d) || m.groups !== 1) continue;
    const key = `[${shape.join('×')}] k${m.kernelSize[0]} s${m.stride[0]} → ${m.outChannels}`;
    const r = seen.get(key);
    if (r) r.calls++;
    else seen.set(key, { m, shape, outSize, calls: 1 });
  }
  console.log('  dense convolutions alone against sgemm at their (M, N, K) (median of 5 alternating pairs):');
  console.log('        M      N      K   conv ms  conv GFLOP/s  sgemm GFLOP/s  ratio  calls  layer');
  let convMs = 0,
    gemmMs = 0;
  for (const [key, { m, shape, outSize, calls }] of seen) {
    const M = m.outChannels,
      N = outSize / M,
      K = m.inChannels * m.kernelSize[0] * m.kernelSize[1];
    const t = tensor(seededInput(shape, 3), shape);
    const a = tensor(seededInput([M, K], 4), [M, K]),
      b = tensor(seededInput([K, N], 5), [K, N]),
      c = tensor(new Float32Array(M * N), [M, N]);
    const conv = () => noGrad(() => runFusedConv(m, t, null)).dispose();
    const gemm = () => matmul(a.ptr, b.ptr, c.ptr, M, N, K);
    const tc: number[] = [],
      tg: number[] = [];
    conv();
    gemm();
    for (let i = 0; i < 5; i++) {
      let t0 = performance.now();
      conv();
      tc.push(performance.now() - t0);
      t0 = performance.now();
      gemm();
      tg.push(performance.now() - t0);
    }
    for (const v of [t, a, b, c]) v.dispose();
    const flop = 2 * M * N * K,
      cm = median(tc),
      gm = median(tg);
    convMs += cm * calls;
    gemmMs += gm * calls;
    const f = (v: number, w: number) => v.toFixed(0).padStart(w);
    console.log(
      `  ${f(M, 7)}${f(N, 7)}${f(K, 7)}${cm.toFixed(2).padStart(10)}${(flop / cm / 1e6).toFixed(1).padStart(14)}` +
        `${(flop / gm / 1e6).toFixed(1).padStart(15)}${(gm / cm).toFixed(2).padStart(7)}${String(calls).padStart(7)}  ${key}`,
    );
  }
  console.log(
    `  all dense convolutions ${convMs.toFixed(1)} ms; sgemm at their sizes ${gemmMs.toFixed(1)} ms (×${(gemmMs / convMs).toFixed(2)})`,
  );
}
