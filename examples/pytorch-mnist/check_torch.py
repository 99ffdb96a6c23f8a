"""Loads the model that main.ts saved (`npm run pytorch-mnist -- --save-model` writes
mnist_cnn.safetensors) into main.py's own Net with load_state_dict, and runs main.py's own test()
on the same 2 000 held-out digits: the names, the layout of every tensor and the numbers carry over
to PyTorch when the printed line matches main.ts's last one.

Run with Debian's python3-torch (no torchvision or safetensors package needed):
  /usr/bin/python3 examples/pytorch-mnist/check_torch.py [path/to/mnist_cnn.safetensors]
"""
import ast
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'mnist'))
from mnist_split import load_mnist  # noqa: E402  (loadMnist()'s split, shared with train_resnet.py)


def main_py(*names):
    """The named top-level definitions of main.py, run with torch, nn and F in scope."""
    path = os.path.join(HERE, 'main.py')
    tree = ast.parse(open(path).read())
    body = [n for n in tree.body if getattr(n, 'name', None) in names]
    scope = {'torch': torch, 'nn': nn, 'F': F}
    exec(compile(ast.Module(body=body, type_ignores=[]), path, 'exec'), scope)
    return [scope[n] for n in names]


# see: https://github.com/huggingface/safetensors#format (8-byte header size, JSON header, raw data)
def read_safetensors(path):
    raw = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        a, b = info['data_offsets']
        dtype = {'F32': torch.float32, 'I64': torch.int64}[info['dtype']]
        t = torch.frombuffer(bytearray(data[a:b]), dtype=dtype)
        out[name] = t.reshape(info['shape'])
    return out


Net, test = main_py('Net', 'test')
model = Net()
model.load_state_dict(read_safetensors(sys.argv[1] if len(sys.argv) > 1 else 'mnist_cnn.safetensors'))
_, (x, y) = load_mnist(1)  # loadMnist()'s 2 000 held-out digits
x = (x - 0.1307) / 0.3081  # transforms.Normalize((0.1307,), (0.3081,))
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=1000)
test(model, torch.device('cpu'), loader)
