// init(): entries before it, what a rejected call leaves (the active backend and everything made
// under it), and which of two calls in flight decides.
import { beforeEach, describe, expect, it } from 'vitest';
import { init, backend, memoryBytes, tensor, BatchNorm1d, BatchNorm2d, type BackendName } from '../src/index';
import { BACKENDS, filled, rejectsLike, throwsLike, type ErrorClass } from './helpers';

const C = 3;

// first in the file: no init() has run in this module instance yet
it('before init(), entries throw a clear error', () => {
  throwsLike(() => tensor([1, 2]), Error, /call `await init\(\)` first/);
  throwsLike(() => new BatchNorm2d(3), Error, /call `await init\(\)` first/);
  throwsLike(() => backend(), Error, /call `await init\(\)` first/);
  throwsLike(() => memoryBytes(), Error, /call `await init\(\)` first/);
});

for (const b of BACKENDS) {
  describe(b, () => {
    beforeEach(async () => {
      await init({ backend: b });
    });

    describe('init() that rejects leaves the active backend', () => {
      const keeps = async (p: Promise<unknown>, cls: ErrorClass, re: RegExp) => {
        const t = tensor([1, 2, 3]);
        await rejectsLike(p, cls, re);
        expect(backend()).toBe(b);
        expect(Array.from(t.toArray())).toEqual([1, 2, 3]); // the active backend was not replaced
        t.dispose();
      };

      it('rejects an unknown option and a non-object', async () => {
        await keeps(
          init({ backend: b, foo: 1 } as never),
          TypeError,
          /^init: options\.foo: unknown option \(expected backend, module, threads\)$/,
        );
        await keeps(init(null as never), TypeError, /^init: options: expected an object, got null$/);
        await keeps(init('js' as never), TypeError, /^init: options: expected an object, got 'js'$/);
      });

      it('rejects a bad backend name', async () => {
        await keeps(
          init({ backend: 'gpu' as never }),
          TypeError,
          /^init: options\.backend: expected 'wasm-simd', 'wasm-relaxed', 'wasm' or 'js', got 'gpu'$/,
        );
        await keeps(init({ backend: 'WASM' as never }), TypeError, /options\.backend: expected .*got 'WASM'$/);
      });

      // backend: null is not "omitted": it is rejected, and the active backend stays.
      it('rejects backend: null', async () => {
        try {
          await keeps(
            init({ backend: null as never }),
            TypeError,
            /^init: options\.backend: expected 'wasm-simd', 'wasm-relaxed', 'wasm' or 'js', got null$/,
          );
        } finally {
          await init({ backend: b });
        }
      });

      it("rejects a module with the 'js' backend", async () => {
        await keeps(
          init({ backend: 'js', module: new Uint8Array(8) }),
          TypeError,
          /^init: options\.module: the 'js' backend takes no module$/,
        );
      });

      it('rejects a module of the wrong type, and bytes that are not WebAssembly', async () => {
        const re = (got: string) => new RegExp(`^init: options\\.module: expected a WebAssembly\\.Module, bytes or a URL, got ${got}$`);
        await keeps(init({ backend: 'wasm', module: 42 as never }), TypeError, re('number 42'));
        await keeps(init({ backend: 'wasm-simd', module: 'batchnorm.wasm' as never }), TypeError, re("'batchnorm\\.wasm'"));
        await keeps(init({ backend: 'wasm', module: {} as never }), TypeError, re('Object'));
        await keeps(init({ backend: 'wasm', module: new Uint8Array(8) }), WebAssembly.CompileError, /magic word/);
      });

      // A valid but unrelated module (here the empty one) must not replace the active backend with
      // one whose first tensor() fails with "e.alloc is not a function".
      it('rejects a valid WebAssembly module that lacks the kernels', async () => {
        const empty = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
        try {
          await keeps(
            init({ backend: 'wasm', module: empty }),
            TypeError,
            /^init: options\.module: not a batchnorm-wasm module \(missing exports: .*\balloc\b/,
          );
        } finally {
          await init({ backend: b });
        }
      });

      it('a layer made before a rejected init() keeps working', async () => {
        const bn = new BatchNorm1d(C);
        using x = filled([4, C], 5);
        bn.forward(x).dispose();
        const before = bn.stateDict();
        await rejectsLike(init({ backend: 'gpu' as BackendName }), TypeError, /options\.backend/);
        await rejectsLike(init({ backend: 'wasm', module: new Uint8Array(4) }), WebAssembly.CompileError, /./);
        expect(bn.stateDict()).toEqual(before);
        expect(() => bn.forward(x).dispose()).not.toThrow();
        expect(bn.numBatchesTracked).toBe(2);
        bn.dispose();
      });
    });
  });
}

describe('init() called twice without awaiting', () => {
  // The JS runtime needs no compile and finishes first; the later call must still decide, not the
  // slower one.
  it('the last call decides the active backend', async () => {
    try {
      const first = init({ backend: 'wasm' });
      const last = init({ backend: 'js' });
      // each call resolves to the backend active when it settles: the later call decides
      expect(await Promise.all([first, last])).toEqual(['js', 'js']);
      expect(backend()).toBe('js');
    } finally {
      await init({ backend: 'js' });
    }
  });
});
