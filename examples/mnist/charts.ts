// Charts for the examples: Vega-Lite specs, rendered headless in Node to SVG by Vega and to PNG by
// resvg. Text in the PNG uses DejaVu Sans loaded from the `dejavu-fonts-ttf` package, never the
// system's fonts: resvg draws no text at all without a font, a fresh CI machine may have none, and
// one fixed font makes the same PNG on every machine.
// see: https://vega.github.io/vega-lite/docs/ ; https://github.com/yisibl/resvg-js
import { Resvg, type RenderedImage } from '@resvg/resvg-js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** The one font family every chart names (and the PNG renderer loads). */
export const FONT_FAMILY = 'DejaVu Sans';

/** Absolute paths of the TrueType files the PNG renderer loads. */
export function fontFiles(): string[] {
  const dir = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
  return ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSans-Oblique.ttf'].map((f) => join(dir, f));
}

/** A rendered chart: its Vega-Lite spec, the SVG text and the SVG's size in CSS pixels. */
export interface Chart {
  spec: TopLevelSpec;
  svg: string;
  width: number;
  height: number;
}

/** One line of a line chart; `color` (any CSS color) and `dashed` are optional. */
export interface LineSeries {
  name: string;
  points: [number, number][];
  color?: string;
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  xTitle: string;
  yTitle: string;
  series: LineSeries[];
  /** Fixes the y axis; lines outside it are clipped. Default: fitted to the data. */
  yDomain?: [number, number];
  /** Logarithmic x axis (every x must be > 0). */
  logX?: boolean;
  /** Logarithmic y axis (every y must be > 0), e.g. for a loss. */
  logY?: boolean;
  /** Total size of the chart in CSS pixels; default 640×360. */
  width?: number;
  height?: number;
}

/** One network's percentiles of a value over training, all arrays of the same length. */
export interface PercentileSeries {
  name: string;
  steps: number[];
  p15: number[];
  p50: number[];
  p85: number[];
}

export interface PercentileChartOptions {
  title: string;
  series: PercentileSeries[];
  /** Default 'training step'. */
  xTitle?: string;
  /** Default 'sigmoid input'. */
  yTitle?: string;
  /** One y scale for every panel (default true), so a drift in one is not hidden by rescaling. */
  sharedY?: boolean;
  /** Size of each panel's plot area in CSS pixels; default 250×250. */
  panelWidth?: number;
  panelHeight?: number;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

// Quiet greys around the data, and sizes that stay legible when the PNG is shown at half its pixels.
const CONFIG = {
  // the SVG names fallbacks for viewers without DejaVu; the PNG always has it
  font: `${FONT_FAMILY}, Verdana, sans-serif`,
  background: 'white',
  padding: 12,
  title: { fontSize: 16, fontWeight: 'bold', color: '#222', anchor: 'start', offset: 14 },
  axis: {
    labelFontSize: 11,
    labelColor: '#444',
    titleFontSize: 12,
    titleFontWeight: 'normal',
    titleColor: '#333',
    titlePadding: 8,
    gridColor: '#ececec',
    domainColor: '#999',
    tickColor: '#999',
  },
  legend: { labelFontSize: 12, labelColor: '#333', titleFontSize: 12, labelLimit: 260, symbolStrokeWidth: 3 },
  header: { labelFontSize: 13, labelFontWeight: 'bold', labelColor: '#333' },
  view: { stroke: '#d8d8d8' },
} as const;

function fail(fn: string, what: string, expected: string, got: unknown): never {
  const shown = typeof got === 'string' ? JSON.stringify(got) : Array.isArray(got) ? `an array of ${got.length}` : String(got);
  throw new Error(`${fn}: ${what}: expected ${expected}, got ${shown}`);
}

function checkSize(fn: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 40 || v > 10_000) fail(fn, name, 'a size in [40, 10000] pixels', v);
  return v;
}

function checkNames(fn: string, series: unknown): { name: string }[] {
  if (!Array.isArray(series) || series.length === 0) fail(fn, 'series', 'a non-empty array', series);
  const seen = new Set<string>();
  series.forEach((s: { name?: unknown }, i) => {
    if (typeof s?.name !== 'string' || s.name === '') fail(fn, `series[${i}].name`, 'a non-empty string', s?.name);
    if (seen.has(s.name)) fail(fn, `series[${i}].name`, 'a name not used by another series', s.name);
    seen.add(s.name);
  });
  return series as { name: string }[];
}

