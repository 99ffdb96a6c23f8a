// A Graph against PyTorch (test/fixtures/gen_torch_graph.py): a small ResNet in torchvision's layout
// (BasicBlocks with a 1×1 convolution + BatchNorm skip and an identity skip) built node by node under
// PyTorch's module names has PyTorch's state_dict keys in PyTorch's order, loads its state, and
// gives its eval logits, its training-mode loss, every gradient and the running statistics after.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor, F, noGrad, Graph, Conv2d, BatchNorm2d, Linear, AdaptiveAvgPool2d, type StateDictInput } from '../src/index';
import { BACKENDS } from './helpers';
import fixture from './fixtures/torch_graph.json';

// f32 through ≤ 54-term convolutions, five BatchNorms in series and a Linear; PyTorch computes in f32
// too: the loss within 1e-5 relative, every tensor within 2e-4 of its largest magnitude (as
// test/autograd_modules.test.ts for a network of the same depth).
const TOL_LOSS = 1e-5;
const TOL = 2e-4;

function near(got: ArrayLike<number>, want: number[], what: string): void {
  const scale = Math.max(1e-3, ...want.map(Math.abs));
  want.forEach((v, i) => expect(Math.abs(got[i] - v), `${what}[${i}]`).toBeLessThanOrEqual(TOL * scale));
}

/** torchvision's BasicBlock under `p` (e.g. 'layer1.0'): conv-BN-ReLU-conv-BN, + the skip, ReLU. */
function basicBlock(g: Graph, p: string, x: string, cin: number, cout: number, stride: number): string {
  let h = g.layer(`${p}.conv1`, new Conv2d(cin, cout, 3, { stride, padding: 1, bias: false }), x);
  h = g.op('relu', [g.layer(`${p}.bn1`, new BatchNorm2d(cout), h)]);
  h = g.layer(`${p}.bn2`, new BatchNorm2d(cout), g.layer(`${p}.conv2`, new Conv2d(cout, cout, 3, { padding: 1, bias: false }), h));
  let skip = x;
  if (stride !== 1 || cin !== cout) {
    skip = g.layer(`${p}.downsample.0`, new Conv2d(cin, cout, 1, { stride, bias: false }), x);
    skip = g.layer(`${p}.downsample.1`, new BatchNorm2d(cout), skip);
  }
  return g.op('relu', [g.op('add', [h, skip])]);
}

function tinyResNet(): Graph {
  const g = new Graph();
  let h = g.input('x');
  h = g.op('relu', [g.layer('bn1', new BatchNorm2d(4), g.layer('conv1', new Conv2d(3, 4, 3, { padding: 1, bias: false }), h))]);
  h = basicBlock(g, 'layer1.0', h, 4, 6, 2);
  h = basicBlock(g, 'layer1.1', h, 6, 6, 1);
  h = g.op('flatten', [g.layer('avgpool', new AdaptiveAvgPool2d(1), h)], { axis: 1 });
  g.output('logits', g.layer('fc', new Linear(6, 3), h));
  return g;
}

for (const backend of BACKENDS) {
  describe(`Graph against PyTorch (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it("a torchvision-layout ResNet: PyTorch's state_dict keys and order; eval logits, loss, gradients and running statistics as PyTorch", () => {
      const g = tinyResNet();
      expect(Object.keys(g.stateDict())).toEqual(fixture.keys);
      g.loadStateDict(fixture.state as StateDictInput);
      const x = tensor(fixture.x, [2, 3, 8, 8]);
      g.eval();
      const e = noGrad(() => g.forward(x));
      near(e.toArray(), fixture.evalLogits, 'evalLogits');
      g.train();
      const xg = tensor(fixture.x, [2, 3, 8, 8], { requiresGrad: true });
      const logits = g.forward(xg);
      near(logits.toArray(), fixture.logits, 'logits');
      const loss = F.crossEntropy(logits, fixture.labels);
      expect(Math.abs(loss.item() - fixture.loss)).toBeLessThanOrEqual(TOL_LOSS * Math.abs(fixture.loss));
      loss.backward();
      const grads = Object.fromEntries(g.namedParameters().map(([k, p]) => [k, p.grad.toArray()]));
      expect(Object.keys(grads)).toEqual(Object.keys(fixture.grads));
      for (const [k, want] of Object.entries(fixture.grads)) near(grads[k], want, k);
      near(xg.grad!.toArray(), fixture.xGrad, 'x.grad');
      const sd = g.stateDict();
      for (const [k, want] of Object.entries(fixture.after)) near(sd[k] as Float32Array, want, k);
      for (const [k, want] of Object.entries(fixture.tracked)) expect(sd[k]).toBe(want);
      for (const t of [x, e, xg, loss]) t.dispose();
      g.dispose();
    });
  });
}
