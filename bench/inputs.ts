// The benchmarked shapes and their inputs. Every backend gets the same values: they are made
// once per shape from a seeded generator and copied into each backend's memory.
import { geometry, type Geometry, type Layout } from '../src/kernels/batchnorm';
import { mulberry32 } from '../examples/mnist/data';

export interface ShapeSpec {
  /** Label in the table, also what --shapes matches. */
  name: string;
  layout: Layout;
  shape: number[];
  /** Too small for bandwidth to mean anything: reported, % of roof not judged. */
  tiny: boolean;
}

export const SHAPES: ShapeSpec[] = [
  { name: 'NC 256x1024', layout: 'NC', shape: [256, 1024], tiny: false },
  { name: 'NHWC 32x28x28x64', layout: 'NHWC', shape: [32, 28, 28, 64], tiny: false },
  { name: 'NHWC 32x56x56x64', layout: 'NHWC', shape: [32, 56, 56, 64], tiny: false },
  { name: 'NCHW 32x64x56x56', layout: 'NCHW', shape: [32, 64, 56, 56], tiny: false },
  { name: 'NCHW 2x3x4x4 tiny', layout: 'NCHW', shape: [2, 3, 4, 4], tiny: true },
];

export const EPS = 1e-5;

export interface Inputs {
  spec: ShapeSpec;
  g: Geometry;
  x: Float32Array;
  dy: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  runMean: Float32Array;
  runVar: Float32Array;
}

/** Uniform values in [0, 1) from the seeded generator the MNIST split uses. */
function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() / 4294967296;
}

/** Standard normal values (Box–Muller). */
function normals(n: number, seed: number): Float32Array {
  const r = rng(seed),
    out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - r(),
      v = r();
    const m = Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

// Per-channel means and spreads differ so that a kernel mixing up channels shows in the checks.
const chanMean = (c: number) => ((c % 5) - 2) * 0.5;
const chanStd = (c: number) => 0.5 + (c % 3) * 0.5;

export function makeInputs(spec: ShapeSpec): Inputs {
  const g = geometry(spec.layout, spec.shape);
  const C = g.c;
  const x = normals(g.size, 1234);
  // channel of flat index i: innermost axis (channels-last) or the axis after N (channel-first)
  const chan = g.channelsLast ? (i: number) => i % C : (i: number) => Math.floor(i / g.l) % C;
  for (let i = 0; i < x.length; i++) {
    const c = chan(i);
    x[i] = chanMean(c) + chanStd(c) * x[i];
  }
  const dy = normals(g.size, 5678);
  const gamma = new Float32Array(C),
    beta = new Float32Array(C),
    runMean = new Float32Array(C),
    runVar = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    gamma[c] = 1 + 0.1 * (((c % 7) - 3) / 3);
    beta[c] = 0.1 * ((c % 4) - 1.5);
    runMean[c] = chanMean(c) + 0.05;
    runVar[c] = chanStd(c) ** 2 * 1.1;
  }
  return { spec, g, x, dy, gamma, beta, runMean, runVar };
}

/** Bytes of x (f32). */
export function xBytes(spec: ShapeSpec): number {
  return spec.shape.reduce((a, b) => a * b, 1) * 4;
}