/** The Vega-Lite spec of `lineChart` (no rendering): one colored line per series, legend on the right. */
export function lineSpec(opts: LineChartOptions): TopLevelSpec {
  const fn = 'lineChart';
  const { title, xTitle, yTitle, yDomain, logX = false, logY = false } = opts;
  const width = checkSize(fn, 'width', opts.width ?? 640);
  const height = checkSize(fn, 'height', opts.height ?? 360);
  const series = checkNames(fn, opts.series) as LineSeries[];
  if (
    yDomain !== undefined &&
    !(Array.isArray(yDomain) && yDomain.length === 2 && yDomain.every(Number.isFinite) && yDomain[0] < yDomain[1])
  ) {
    fail(fn, 'yDomain', '[min, max] with finite min < max', yDomain);
  }
  const rows: { series: string; x: number; y: number }[] = [];
  series.forEach((s, i) => {
    if (!Array.isArray(s.points)) fail(fn, `series[${i}].points`, 'an array of [x, y] pairs', s.points);
    for (const p of s.points) {
      if (!Array.isArray(p) || p.length !== 2) fail(fn, `series[${i}].points`, 'an array of [x, y] pairs', p);
      const [x, y] = p;
      // NOTE: a diverged run (NaN/Inf loss) simply stops being drawn where it diverged.
      if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
      if (logX && x <= 0) fail(fn, `series[${i}].points`, 'x > 0 with logX', x);
      if (logY && y <= 0) fail(fn, `series[${i}].points`, 'y > 0 with logY', y);
      rows.push({ series: s.name, x, y });
    }
  });
  const names = series.map((s) => s.name);
  // Vega's default 'tableau10', listed so that a series' own `color` can take its slot
  const palette = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#eeca3b', '#9d755d', '#ff9da6', '#79706e'];
  const colors = series.map((s, i) => s.color ?? palette[i % palette.length]!);
  const anyDashed = series.some((s) => s.dashed);
  const legend = { title: null, orient: 'right' as const };
  return {
    $schema: SCHEMA,
    title,
    width,
    height,
    // the given width/height are the whole chart's, axes and legend included
    autosize: { type: 'fit', contains: 'padding' },
    data: { values: rows },
    mark: { type: 'line', clip: true, strokeWidth: 2 },
    encoding: {
      x: {
        field: 'x',
        type: 'quantitative',
        title: xTitle,
        // no rounding of the domain: training curves should span the plot from the first step to the last
        scale: logX ? { type: 'log', nice: false } : { zero: false, nice: false },
      },
      y: {
        field: 'y',
        type: 'quantitative',
        title: yTitle,
        scale: { ...(logY ? { type: 'log' as const } : { zero: false }), ...(yDomain ? { domain: yDomain, nice: false } : {}) },
      },
      color: { field: 'series', type: 'nominal', sort: names, scale: { domain: names, range: colors }, legend },
      // same field and legend as color, so Vega-Lite draws one legend whose symbols are dashed too
      ...(anyDashed
        ? {
            strokeDash: {
              field: 'series',
              type: 'nominal',
              sort: names,
              scale: { domain: names, range: series.map((s) => (s.dashed ? [6, 4] : [1, 0])) },
              legend,
            },
          }
        : {}),
    },
    config: CONFIG,
  } as TopLevelSpec;
}

const BAND = '#4c78a8';
const MEDIAN = 'median';
const OUTER = '15th and 85th percentiles';

/**
 * The Vega-Lite spec of `percentileChart`: one panel per series side by side (as in Fig. 1(b, c)
 * of Ioffe & Szegedy 2015), the 15th–85th percentile band shaded, the median a solid line and the
 * 15th/85th percentiles dashed lines. Steps where a value is not finite are left out.
 */
