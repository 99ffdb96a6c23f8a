// loadOnnx's refusals: bad arguments and options, and nodes the package's layers cannot represent,
// each refused with a message naming the node, its operator and why, before anything is allocated; an
// allocation failing halfway through the build leaves nothing behind. Models are built in memory.
import { beforeAll, describe, expect, it } from 'vitest';
import { init } from '../src/index';
import { loadOnnx } from '../src/onnx/index';
import { encodeProto, floatTensor, floatValue, int64Tensor, modelProto, node } from './onnx_helpers';
import { countAllocations } from './alloc_count';
import { BACKENDS } from './helpers';

/** Conv (3→4, 3×3, with `convAttrs`) then `tail` nodes reading 'h', on a [1, 3, 6, 6] input. */
function model(convAttrs: Record<string, number | number[]>, tail: ReturnType<typeof node>[] = [], out = 'h'): Uint8Array {
  return encodeProto(
    modelProto({
      nodes: [node('Conv', ['x', 'w', 'b'], ['h'], { kernel_shape: [3, 3], ...convAttrs }, 'conv0'), ...tail],
      initializers: [floatTensor('w', [4, 3, 3, 3]), floatTensor('b', [4])],
      inputs: [floatValue('x', [1, 3, 6, 6])],
      outputs: [floatValue(out, [])],
    }),
  );
}

/** Expects loadOnnx to reject with `message` having made no allocation. */
async function refusedClean(bytes: Uint8Array, options: object, message: string | RegExp): Promise<void> {
  const counter = countAllocations();
  try {
    await expect(loadOnnx(bytes, options)).rejects.toThrow(message);
    expect(counter.calls()).toBe(0);
  } finally {
    counter.stop();
  }
}

for (const backend of BACKENDS) {
  describe(`loadOnnx refusals (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    it('bad bytes and options, named', async () => {
      const ok = model({ pads: [1, 1, 1, 1] });
      await refusedClean('model.onnx' as never, {}, "loadOnnx: bytes: expected a Uint8Array, got 'model.onnx'");
      await refusedClean(ok, { fold: 1 }, 'loadOnnx: fold: expected a boolean, got number 1');
      await refusedClean(ok, { training: 'yes' }, "loadOnnx: training: expected a boolean, got 'yes'");
      await refusedClean(
        ok,
        { training: true, fold: true },
        'loadOnnx: fold: BatchNorm can be folded only in eval mode, got fold: true with training: true',
      );
      await refusedClean(ok, { inputShapes: { x: [1, -3] } }, 'loadOnnx: inputShapes.x: expected an array of integers ≥ 0, got');
      await refusedClean(ok, { shapes: {} }, /^loadOnnx: unknown option 'shapes'/);
      await refusedClean(ok, null as never, 'loadOnnx: options: expected an object, got null');
    });

    it('nodes the layers cannot represent, refused by node, operator and reason, before any allocation', async () => {
      await refusedClean(
        model({ pads: [0, 0, -1, 1] }),
        {},
        "loadOnnx: node 'conv0' (Conv): pads: expected 4 values ≥ 0 (top, left, bottom, right) for a 2-D window, got [0, 0, -1, 1]",
      );
      await refusedClean(
        model({ pads: [1, 1, 1] }),
        {},
        "foldOnnx: node 'conv0' (Conv): expected 2 strides and dilations and 4 pads, got [1,1], [1,1], [1,1,1]",
      );
      // the Conv before it would have allocated its weights: the whole model is checked first
      await refusedClean(
        model({}, [node('AveragePool', ['h'], ['y'], { kernel_shape: [3, 3], pads: [3, 0, 0, 0] }, 'pool')], 'y'),
        {},
        "loadOnnx: node 'pool' (AveragePool): pads [3, 0, 0, 0]: expected each smaller than the window [3, 3]",
      );
      // auto_pad SAME's pads depend on the height and width, here free
      const free = floatValue('x', [1, 3, 6, 6]);
      const dims = free.type!.value.case === 'tensorType' ? free.type!.value.value.shape!.dim : [];
      dims[2].value = { case: 'dimParam', value: 'height' };
      await refusedClean(
        encodeProto(
          modelProto({
            nodes: [node('AveragePool', ['x'], ['y'], { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' }, 'pool')],
            initializers: [],
            inputs: [free],
            outputs: [floatValue('y', [])],
          }),
        ),
        {},
        "loadOnnx: node 'pool' (AveragePool): auto_pad SAME_UPPER needs the input's height and width, which are not known",
      );
      const pad = (pads: number[], mode?: string) =>
        encodeProto(
          modelProto({
            nodes: [
              node('Conv', ['x', 'w'], ['h'], { kernel_shape: [3, 3] }, 'conv0'),
              node('Pad', ['h', 'pads'], ['y'], mode === undefined ? {} : { mode }, 'pad'),
            ],
            initializers: [floatTensor('w', [4, 3, 3, 3]), int64Tensor('pads', pads)],
            inputs: [floatValue('x', [1, 3, 6, 6])],
            outputs: [floatValue('y', [])],
          }),
        );
      await refusedClean(
        pad([0, 0, 1, 1, 0, 0, 1, 1], 'reflect'),
        {},
        "loadOnnx: node 'pad' (Pad): mode 'reflect': only 'constant' is supported (the package has no reflect, edge or wrap padding kernel)",
      );
      await refusedClean(
        pad([0, 0, 1, 1, 0, 0, 1, 1], 'edge'),
        {},
        "loadOnnx: node 'pad' (Pad): mode 'edge': only 'constant' is supported (the package has no reflect, edge or wrap padding kernel)",
      );
      await refusedClean(
        pad([0, 0, 0, -1, 0, 0, 0, 0]),
        {},
        "loadOnnx: node 'pad' (Pad): pads [0, 0, 0, -1, 0, 0, 0, 0]: negative pads (cropping) are not supported",
      );
      await refusedClean(
        pad([0, 0, 1, 1]),
        {},
        "foldOnnx: node 'pad' (Pad): input pads: expected 2 × 4 values for axes [0, 1, 2, 3] of rank 4, got [0, 0, 1, 1]",
      );
      // beta 1 left out: an integer would be written as an INT attribute
      const gemm = (c: number[], beta?: number) =>
        encodeProto(
          modelProto({
            nodes: [
              node('Flatten', ['x'], ['f'], {}, 'flat'),
              node('Gemm', ['f', 'B', 'C'], ['y'], beta === undefined ? {} : { beta }, 'fc'),
            ],
            initializers: [floatTensor('B', [108, 2]), floatTensor('C', c)],
            inputs: [floatValue('x', [3, 3, 6, 6])],
            outputs: [floatValue('y', [])],
          }),
        );
      await refusedClean(
        gemm([3, 2], 0.5),
        {},
        "loadOnnx: node 'fc' (Gemm): C of dims [3, 2] with beta 0.5: a matrix C is supported with beta 1 only",
      );
      await refusedClean(gemm([3, 2, 1]), {}, "loadOnnx: node 'fc' (Gemm): C of dims [3, 2, 1]: expected dims broadcastable to [M, 2]");
    });

    it('an allocation failing halfway through the build leaves nothing allocated', async () => {
      // the Conv's weight, then its bias (the gradients wait for a backward)
      for (const at of [1, 2]) {
        const counter = countAllocations();
        counter.failAt(at);
        try {
          await expect(loadOnnx(model({ pads: [1, 1, 1, 1] }))).rejects.toThrow('test: this allocation fails');
          expect(counter.live()).toBe(0);
        } finally {
          counter.stop();
        }
      }
    });
  });
}
