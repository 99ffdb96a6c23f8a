// `npm run bench -- --norms [--quick] [--name NAME] [--case TEXT]` (--case: only the norms whose name contains TEXT)
// LayerNorm, GroupNorm and InstanceNorm2d forward (training) and backward through the public layer
// calls, at the bytes of a BatchNorm row of `npm run bench`, against the same memory roofline and
// two-pass bound (bench/report.ts), with BatchNorm's own figure (kernel and layer call) beside them,
// in one process (SIMD build) with the samples of each norm alternating with BN's layer call's;
// and TF.js wasm where it has the op (tf.layers.layerNormalization). Writes
// bench/results/norms-NAME.json.
import os from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { BatchNorm2d, GroupNorm, InstanceNorm2d, LayerNorm, Module, tensor, type Tensor } from '../src/index';
import { measure, measurePair, type Budget } from './timing';
import { rooflineSteps, setupOurs, useBackend } from './ours';
import { makeInputs, SHAPES, xBytes, type ShapeSpec } from './inputs';
import { maxAbsDiff, printTable, twoPassBound, type Roof } from './report';
import { initTfjs } from './tfjs';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    name: { type: 'string', default: 'latest' },
    norms: { type: 'boolean' },
    case: { type: 'string', default: '' },
  },
});
const budget: Budget = args.quick
  ? { warmCalls: 20, warmMs: 50, warmCapMs: 300, minReps: 5, timeMs: 100, maxReps: 500 }
  : { warmCalls: 100, warmMs: 300, warmCapMs: 1500, minReps: 20, timeMs: 600, maxReps: 5000 };
// TF.js takes seconds a call here: a warm-up call and three samples
const slow: Budget = { warmCalls: 1, warmMs: 0, warmCapMs: 0, minReps: 3, timeMs: 0, maxReps: 3 };
// ours against TF.js's (untimed): both f32 with different summation orders
const TOLERANCE = 1e-3;

type Op = 'forward' | 'backward';
const OPS: Op[] = ['forward', 'backward'];

/** A norm timed at a BN row's bytes: the layer, the shape it sees and the BN row it is set against. */
interface Case {
  norm: string;
  make: () => Module & { backward(dy: Tensor): Tensor };
  shape: number[];
  bn: ShapeSpec;
}

const spec = (name: string) => SHAPES.find((s) => s.name === name)!;
// LayerNorm over the channels of an NHWC activation (as in a ConvNeXt block), the others NCHW
const CASES: Case[] = [
  { norm: 'LayerNorm(64)', make: () => new LayerNorm(64), shape: [32, 28, 28, 64], bn: spec('NHWC 32x28x28x64') },
  { norm: 'GroupNorm(8, 64)', make: () => new GroupNorm(8, 64), shape: [32, 64, 56, 56], bn: spec('NCHW 32x64x56x56') },
  {
    norm: 'InstanceNorm2d(64, affine)',
    make: () => new InstanceNorm2d(64, { affine: true }),
    shape: [32, 64, 56, 56],
    bn: spec('NCHW 32x64x56x56'),
  },
  { norm: 'LayerNorm(64)', make: () => new LayerNorm(64), shape: [32, 56, 56, 64], bn: spec('NHWC 32x56x56x64') },
];

/** forward (training, output disposed) and backward (of the last forward, dx disposed) of a layer. */
function layerSteps(layer: Module & { backward(dy: Tensor): Tensor }, x: Tensor, dy: Tensor): Record<Op, () => void> {
  layer.train();
  layer.forward(x).dispose();
  return {
    forward: () => layer.forward(x).dispose(),
    backward: () => layer.backward(dy).dispose(),
  };
}

interface Row {
  norm: string;
  shape: string;
  op: Op;
  ms: number;
  pctRoof: number;
  bound: number;
  /** % roof ÷ bound, in %. */
  pctBound: number;
  bnLayerMs: number;
  bnLayerPctBound: number;
  bnKernelMs: number;
  bnKernelPctBound: number;
  /** (norm's % of bound) ÷ (BN layer's), in %: the target is ≥ 90. */
  vsBn: number;
  tfjsMs: number | null;
  vsTfjs: number | null;
}

/** TF.js's layerNormalization over the last axis: forward (training) and tf.grad of sum(y·dy) (runs the forward too). */
function tfjsLayerNorm(shape: number[], x: Float32Array, dy: Float32Array) {
  const layer = tfl.layers.layerNormalization({ axis: -1, epsilon: 1e-5 });
  const tx = tf.tensor(x, shape),
    tdy = tf.tensor(dy, shape);
  layer.build(tx.shape);
  const fwd = (v: tf.Tensor) => layer.apply(v, { training: true }) as tf.Tensor;
  const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(fwd(v), tdy)));
  const run: Record<Op, () => void> = {
    forward: () => tf.tidy(() => void fwd(tx).dataSync()),
    backward: () => tf.tidy(() => void grad(tx).dataSync()),
  };
  return {
    run,
    output: (op: Op) => tf.tidy(() => (op === 'forward' ? fwd(tx) : grad(tx)).dataSync() as Float32Array),
    dispose: () => {
      // (layer.dispose() refuses a layer applied to concrete tensors only: its γ, β are 2·64 floats)
      tf.dispose([tx, tdy]);
    },
  };
}

const progress = (s: string) => process.stderr.write(`${s}\n`);

