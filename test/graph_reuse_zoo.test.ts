// The stripped resnet18 of test/fixtures/onnx (seeded weights): the same bits with and without the
// buffers a Graph keeps between inference runs and the add+ReLU pass, run after run, on every backend.
// Node only: the fixture is read through node:fs (test/graph_reuse.test.ts has the rest, browser too).
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { init, tensor, noGrad, type Tensor } from '../src/index';
import { betweenLayers } from '../src/graph/arena';
import type { Graph } from '../src/graph/graph';
import { loadOnnx } from '../src/onnx/load';
import { BACKENDS, bits } from './helpers';
import { fillStripped, seededInput } from './onnx_helpers';

const RESNET18 = new URL('./fixtures/onnx/resnet18.onnx', import.meta.url);

function between(on: boolean): void {
  betweenLayers.reuse = on;
  betweenLayers.addRelu = on;
}

const input = (dims: number[], seed: number): Tensor => tensor(seededInput(dims, seed), dims);

function inferBits(g: Graph, x: Tensor): number[] {
  const y = noGrad(() => g.forward(x));
  const b = bits(y.toArray())!;
  y.dispose();
  return b;
}

afterEach(() => between(true));

describe.each(BACKENDS)('resnet18 with kept buffers (%s)', (backend) => {
  beforeAll(async () => {
    await init({ backend });
  });

  it('the stripped resnet18 (seeded weights): the same bits with and without kept buffers, run after run', async () => {
    const g = await loadOnnx(fillStripped(new Uint8Array(readFileSync(RESNET18)), 7));
    const x = input([1, 3, 64, 64], 8);
    between(false);
    const want = inferBits(g, x);
    between(true);
    for (let i = 0; i < 3; i++) expect(inferBits(g, x), `run ${i}`).toEqual(want);
    expect(g._arenaBytes).toBeGreaterThan(0);
    x.dispose();
    g.dispose();
  });
});
