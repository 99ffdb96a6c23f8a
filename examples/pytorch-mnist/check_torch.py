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
ROOT = os.path.join(HERE, '..', '..')


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


# see: examples/mnist/data.ts (mulberry32 and Fisher–Yates, the same integers in Python)
def permutation(n, seed):
    M = 0xFFFFFFFF
    a = seed & M

    def imul(x, y):
        return (x * y) & M

    def nxt():
        nonlocal a
        a = (a + 0x6D2B79F5) & M
        t = a
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & M
        return (t ^ (t >> 14)) & M

    p = list(range(n))
    for i in range(n - 1, 0, -1):
        j = (nxt() * (i + 1)) >> 32
        p[i], p[j] = p[j], p[i]
    return p


def held_out_digits():
    """loadMnist()'s test split: digits 8000..9999 of permutation(10000, 1) over the class-major order."""
    digits = os.path.join(ROOT, 'node_modules', 'mnist', 'src', 'digits')
    xs, ys = [], []
    for d in range(10):
        data = json.load(open(os.path.join(digits, '%d.json' % d)))['data']
        x = torch.tensor(data, dtype=torch.float32).reshape(-1, 1, 28, 28)
        xs.append(x)
        ys.append(torch.full((x.shape[0],), d, dtype=torch.int64))
    x, y = torch.cat(xs), torch.cat(ys)
    idx = torch.tensor(permutation(x.shape[0], 1)[8000:10000])
    return x[idx], y[idx]


Net, test = main_py('Net', 'test')
model = Net()
model.load_state_dict(read_safetensors(sys.argv[1] if len(sys.argv) > 1 else 'mnist_cnn.safetensors'))
x, y = held_out_digits()
x = (x - 0.1307) / 0.3081  # transforms.Normalize((0.1307,), (0.3081,))
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=1000)
test(model, torch.device('cpu'), loader)
