// The README's Quick start, run as printed on every backend: each value its comments show is what
// the code prints, and the BatchNorm line's running mean is also checked against float64.
import { describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers';
import { freshEachRun, quickStart, runSnippet } from './readme_snippet';

const code = quickStart();

/** The comment after the line of `code` that contains `marker`. */
function commentAfter(marker: string): string {
  const line = code.split('\n').find((l) => l.includes(marker));
  const comment = line === undefined ? undefined : /\/\/ (.*)$/.exec(line)?.[1];
  if (comment === undefined) throw new Error(`README Quick start: no commented line with ${marker}`);
  return comment;
}

// float64: BatchNorm2d(3) on x[n, c, h, w] = i % 7 (flat index i), one training forward from
// running_mean 0 with momentum 0.1 leaves 0.1 × the batch mean of each channel
const n = 2,
  c = 3,
  hw = 16;
const runningMean = Array.from({ length: c }, (_, ch) => {
  let s = 0;
  for (let b = 0; b < n; b++) for (let k = 0; k < hw; k++) s += ((b * c + ch) * hw + k) % 7;
  return (0.1 * s) / (n * hw);
});

for (const backend of BACKENDS) {
  describe(`README Quick start (${backend})`, () => {
    // in the browser suite, the first backend only: one fresh package per test file there (readme_snippet.ts)
    it.runIf(freshEachRun || backend === BACKENDS[0])('prints what its comments say', async () => {
      const printed = await runSnippet(code, backend);
      expect(printed[0].args).toEqual([backend]);

      // `// Float32Array [0.2844, 0.2875, 0.3125], [2, 3, 4, 4]`: the running mean as printed to the
      // comment's decimals (and within half its last digit of float64), dx's shape
      const [mean, shape] = [...commentAfter('bn.runningMean').matchAll(/\[([^\]]*)\]/g)].map((m) => m[1].split(', '));
      const [rm, dxShape] = printed[1].args as [Float32Array, number[]];
      expect(rm).toBeInstanceOf(Float32Array);
      expect(Array.from(rm, (v, k) => v.toFixed(mean[k].split('.')[1].length))).toEqual(mean);
      for (let k = 0; k < c; k++)
        expect(Math.abs(Number(mean[k]) - runningMean[k])).toBeLessThanOrEqual(0.5 * 10 ** -mean[k].split('.')[1].length);
      for (let k = 0; k < c; k++) expect(Math.abs(rm[k] - runningMean[k])).toBeLessThan(1e-6); // f32 of a mean of small integers
      expect(dxShape).toEqual(shape.map(Number));

      // `// 25 0.0714 … 100 0.0254`: the first and the last line the loop prints
      const pairs = commentAfter('loss.item()')
        .split(' … ')
        .map((p) => p.split(' '));
      const loop = printed.slice(2).map((p) => p.args.map(String));
      expect(loop.map((l) => l[0])).toEqual(['25', '50', '75', '100']);
      expect([loop[0], loop[loop.length - 1]]).toEqual(pairs);
      expect(Number(loop[3][1])).toBeLessThan(Number(loop[0][1])); // it learned
    });
  });
}
