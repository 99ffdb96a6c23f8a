// A layer's forward off the tape (eval mode, or any mode inside noGrad) makes its output with its own
// kernels; inside noGrad that output belongs to the scope like an F op's, so an evaluation loop that
// disposes nothing leaves nothing behind (it used to keep every layer output of every batch).
import { beforeAll, describe, expect, it } from 'vitest';
import {
  init,
  noGrad,
  tensor,
  AvgPool2d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Generator,
  Linear,
  MaxPool2d,
  ReLU,
  Sequential,
  Sigmoid,
  type Module,
} from '../src/index';
import { countAllocations } from './alloc_count';
import { BACKENDS, values } from './helpers';

const SHAPE = [2, 3, 6, 6];
const layers = (): [string, Module][] => {
  const generator = new Generator(1);
  return [
    ['Conv2d', new Conv2d(3, 4, 3, { generator })],
    ['BatchNorm2d', new BatchNorm2d(3)],
    ['ReLU', new ReLU()],
    ['Sigmoid', new Sigmoid()],
    ['Dropout', new Dropout(0.5, { generator })],
    ['MaxPool2d', new MaxPool2d(2)],
    ['AvgPool2d', new AvgPool2d(2)],
    ['Flatten', new Flatten()],
    ['Linear (on a flattened input)', new Sequential(new Flatten(), new Linear(108, 5, { generator }))],
  ];
};

for (const backend of BACKENDS) {
  describe(`layers inside noGrad (${backend})`, () => {
    beforeAll(async () => {
      await init({ backend });
    });

    for (const mode of ['eval', 'train'] as const) {
      it(`${mode} mode: an unreturned output is freed with the scope, a returned one is kept`, () => {
        for (const [name, layer] of layers()) {
          layer.train(mode === 'train');
          const x = tensor(values(SHAPE.reduce((a, b) => a * b, 1)), SHAPE);
          const counter = countAllocations();
          try {
            // what a layer keeps from its last forward for a backward (Dropout's mask, MaxPool2d's
            // indices) is replaced by the next: one block at most, made again by every forward
            noGrad(() => void layer.forward(x));
            const kept = counter.live();
            expect(kept, `${name}: blocks the layer keeps`).toBeLessThanOrEqual(1);
            for (let i = 0; i < 3; i++) noGrad(() => void layer.forward(x));
            expect(counter.live(), `${name}: blocks left after 3 more forwards`).toBe(kept);
            const y = noGrad(() => layer.forward(x));
            expect(y.disposed, name).toBe(false);
            expect(y.toArray().every(Number.isFinite), name).toBe(true);
            expect(counter.live(), name).toBe(kept + 1);
            y.dispose();
          } finally {
            counter.stop();
          }
          x.dispose();
          layer.dispose();
        }
      });
    }
  });
}
