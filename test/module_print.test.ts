// How a module prints: PyTorch's repr tree (console.log) and summary() (output shapes from one
// eval-mode forward that moves no state, parameter counts against in·out + out by hand).
import { beforeAll, describe, expect, it } from 'vitest';
import { init, F, Module, Conv2d, BatchNorm2d, Linear, Sequential, ReLU, Dropout, type Tensor } from '../src/index';
import { caught } from './helpers';

class Net extends Module {
  conv1 = new Conv2d(1, 4, 3, { padding: 1 });
  bn1 = new BatchNorm2d(4);
  drop = new Dropout(0.25);
  fc = new Linear(4 * 14 * 14, 10);
  head = new Sequential(new Linear(10, 5), new ReLU());
  forward(x: Tensor): Tensor {
    const h = F.maxPool2d(F.relu(this.bn1.forward(this.conv1.forward(x))), 2);
    return this.head.forward(this.fc.forward(this.drop.forward(F.flatten(h, 1))));
  }
}

describe('printing a module', () => {
  beforeAll(async () => {
    await init({ backend: 'wasm-simd' });
  });

  it('toString and console.log give the tree of named children with their settings', () => {
    const net = new Net();
    const want = [
      'Net(',
      "  (conv1): Conv2d(inChannels=1, outChannels=4, kernelSize=(3, 3), stride=(1, 1), padding=(1, 1), layout='NCHW', bias=true)",
      "  (bn1): BatchNorm2d(numFeatures=4, eps=0.00001, momentum=0.1, layout='NCHW')",
      '  (drop): Dropout(p=0.25)',
      '  (fc): Linear(inFeatures=784, outFeatures=10, bias=true)',
      '  (head): Sequential(',
      '    (0): Linear(inFeatures=10, outFeatures=5, bias=true)',
      '    (1): ReLU()',
      '  )',
      ')',
    ].join('\n');
    expect(String(net)).toBe(want);
    // what Node's console.log and util.inspect call
    expect((net as unknown as Record<symbol, () => string>)[Symbol.for('nodejs.util.inspect.custom')]()).toBe(want);
    net.dispose();
  });

  it('a subclass can show its own settings (extraRepr)', () => {
    class Scaled extends Module {
      constructor(readonly factor: number) {
        super();
      }
      extraRepr(): string {
        return `factor=${this.factor}`;
      }
      forward(x: Tensor): Tensor {
        return F.mul(x, this.factor);
      }
    }
    expect(String(new Scaled(3))).toBe('Scaled(factor=3)');
  });

  it('summary(): output shapes, own parameter counts and totals; the forward moves no state', () => {
    const net = new Net();
    net.bn1.eval(); // a mixed mode survives the summary
    const before = net.stateDict();
    const table = net.summary([2, 1, 28, 28]);
    const rows = Object.fromEntries(
      table
        .split('\n')
        .slice(2, -3)
        .map((r) => r.split(/\s{2,}/))
        .map((c) => [c[0], c.slice(1)]),
    );
    expect(rows).toEqual({
      '(model)': ['Net', '[2, 5]', '0'],
      conv1: ['Conv2d', '[2, 4, 28, 28]', String(4 * 9 + 4)],
      bn1: ['BatchNorm2d', '[2, 4, 28, 28]', String(2 * 4)],
      drop: ['Dropout', '[2, 784]', '0'],
      fc: ['Linear', '[2, 10]', String(784 * 10 + 10)],
      head: ['Sequential', '[2, 5]', '0'],
      'head.0': ['Linear', '[2, 5]', String(10 * 5 + 5)],
      'head.1': ['ReLU', '[2, 5]', '0'],
    });
    const total = 40 + 8 + 7850 + 55;
    expect(table).toContain(`Total params: ${total.toLocaleString('en-US')} (${(4 * total).toLocaleString('en-US')} bytes f32)`);
    expect(net.stateDict()).toEqual(before);
    expect([net.training, net.bn1.training, net.conv1.training]).toEqual([true, false, true]);
    expect(Object.hasOwn(net.conv1, 'forward')).toBe(false);
    net.fc.weight.requiresGrad = false;
    expect(net.summary()).toContain(`Trainable params: ${(total - 7840).toLocaleString('en-US')}`);
    net.dispose();
  });

  it('summary() with an input the model rejects throws its error and leaves the model as it was', () => {
    const net = new Net();
    expect(caught(() => net.summary([2, 3, 28, 28])).message).toMatch(/^Conv2d\.forward: input: expected/);
    expect(caught(() => net.summary([2, -1] as never)).message).toMatch(/^Net\.summary: .*shape/);
    expect(Object.hasOwn(net.conv1, 'forward')).toBe(false);
    expect(net.training).toBe(true);
    net.dispose();
  });
});
