// What every part of the demo is given and gives back: the fixed MNIST split, and its verdicts
// (criteria fixed in the part's code before the runs), results for demo.json and the charts it wrote.
import type { Dataset } from '../../src/index';

/** One claim about BN and whether it held on this data, with the figures it was judged on. */
export interface Claim {
  claim: string;
  held: boolean;
  detail: string;
}

export interface Context {
  /** `--full`: the long runs. */
  full: boolean;
  /** Folder of demo.json and the charts. */
  out: string;
  seed: number;
  /** The 8 000 training digits, flat ([784] per sample). */
  trainSet: Dataset;
  /** The 2 000 held-out digits, flat. */
  testSet: Dataset;
}

export interface PartResult {
  claims: Claim[];
  /** Merged into demo.json. */
  json: Record<string, unknown>;
  /** Chart files written to `out` (without extension: .svg and .png each). */
  charts: string[];
}

/** Mean and spread (max − min) of `v`. */
export function meanSpread(v: number[]): { mean: number; spread: number } {
  return { mean: v.reduce((a, b) => a + b, 0) / v.length, spread: Math.max(...v) - Math.min(...v) };
}

/** A fraction as a percentage with one decimal. */
export const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;

/** The first `n` samples of `d` (the split is already shuffled, so a prefix is a random subset). */
export function head(d: Dataset, n: number): Dataset {
  const per = d.shape.reduce((a, b) => a * b, 1);
  return { x: d.x.subarray(0, n * per), y: d.y.subarray(0, n), shape: d.shape };
}

/** The same samples seen as images [1, 28, 28]. */
export const asImages = (d: Dataset): Dataset => ({ ...d, shape: [1, 28, 28] });