export function percentileSpec(opts: PercentileChartOptions): TopLevelSpec {
  const fn = 'percentileChart';
  const { title, xTitle = 'training step', yTitle = 'sigmoid input', sharedY = true } = opts;
  const panelWidth = checkSize(fn, 'panelWidth', opts.panelWidth ?? 250);
  const panelHeight = checkSize(fn, 'panelHeight', opts.panelHeight ?? 250);
  const series = checkNames(fn, opts.series) as PercentileSeries[];
  const rows: { network: string; step: number; p15: number; p50: number; p85: number }[] = [];
  series.forEach((s, i) => {
    const n = Array.isArray(s.steps) ? s.steps.length : -1;
    if (n < 0) fail(fn, `series[${i}].steps`, 'an array of numbers', s.steps);
    for (const k of ['p15', 'p50', 'p85'] as const) {
      if (!Array.isArray(s[k]) || s[k].length !== n) fail(fn, `series[${i}].${k}`, `an array of ${n} numbers (as steps)`, s[k]);
    }
    for (let t = 0; t < n; t++) {
      const r = { network: s.name, step: s.steps[t]!, p15: s.p15[t]!, p50: s.p50[t]!, p85: s.p85[t]! };
      if ([r.step, r.p15, r.p50, r.p85].every(Number.isFinite)) rows.push(r);
    }
  });
  const x = { field: 'step', type: 'quantitative', title: xTitle, scale: { zero: false, nice: false } } as const;
  return {
    $schema: SCHEMA,
    title,
    data: { values: rows },
    facet: {
      column: { field: 'network', type: 'nominal', sort: series.map((s) => s.name), title: null },
    },
    spacing: 24,
    spec: {
      width: panelWidth,
      height: panelHeight,
      layer: [
        {
          mark: { type: 'area', color: BAND, opacity: 0.18 },
          encoding: { x, y: { field: 'p15', type: 'quantitative', title: yTitle, scale: { zero: false } }, y2: { field: 'p85' } },
        },
        {
          // one row per (step, percentile); p15 and p85 share a style and a legend entry, and
          // `detail` keeps them two separate lines
          transform: [
            { fold: ['p85', 'p50', 'p15'], as: ['key', 'value'] },
            { calculate: `datum.key === 'p50' ? '${MEDIAN}' : '${OUTER}'`, as: 'percentile' },
          ],
          mark: { type: 'line', strokeWidth: 2 },
          encoding: {
            x,
            y: { field: 'value', type: 'quantitative', title: yTitle },
            detail: { field: 'key', type: 'nominal' },
            color: {
              field: 'percentile',
              type: 'nominal',
              scale: { domain: [MEDIAN, OUTER], range: ['#1b3a5c', BAND] },
              legend: { title: null, orient: 'bottom' },
            },
            // same field and legend as color: one legend, with dashed symbols where the lines are
            strokeDash: {
              field: 'percentile',
              type: 'nominal',
              scale: {
                domain: [MEDIAN, OUTER],
                range: [
                  [1, 0],
                  [5, 3],
                ],
              },
              legend: { title: null, orient: 'bottom' },
            },
          },
        },
      ],
    },
    resolve: { scale: { y: sharedY ? 'shared' : 'independent' } },
    config: CONFIG,
  } as TopLevelSpec;
}

/** Compiles a Vega-Lite spec and renders it headless (no DOM, no canvas) to an SVG string. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function svgSize(svg: string): { width: number; height: number } {
  const m = /^<svg[^>]*\swidth="([\d.]+)"[^>]*\sheight="([\d.]+)"/.exec(svg);
  if (!m) throw new Error('renderSvg: the SVG has no width/height on its root element');
  return { width: Number(m[1]), height: Number(m[2]) };
}

/** Rasterizes an SVG at `scale` × its size (default 2, for sharp text) with the bundled font: RGBA pixels and `asPng()`. */
export function rasterize(svg: string, { scale = 2 }: { scale?: number } = {}): RenderedImage {
  if (!(scale > 0 && scale <= 8)) fail('rasterize', 'scale', 'a number in (0, 8]', scale);
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: {
      loadSystemFonts: false,
      fontFiles: fontFiles(),
      defaultFontFamily: FONT_FAMILY,
      sansSerifFamily: FONT_FAMILY,
    },
  });
  return resvg.render();
}

/** PNG bytes of `rasterize(svg, { scale })`. */
export function svgToPng(svg: string, { scale = 2 }: { scale?: number } = {}): Buffer {
  return rasterize(svg, { scale }).asPng();
}

async function render(spec: TopLevelSpec): Promise<Chart> {
  const svg = await renderSvg(spec);
  return { spec, svg, ...svgSize(svg) };
}

/** A line chart of `series` (x, y) points; see `lineSpec`. */
export async function lineChart(opts: LineChartOptions): Promise<Chart> {
  return render(lineSpec(opts));
}

/** Side-by-side panels of the 15th/50th/85th percentiles over training; see `percentileSpec`. */
export async function percentileChart(opts: PercentileChartOptions): Promise<Chart> {
  return render(percentileSpec(opts));
}

/**
 * Writes `path.svg` and `path.png` (the PNG at `scale` × the SVG's size, default 2), creating the
 * folder; takes a rendered Chart or a Vega-Lite spec. Returns the paths and the PNG's pixel size.
 */
export async function saveChart(
  chart: Chart | TopLevelSpec,
  path: string,
  { scale = 2 }: { scale?: number } = {},
): Promise<{ svgPath: string; pngPath: string; width: number; height: number }> {
  const c = 'svg' in chart && typeof chart.svg === 'string' ? (chart as Chart) : await render(chart as TopLevelSpec);
  const png = svgToPng(c.svg, { scale });
  mkdirSync(dirname(path), { recursive: true });
  const svgPath = `${path}.svg`;
  const pngPath = `${path}.png`;
  writeFileSync(svgPath, c.svg);
  writeFileSync(pngPath, png);
  // PNG: 8-byte signature, then the IHDR chunk whose first fields are width and height (big-endian)
  return { svgPath, pngPath, width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
