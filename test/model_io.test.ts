// saveSafetensors / loadSafetensors on whole models: round trips, and files that must change nothing.
import { describe, expect, it } from 'vitest';
import { init, tensor, BatchNorm1d, ReLU, Sequential, loadSafetensors, saveSafetensors, encodeSafetensors } from '../src/index';
import { randn } from './reference';

function trained(): Sequential {
  const m = new Sequential(new BatchNorm1d(3), new ReLU(), new BatchNorm1d(3, { affine: false }));
  m.loadStateDict({ ...m.stateDict(), '0.weight': [1.5, -0.5, 2], '0.bias': [0.1, 0.2, 0.3] });
  using x = tensor(randn(12, 4, 2, 3), [4, 3]);
  m.forward(x).dispose();
  m.forward(x).dispose();
  return m;
}

describe('model safetensors', () => {
  it('round trip: the state and the eval outputs are identical', async () => {
    await init();
    const a = trained();
    const bytes = saveSafetensors(a, { format: 'pt' });
    const b = new Sequential(new BatchNorm1d(3), new ReLU(), new BatchNorm1d(3, { affine: false }));
    loadSafetensors(b, bytes);
    expect(b.stateDict()).toEqual(a.stateDict());
    expect(b.stateDict()['0.num_batches_tracked']).toBe(2);
    a.eval();
    b.eval();
    using x = tensor(randn(6, 9), [2, 3]);
    expect(b.forward(x).toArray()).toEqual(a.forward(x).toArray());
  });

  it('a corrupt, truncated or mismatched file throws and changes nothing', async () => {
    await init();
    const a = trained();
    const good = saveSafetensors(a);
    const b = new Sequential(new BatchNorm1d(3), new ReLU(), new BatchNorm1d(3, { affine: false }));
    const before = b.stateDict();
    const shapeWrong = encodeSafetensors({ '0.weight': { shape: [4], data: new Float32Array(4) } });
    const cases: [Uint8Array, RegExp][] = [
      [good.subarray(0, good.length - 3), /^safetensors: /],
      [good.subarray(0, 5), /^safetensors: /],
      [shapeWrong, /^loadSafetensors: '0\.weight': expected shape \[3\], got \[4\]$/],
      [encodeSafetensors({ '0.weight': { shape: [3], data: new Float32Array(3) } }), /^Sequential\.loadStateDict: missing key '0\.bias'$/],
    ];
    for (const [bytes, re] of cases) {
      expect(() => loadSafetensors(b, bytes)).toThrow(re);
      expect(b.stateDict()).toEqual(before);
    }
    expect(() => loadSafetensors(b, 'abc' as never)).toThrow(/^loadSafetensors: bytes: expected a Uint8Array, got 'abc'$/);
  });
});
