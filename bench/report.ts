// Rows, the targets the SIMD rows are judged against, and the printed tables.
import type { Op } from './ours';
import type { ShapeSpec } from './inputs';

export type Backend = 'wasm-simd' | 'wasm' | 'js' | 'tfjs-bn' | 'tfjs-ops';
export const BACKENDS: Backend[] = ['wasm-simd', 'wasm', 'js', 'tfjs-bn', 'tfjs-ops'];
export const TFJS: Backend[] = ['tfjs-bn', 'tfjs-ops'];

export interface Roof {
  shape: string;
  bytes: number;
  readMs: number;
  copyMs: number;
  readCopyMs: number;
  /** bytes / readMs */
  readGBs: number;
  /** 2·bytes / copyMs (a copy of B reads B and writes B) */
  copyGBs: number;
  /** 3·bytes / readCopyMs: the backward mix */
  readCopyGBs: number;
  /** Two f32x4 adds per 16 bytes, in registers: the floor of a pass that sums x and x². */
  addsMs: number;
}

/**
 * The best % of roof any exact kernel can reach at this size (see the README): statistics must see
 * all of x before the first y, so forward = a pass over x (≥ a read, ≥ its adds) then a copy;
 * backward = a read of x and dy, then read + copy. Inference is one pass: 100.
 */
export function twoPassBound(r: Roof, op: Op): number {
  if (op === 'inference') return 100;
  if (op === 'forward') return (100 * r.copyMs) / (Math.max(r.readMs, r.addsMs) + r.copyMs);
  return (100 * r.readCopyMs) / (2 * r.readMs + r.readCopyMs);
}

export interface Row {
  shape: string;
  layout: string;
  dims: number[];
  op: Op;
  backend: Backend;
  ms: number;
  reps: number;
  /** Bytes a one-pass kernel moves: 2·size·4 (forward, inference) or 3·size·4 (backward). */
  bytes: number;
  gbs: number;
  /** Rate ÷ roofline rate for the same mix at the same size, in %. */
  pctRoof: number | null;
  /** twoPassBound for this row's op and size, in % of roof. */
  bound: number | null;
  /** TF.js ms (moments + tf.batchNorm, 'tfjs-bn') ÷ this row's ms: the judged speed-up. */
  vsTfjs: number | null;
  /** The fastest TF.js formulation's ms ÷ this row's ms. */
  vsTfjsBest: number | null;
  target: string;
  verdict: 'PASS' | 'MISS' | '';
}

// x up to this size is "in cache": 32×28×28×64 f32 is 6.125 MiB, the in-cache NHWC case
export const IN_CACHE_BYTES = 6.5 * 2 ** 20;
export const MIN_SPEEDUP = 20;

/** The % of roof a SIMD row must reach, or null where it is not judged (tiny shapes). */
export function roofTarget(spec: ShapeSpec, channelsLast: boolean, op: Op, xBytes: number): number | null {
  if (spec.tiny) return null;
  if (op === 'inference') return 90;
  if (xBytes <= IN_CACHE_BYTES || !channelsLast) return 75;
  return op === 'forward' ? 55 : 50;
}

/** Fills target and verdict of a SIMD row (other backends are reported, not judged). */
export function judge(row: Row, roofPct: number | null): void {
  if (row.backend !== 'wasm-simd') return;
  const parts: string[] = [];
  let ok = true;
  if (roofPct !== null) {
    parts.push(`≥${roofPct}%`);
    if (row.pctRoof === null || row.pctRoof < roofPct) ok = false;
  }
  // the speed-up is judged only when the tfjs-bn reference was timed
  if (row.vsTfjs !== null) {
    parts.push(`≥${MIN_SPEEDUP}×`);
    if (row.vsTfjs < MIN_SPEEDUP) ok = false;
  }
  if (parts.length === 0) return;
  row.target = parts.join(' ');
  row.verdict = ok ? 'PASS' : 'MISS';
}

/** The largest |a[i] − b[i]| (Infinity for a NaN or a length mismatch). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

function fmt(v: number | null, digits: number): string {
  if (v === null || !Number.isFinite(v)) return '-';
  return v.toFixed(digits);
}

/** ms with about three significant digits (tiny shapes take well under a microsecond). */
function fmtMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toPrecision(3);
}

const times = (v: number | null) => (v === null ? '-' : `${fmt(v, v < 10 ? 2 : 1)}×`);

/** Prints rows of cells as aligned columns (text left, numbers right), with a rule under the header. */
export function printTable(header: string[], rows: string[][], rightAlign: boolean[]): void {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAlign[i] ? c.padStart(w[i]) : c.padEnd(w[i])))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(w.map((n) => '-'.repeat(n)).join('  '));
  let prev = '';
  for (const r of rows) {
    // a blank line between shapes keeps 60 rows readable
    if (prev && r[0] !== prev) console.log('');
    prev = r[0];
    console.log(line(r));
  }
}

export function printRoofs(roofs: Roof[]): void {
  printTable(
    ['shape', 'B (MiB)', 'read GB/s', 'copy GB/s', 'read+copy GB/s', 'adds ÷ read'],
    roofs.map((r) => [
      r.shape,
      (r.bytes / 2 ** 20).toFixed(3),
      fmt(r.readGBs, 1),
      fmt(r.copyGBs, 1),
      fmt(r.readCopyGBs, 1),
      fmt(r.addsMs / r.readMs, 2),
    ]),
    [false, true, true, true, true, true],
  );
}

export function printRows(rows: Row[]): void {
  printTable(
    ['shape', 'op', 'backend', 'ms', 'GB/s', '% roof', 'bound', 'vs tfjs-bn', 'vs best tfjs', 'target', ''],
    rows.map((r) => [
      r.shape,
      r.op,
      r.backend,
      fmtMs(r.ms),
      fmt(r.gbs, 2),
      fmt(r.pctRoof, 1),
      fmt(r.bound, 0),
      times(r.vsTfjs),
      times(r.vsTfjsBest),
      r.target,
      r.verdict,
    ]),
    [false, false, false, true, true, true, true, true, true, false, false],
  );
}
