"""Writes the ONNX fixtures of test/fixtures/onnx/ with torch.onnx.export (dev-time only; CI reads the
committed files and never runs Python).

    /usr/bin/python3 scripts/gen_onnx_fixtures.py

Needs Debian's python3-torch (1.13), python3-torchvision and python3-onnx (apt-get install -y ...).

Two kinds of fixture:
- Small CNNs with BatchNorm, exported with their (seeded) weights, each with one input and torch's
  output for it as ONNX TensorProto files (<name>.input.pb, <name>.output.pb):
  conv_bn_relu (flattens with x.view(x.size(0), -1): a Shape/Gather/Unsqueeze/Concat subgraph),
  residual (two basic blocks, one with a strided 1x1 downsample), depthwise (depthwise-separable
  blocks with ReLU6 and Hardswish, LogSoftmax head), bn_training (exported with training_mode).
- torchvision's resnet18, mobilenet_v2 and squeezenet1_1 topologies with the weights stripped:
  every initializer keeps its name, data type and dims but has no data (raw_data empty) and carries
  the doc_string STRIPPED below. Such a file is not a valid model until its weights are filled
  (test/onnx_helpers.ts fills them from a seeded generator); parseOnnx refuses it as it is, since
  its tensors hold fewer elements than their dims say.

BatchNormalization stays a node: the models are exported with TrainingMode.PRESERVE in eval mode,
because TrainingMode.EVAL folds BN into the preceding Conv.
"""
import os

import onnx
import torch
import torch.nn as nn
import torchvision
from onnx import numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'onnx')
STRIPPED = 'batchnorm-wasm:stripped'


def conv_bn(cin, cout, k=3, stride=1, groups=1):
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]


class ConvBnRelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(*conv_bn(1, 6), nn.ReLU(), nn.MaxPool2d(2), *conv_bn(6, 8), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(8 * 3 * 3, 10)

    def forward(self, x):
        x = self.features(x)
        return self.fc(x.view(x.size(0), -1))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(cin, cout, 3, stride), nn.ReLU(), *conv_bn(cout, cout))
        self.down = nn.Sequential(*conv_bn(cin, cout, 1, stride)) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return torch.relu(self.body(x) + self.down(x))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(*conv_bn(3, 8), nn.ReLU())
        self.blocks = nn.Sequential(Block(8, 8, 1), Block(8, 16, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


class SqueezeExcite(nn.Module):
    # MobileNetV3's channel gate: global pool, two 1x1 convolutions, Hardsigmoid, a broadcast Mul
    def __init__(self, c):
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, 4, 1), nn.ReLU(), nn.Conv2d(4, c, 1), nn.Hardsigmoid())

    def forward(self, x):
        return x * self.gate(x)


class Depthwise(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            *conv_bn(3, 8), nn.ReLU6(),
            *conv_bn(8, 8, 3, 2, groups=8), nn.ReLU6(), *conv_bn(8, 12, 1), nn.Hardswish(), SqueezeExcite(12),
            *conv_bn(12, 12, 3, 1, groups=12), nn.ReLU6(), *conv_bn(12, 16, 1), nn.Hardswish(),
            nn.AvgPool2d(2, count_include_pad=False), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4), nn.LogSoftmax(dim=1))

    def forward(self, x):
        return self.net(x)


class BnTraining(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(*conv_bn(2, 4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 3))

    def forward(self, x):
        return self.net(x)


def randomize_bn(model, g):
    # fresh BN statistics are 0 and 1: give them values so that a wrong formula shows
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) - 0.5)


def save_tensor(t, path):
    onnx.save_tensor(numpy_helper.from_array(t.detach().numpy()), path)


def export(model, x, name, opset, training=torch.onnx.TrainingMode.PRESERVE, dynamic_batch=False):
    path = os.path.join(OUT, name + '.onnx')
    # a dynamic batch keeps x.size(0) a Shape/Gather subgraph instead of a constant
    axes = {'input': {0: 'batch'}, 'output': {0: 'batch'}} if dynamic_batch else None
    torch.onnx.export(model, (x,), path, opset_version=opset, training=training, do_constant_folding=False,
                      input_names=['input'], output_names=['output'], dynamic_axes=axes)
    return path


def small(name, make, shape, opset, training=False, dynamic_batch=False):
    # seeded before the model is made, so that its initial weights and the files are reproducible
    torch.manual_seed(sum(map(ord, name)))
    model = make()
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    randomize_bn(model, g)
    x = torch.randn(*shape, generator=g)
    if training:
        model.train()
        mode = torch.onnx.TrainingMode.TRAINING
    else:
        model.eval()
        mode = torch.onnx.TrainingMode.PRESERVE
    with torch.no_grad():
        y = model(x)
    # in training mode the output uses the batch's statistics, so the forward above (which moved the
    # running statistics) does not change it
    export(model, x, name, opset, mode, dynamic_batch)
    save_tensor(x, os.path.join(OUT, name + '.input.pb'))
    save_tensor(y, os.path.join(OUT, name + '.output.pb'))


def stripped(name, model, opset):
    # torch.onnx.export merges initializers with equal values (a fresh BN's weight and running_var are
    # both ones) into one and Identity nodes: random values keep every parameter its own initializer
    g = torch.Generator().manual_seed(sum(map(ord, name)))
    with torch.no_grad():
        for p in model.state_dict().values():
            if p.is_floating_point():
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
    model.eval()
    path = export(model, torch.zeros(1, 3, 224, 224), name, opset)
    m = onnx.load(path)
    for t in m.graph.initializer:
        t.ClearField('raw_data')
        del t.float_data[:]
        del t.int64_data[:]
        t.doc_string = STRIPPED
    # short names for the nodes and the values between them (initializers keep PyTorch's names)
    keep = {t.name for t in m.graph.initializer} | {v.name for v in m.graph.input} | {v.name for v in m.graph.output}
    short = {}
    for i, n in enumerate(m.graph.node):
        n.name = f'n{i}'
        for j, o in enumerate(n.output):
            if o and o not in keep:
                short[o] = n.output[j] = f'v{len(short)}'
        for j, x in enumerate(n.input):
            n.input[j] = short.get(x, x)
    onnx.save(m, path)


def main():
    os.makedirs(OUT, exist_ok=True)
    small('conv_bn_relu', ConvBnRelu, (2, 1, 12, 12), 11, dynamic_batch=True)
    small('residual', Residual, (2, 3, 16, 16), 13)
    small('depthwise', Depthwise, (2, 3, 16, 16), 17)
    small('bn_training', BnTraining, (4, 2, 5, 5), 15, training=True)
    stripped('resnet18', torchvision.models.resnet18(), 17)
    stripped('mobilenet_v2', torchvision.models.mobilenet_v2(), 13)
    stripped('squeezenet1_1', torchvision.models.squeezenet1_1(), 12)
    for f in sorted(os.listdir(OUT)):
        if os.path.isfile(os.path.join(OUT, f)):
            print(f'{f:32} {os.path.getsize(os.path.join(OUT, f)):8} bytes')


if __name__ == '__main__':
    main()
