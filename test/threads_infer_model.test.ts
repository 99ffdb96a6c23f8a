// Threads: a whole resnet18 (the stripped fixture of test/fixtures/onnx, weights filled from a
// seeded generator) inferred under noGrad at 1 and 3 threads gives the single-threaded SIMD build's
// output bits, with its convolutions split (threads_infer.test.ts checks each kernel alone).
import { afterAll, describe, expect, it } from 'vitest';
import { init } from '../src/runtime/index';
import { inferCounts } from '../src/runtime/threads_infer';
import { noGrad, tensor } from '../src/index';
import { loadOnnx } from '../src/onnx/load';
import { fillStripped, seededInput } from './onnx_helpers';
import { readOnnxFixture } from './onnx_node_helpers';
import { bits, firstDiff } from './threads_helpers';

afterAll(async () => {
  await init();
});

describe('threads: model inference', () => {
  it('resnet18 (stripped fixture, seeded weights) infers at 1 and 3 threads the bits of the single-threaded build', async () => {
    const bytes = fillStripped(readOnnxFixture('resnet18.onnx'), 7);
    const input = [1, 3, 224, 224];
    const run = async (opts: Parameters<typeof init>[0]) => {
      await init(opts);
      const g = await loadOnnx(bytes);
      const x = tensor(seededInput(input, 2), input);
      const y = noGrad(() => g.forward(x));
      const out = bits(y.toArray());
      for (const t of [y, x]) t.dispose();
      g.dispose();
      return out;
    };
    const reference = await run({ backend: 'wasm-simd' });
    for (const n of [1, 3]) {
      const before = inferCounts.conv;
      expect(firstDiff(await run({ threads: n }), reference), `${n} threads`).toBe(-1);
      if (n > 1) expect(inferCounts.conv - before).toBeGreaterThan(10);
    }
  }, 120_000);
});
