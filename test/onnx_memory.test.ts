// Memory of an imported model: loadOnnx folds BatchNorm into the Conv/Gemm weights while it plans,
// so the peak of a load is the folded model's own bytes (never the unfolded layers beside the
// folded ones), and an inference run adds its largest live set of activations, not their sum. The
// js backend counts live bytes exactly; its allocator is wrapped to see the high-water mark.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { init, memoryBytes, noGrad, tensor, foldBatchNorm, type Graph } from '../src/index';
import { loadOnnx } from '../src/onnx/index';
import { runtime } from '../src/runtime/index';
import { fillStripped, seededInput } from './onnx_helpers';
import { readOnnxFixture } from './onnx_node_helpers';

// 112×112 keeps the JS backend quick; the weights, which dominate, are those of 224×224
const INPUT = [1, 3, 112, 112];

/** Wraps the active runtime's allocator to record the high-water mark of live bytes. */
function watchPeak(): { peak: () => number; stop: () => void } {
  const k = runtime().k;
  const alloc = k.alloc;
  let peak = memoryBytes();
  k.alloc = (bytes: number) => {
    const p = alloc(bytes);
    peak = Math.max(peak, memoryBytes());
    return p;
  };
  return { peak: () => peak, stop: () => void (k.alloc = alloc) };
}

/** Bytes the graph's state holds: each tensor's values (a Parameter has no gradient until one is needed). */
function stateBytes(g: Graph): number {
  let b = 0;
  for (const e of g.stateEntries()) if ('tensor' in e) b += e.tensor.size * 4;
  return b;
}

/** The largest activation of a run (elements × 4), from the layers' output sizes as they are called. */
function largestActivation(g: Graph): number {
  let big = INPUT.reduce((s, d) => s * d, 4);
  const undo: (() => void)[] = [];
  for (const [, m] of g.children()) {
    const fwd = m.forward.bind(m);
    m.forward = (t) => {
      const y = fwd(t);
      big = Math.max(big, y.size * 4);
      return y;
    };
    undo.push(() => delete (m as { forward?: unknown }).forward);
  }
  const x = tensor(seededInput(INPUT, 1), INPUT);
  try {
    g.forward(x).dispose(); // recorded: every layer's own forward runs
  } finally {
    for (const u of undo) u();
    x.dispose();
  }
  return big;
}

describe('loadOnnx memory (js backend: live bytes)', () => {
  let watch: ReturnType<typeof watchPeak> | null = null;
  beforeAll(async () => {
    await init({ backend: 'js' });
  });
  afterEach(() => {
    watch?.stop();
    watch = null;
  });

  for (const name of ['resnet18', 'mobilenet_v2']) {
    it(`${name}: the peak of a load is the folded model's state; a run adds at most its largest live set`, async () => {
      const bytes = fillStripped(readOnnxFixture(`${name}.onnx`), 7);
      const base = memoryBytes();
      watch = watchPeak();
      const g = await loadOnnx(bytes, { inputShapes: { input: INPUT } });
      const loadPeak = watch.peak() - base;
      watch.stop();
      const held = memoryBytes() - base;
      // every BN folded: the graph holds its Conv/Linear weights, nothing else (no gradient)
      expect(held).toBe(stateBytes(g));
      expect(g.parameters().every((p) => p._grad === null)).toBe(true);
      expect(loadPeak).toBe(held);
      // the unfolded graph folded afterwards needs both at once: what planning the fold saves
      const unfolded = await loadOnnx(bytes, { fold: false, inputShapes: { input: INPUT } });
      const refolded = foldBatchNorm(unfolded);
      expect(memoryBytes() - base).toBeGreaterThan(2 * held);
      // and the fold planned at load is foldBatchNorm's, bit for bit, under the same names
      const want = refolded.stateDict(),
        got = g.stateDict();
      expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
      const bytesOf = (v: unknown) =>
        Buffer.from((v as Float32Array).buffer, (v as Float32Array).byteOffset, (v as Float32Array).byteLength);
      expect(Object.keys(want).filter((k) => !bytesOf(got[k]).equals(bytesOf(want[k])))).toEqual([]);
      refolded.dispose();
      for (const [, m] of unfolded.children()) m.dispose();

      // a run: the input, then at most a block's input (kept for its skip), a layer's input and its output
      const act = largestActivation(g);
      const x = tensor(seededInput(INPUT, 2), INPUT);
      const before = memoryBytes();
      watch = watchPeak();
      noGrad(() => g.forward(x)).dispose();
      const runPeak = watch.peak() - before;
      // WORKSPACE: convInferWorkspace's most (256 taps × 256 pixels of f32) and the JS twin's alike
      const WORKSPACE = 256 * 256 * 4;
      expect(runPeak).toBeLessThanOrEqual(3 * act + WORKSPACE);
      // everything of the run freed but the block the graph keeps for the intermediates of its later
      // runs, laid out from this run's lifetimes: no larger than its largest live set
      const kept = g._arenaBytes;
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThanOrEqual(3 * act);
      expect(memoryBytes()).toBe(before + kept);
      // a later run places its intermediates there: beyond it, only its output and one kernel
      // workspace at a time (the largest block it allocates)
      watch.stop();
      watch = watchPeak();
      const k = runtime().k,
        alloc = k.alloc;
      let largest = 0;
      k.alloc = (b: number) => ((largest = Math.max(largest, b)), alloc(b));
      const y = noGrad(() => g.forward(x));
      k.alloc = alloc;
      const outBytes = 4 * y.size;
      y.dispose();
      expect(watch.peak() - before - kept).toBeLessThanOrEqual(outBytes + largest);
      expect(largest).toBeLessThanOrEqual(2 * WORKSPACE);
      expect(memoryBytes()).toBe(before + kept);
      x.dispose();
      g.dispose();
      expect(memoryBytes()).toBe(base);
    }, 120_000);
  }
});

describe('loadOnnx memory (wasm-simd: linear memory)', () => {
  // no gradient buffers: with one beside every weight (the state twice) resnet18 went past this bound
  for (const name of ['resnet18', 'mobilenet_v2']) {
    it(`${name} loaded and run: linear memory within twice (the allocator doubles) the folded weights + the largest live set`, async () => {
      await init({ backend: 'wasm-simd' }); // a fresh instance: its memory starts small
      const bytes = fillStripped(readOnnxFixture(`${name}.onnx`), 7);
      const g = await loadOnnx(bytes, { inputShapes: { input: INPUT } });
      expect(g.parameters().every((p) => p._grad === null)).toBe(true);
      const act = largestActivation(g);
      const x = tensor(seededInput(INPUT, 2), INPUT);
      noGrad(() => g.forward(x)).dispose();
      const bound = 2 * (stateBytes(g) + 4 * act);
      expect(memoryBytes()).toBeLessThanOrEqual(bound);
      x.dispose();
      g.dispose();
    }, 120_000);
  }
});