async function main(): Promise<void> {
  const load0 = os.loadavg()[0];
  await useBackend('wasm-simd');
  const tfDesc = await initTfjs();
  const rows: Row[] = [];
  const checks: { norm: string; shape: string; op: Op; maxAbsDiff: number }[] = [];
  for (const c of CASES.filter((k) => k.norm.includes(args.case!))) {
    const shapeName = c.shape.join('x');
    progress(`${c.norm} ${shapeName}`);
    const inp = makeInputs(c.bn);
    const bytes = xBytes(c.bn);
    // BN's kernel row and the roofline over its buffers, as `npm run bench` measures them
    const kc = setupOurs(inp);
    const s = rooflineSteps(kc, bytes);
    const roof: Roof = {
      shape: c.bn.name,
      bytes,
      readMs: measure(s.read, budget).ms,
      copyMs: measure(s.copy, budget).ms,
      readCopyMs: measure(s.readCopy, budget).ms,
      readGBs: 0,
      copyGBs: 0,
      readCopyGBs: 0,
      addsMs: measure(s.adds, budget).ms,
    };
    const bnKernel = { forward: measure(kc.run.forward, budget).ms, backward: measure(kc.run.backward, budget).ms };
    kc.free();

    const x = tensor(inp.x, c.shape),
      dy = tensor(inp.dy, c.shape);
    const bnShape = c.bn.shape;
    const bx = tensor(inp.x, bnShape),
      bdy = tensor(inp.dy, bnShape);
    const bn = new BatchNorm2d(inp.g.c, { layout: c.bn.layout as 'NCHW' | 'NHWC' });
    const layer = c.make();
    let tfc: ReturnType<typeof tfjsLayerNorm> | null = null;
    try {
      const ours = layerSteps(layer, x, dy),
        bnSteps = layerSteps(bn, bx, bdy);
      if (c.norm.startsWith('LayerNorm')) {
        tfc = tfjsLayerNorm(c.shape, inp.x, inp.dy);
        for (const op of OPS) {
          ours[op]();
          const mine = op === 'forward' ? layer.forward(x) : layer.backward(dy);
          checks.push({ norm: c.norm, shape: shapeName, op, maxAbsDiff: maxAbsDiff(mine.view(), tfc.output(op)) });
          mine.dispose();
        }
      }
      for (const op of OPS) {
        const [t, b] = measurePair(ours[op], bnSteps[op], budget);
        const roofMs = op === 'backward' ? roof.readCopyMs : roof.copyMs;
        const bound = twoPassBound(roof, op);
        const pct = (ms: number) => (100 * roofMs) / ms;
        const tfMs = tfc ? measure(tfc.run[op], slow).ms : null;
        const pctBound = (100 * pct(t.ms)) / bound,
          bnLayerPctBound = (100 * pct(b.ms)) / bound;
        rows.push({
          norm: c.norm,
          shape: shapeName,
          op,
          ms: t.ms,
          pctRoof: pct(t.ms),
          bound,
          pctBound,
          bnLayerMs: b.ms,
          bnLayerPctBound,
          bnKernelMs: bnKernel[op],
          bnKernelPctBound: (100 * pct(bnKernel[op])) / bound,
          vsBn: (100 * pctBound) / bnLayerPctBound,
          tfjsMs: tfMs,
          vsTfjs: tfMs === null ? null : tfMs / t.ms,
        });
      }
    } finally {
      tfc?.dispose();
      layer.dispose();
      bn.dispose();
      for (const t of [x, dy, bx, bdy]) t.dispose();
    }
  }
  const load1 = os.loadavg()[0];
  console.log(`Normalization layers against BatchNorm at the same bytes (SIMD build, layer calls; median ms per call)`);
  console.log(`${os.cpus()[0]?.model ?? 'cpu'}, ${os.cpus().length} cores; load ${load0.toFixed(2)} → ${load1.toFixed(2)}; ${tfDesc}`);
  const f = (v: number, d = 1) => v.toFixed(d);
  printTable(
    [
      'norm',
      'shape',
      'op',
      'ms',
      '% roof',
      'bound',
      '% bound',
      'BN layer ms',
      'BN % bound',
      'vs BN',
      'BN kernel % bound',
      'TF.js ms',
      '× TF.js',
    ],
    rows.map((r) => [
      r.norm,
      r.shape,
      r.op,
      f(r.ms, 3),
      f(r.pctRoof),
      f(r.bound, 0),
      f(r.pctBound),
      f(r.bnLayerMs, 3),
      f(r.bnLayerPctBound),
      `${f(r.vsBn, 0)} %`,
      f(r.bnKernelPctBound),
      r.tfjsMs === null ? '-' : f(r.tfjsMs, 2),
      r.vsTfjs === null ? '-' : `${f(r.vsTfjs, 1)}×`,
    ]),
    [false, false, false, true, true, true, true, true, true, true, true, true, true],
  );
  console.log(
    '  % bound: % of roof ÷ the two-pass bound (bench/report.ts); vs BN: that ÷ BN layer call’s (target ≥ 90 %), samples alternating',
  );
  console.log('  TF.js backward is tf.grad of sum(y·dy), which runs the forward too; ours is the backward alone');
  const bad = checks.filter((c) => !(c.maxAbsDiff <= TOLERANCE));
  for (const c of checks) console.log(`  checked against TF.js: ${c.norm} ${c.shape} ${c.op} max |diff| ${c.maxAbsDiff.toExponential(2)}`);
  const dir = fileURLToPath(new URL('../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}norms-${args.name}.json`;
  writeFileSync(
    file,
    JSON.stringify({ date: new Date().toISOString(), load: [load0, load1], quick: args.quick, rows, checks }, null, 1) + '\n',
  );
  console.log(`wrote ${file}`);
  if (bad.length) process.exitCode = 1;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
