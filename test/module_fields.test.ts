// Modules find their own parts: a subclass that assigns layers, Parameters, arrays and plain objects
// of layers as fields has their parameters and state under PyTorch's dotted names.
import { beforeAll, describe, expect, it } from 'vitest';
import { init, tensor, F, BatchNorm1d, Linear, Module, Parameter, SGD, type Tensor } from '../src/index';

class Net extends Module {
  fc1 = new Linear(4, 3);
  bn = new BatchNorm1d(3);
  scale = new Parameter([1], 2);
  layers = [new Linear(3, 3), new Linear(3, 2)];
  heads = { left: new Linear(2, 1), right: new Linear(2, 1, { bias: false }) };
  forward(x: Tensor): Tensor {
    let h = F.relu(F.linear(x, this.fc1.weight, this.fc1.bias));
    for (const l of this.layers) h = F.linear(h, l.weight, l.bias);
    return F.mul(F.add(F.linear(h, this.heads.left.weight, this.heads.left.bias), F.linear(h, this.heads.right.weight)), this.scale);
  }
}

describe('Module subclasses', () => {
  beforeAll(async () => {
    await init({ backend: 'wasm-simd' });
  });

  it('find their parameters, children and state by field, with dotted names', () => {
    const net = new Net();
    expect(net.namedParameters().map(([n]) => n)).toEqual([
      'scale',
      'fc1.weight',
      'fc1.bias',
      'bn.weight',
      'bn.bias',
      'layers.0.weight',
      'layers.0.bias',
      'layers.1.weight',
      'layers.1.bias',
      'heads.left.weight',
      'heads.left.bias',
      'heads.right.weight',
    ]);
    expect(net.children().map(([n]) => n)).toEqual(['fc1', 'bn', 'layers.0', 'layers.1', 'heads.left', 'heads.right']);
    expect(Object.keys(net.stateDict())).toContain('bn.running_mean');
    net.eval();
    expect(net.bn.training).toBe(false);
    expect(net.layers[1].training).toBe(false);
  });

  it('train through autograd: every parameter gets a gradient and SGD moves it', () => {
    const net = new Net();
    const opt = new SGD(net.parameters(), { lr: 0.1 });
    const before = net.parameters().map((p) => p.toArray());
    opt.zeroGrad();
    const loss = F.mseLoss(net.forward(tensor([1, 2, 3, 4, -1, 0, 1, 2], [2, 4])), tensor([1, -1], [2, 1]));
    loss.backward();
    opt.step();
    const moved = net.parameters().map((p, i) => p.toArray().some((v, j) => v !== before[i][j]));
    // bn is not used by forward: its parameters get no gradient and stay
    expect(
      net
        .namedParameters()
        .filter((_, i) => !moved[i])
        .map(([n]) => n),
    ).toEqual(['bn.weight', 'bn.bias']);
  });

  it('a module with no manual backward says how to get gradients; an optimizer given no parameters throws', () => {
    class Empty extends Module {
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    expect(() => new Empty().backward(tensor([1]))).toThrow(
      /^Empty\.backward: this module has no manual backward; compute a loss from its forward with F ops and call loss\.backward\(\)$/,
    );
    expect(() => new SGD(new Empty().parameters(), { lr: 0.1 })).toThrow(
      /^SGD: params: expected at least one Parameter, got an empty array/,
    );
  });
});
