"""Writes test/fixtures/onnx/residual.state.safetensors and residual.state.output.pb: the state_dict of
the `residual` fixture's model with other (seeded) weights, as PyTorch would save it, and torch's
output under those weights for residual.input.pb. A test loads residual.onnx, then these weights by
their state-dict names, and compares with that output (dev-time only; CI never runs Python).

    /usr/bin/python3 scripts/gen_onnx_safetensors.py

The safetensors file is written here by hand (Debian has no python3-safetensors): an 8-byte
little-endian header length, the JSON header, then the tensors' bytes in header order.
see: https://github.com/huggingface/safetensors#format
"""
import json
import os
import struct

import onnx
import torch
from onnx import numpy_helper

from gen_onnx_fixtures import OUT, Residual, randomize_bn, save_tensor

DTYPES = {torch.float32: 'F32', torch.int64: 'I64'}


def save_safetensors(state, path):
    header, blobs, offset = {}, [], 0
    for name, t in state.items():
        data = t.detach().contiguous().numpy().tobytes()
        header[name] = {'dtype': DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)  # the data starts 8-aligned
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))


def main():
    torch.manual_seed(20261207)
    model = Residual()
    randomize_bn(model, torch.Generator().manual_seed(7))
    for m in model.modules():  # a count PyTorch keeps; the file carries it as I64
        if isinstance(m, torch.nn.BatchNorm2d):
            m.num_batches_tracked.fill_(3)
    model.eval()
    x = torch.from_numpy(numpy_helper.to_array(onnx.load_tensor(os.path.join(OUT, 'residual.input.pb'))).copy())
    with torch.no_grad():
        y = model(x)
    save_safetensors(model.state_dict(), os.path.join(OUT, 'residual.state.safetensors'))
    save_tensor(y, os.path.join(OUT, 'residual.state.output.pb'))
    for f in ('residual.state.safetensors', 'residual.state.output.pb'):
        print(f'{f:32} {os.path.getsize(os.path.join(OUT, f)):8} bytes')


if __name__ == '__main__':
    main()
