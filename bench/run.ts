// `npm run bench [-- --quick] [--name NAME] [--shapes a,b] [--backends a,b] [--calls]`
// Times BatchNorm forward (training), inference and backward on our SIMD and scalar WASM builds,
// our pure-JS backend and TF.js's wasm backend; compares each to the memory roofline measured in
// the SIMD build at the same size; then, in the SIMD build, each layer call against its kernel
// (bench/callcost.ts); writes bench/results/<name>.json.
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { budgets, measure, type Budget } from './timing';
import { makeInputs, SHAPES, xBytes, type Inputs, type ShapeSpec } from './inputs';
import { layerOutputs, OPS, rooflineSteps, setupOurs, useBackend, type Op, type OurBackend } from './ours';
import { initTfjs, setupTfjs, tfjsTensors } from './tfjs';
import { CALL_RATIO, CALL_SMALL_US, callCost, type CallRow } from './callcost';
import {
  BACKENDS,
  TFJS,
  IN_CACHE_BYTES,
  judge,
  maxAbsDiff,
  MIN_SPEEDUP,
  printRoofs,
  printRows,
  printTable,
  roofTarget,
  twoPassBound,
  type Backend,
  type Roof,
  type Row,
} from './report';

const USAGE = `usage: npm run bench -- [--quick] [--name NAME] [--shapes LIST] [--backends LIST] [--calls]
  --quick          short warm-up and timing budgets (smoke run; figures are rough)
  --calls          only the cost of the layer calls against their kernels (SIMD build)
  --name NAME      results file bench/results/NAME.json (default: latest)
  --shapes LIST    comma-separated substrings of shape names (${SHAPES.map((s) => s.name).join(', ')})
  --backends LIST  comma-separated: ${BACKENDS.join(', ')} (aliases simd, scalar; tfjs = both tfjs-*)`;

// outputs must agree with TF.js's to this (absolute; outputs are O(1))
const TOLERANCE = 1e-3;

interface Check {
  shape: string;
  op: Op;
  backend: string;
  against: string;
  maxAbsDiff: number;
  ok: boolean;
}

/** A bad command line: printed with the usage, without a stack. */
class UsageError extends Error {}

const OPTIONS = {
  quick: { type: 'boolean', default: false },
  name: { type: 'string', default: 'latest' },
  shapes: { type: 'string' },
  backends: { type: 'string' },
  calls: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parse() {
  let parsed;
  try {
    parsed = parseArgs({ options: OPTIONS, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (!/^[\w.-]+$/.test(values.name)) throw new UsageError(`--name: use letters, digits, '.', '-', '_' only, got '${values.name}'`);
  const list = (s: string | undefined) =>
    s === undefined
      ? null
      : s
          .split(',')
          .map((v) => v.trim().toLowerCase())
          .filter(Boolean);
  const shapeFilter = list(values.shapes);
  const shapes = shapeFilter ? SHAPES.filter((s) => shapeFilter.some((f) => s.name.toLowerCase().includes(f))) : SHAPES;
  if (shapes.length === 0) throw new UsageError(`--shapes: '${values.shapes}' matches none of: ${SHAPES.map((s) => s.name).join(', ')}`);
  const alias: Record<string, Backend[]> = { simd: ['wasm-simd'], scalar: ['wasm'], tfjs: TFJS };
  const backendFilter = list(values.backends);
  const backends = backendFilter
    ? backendFilter.flatMap((b) => {
        const names = alias[b] ?? [b as Backend];
        if (!names.every((n) => BACKENDS.includes(n)))
          throw new UsageError(`--backends: unknown '${b}' (expected ${BACKENDS.join(', ')}, simd, scalar or tfjs)`);
        return names;
      })
    : BACKENDS;
  return {
    quick: values.quick,
    name: values.name,
    shapes,
    backends: BACKENDS.filter((b) => backends.includes(b)),
    callsOnly: values.calls,
  };
}

function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    v8: process.versions.v8,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    // other work on the machine skews bandwidth figures: the load says whether there was any
    loadAvg1m: +os.loadavg()[0].toFixed(2),
    date: new Date().toISOString(),
    commit: gitDescribe(),
  };
}

/** The commit measured, '-dirty' when the working tree differs from it ('' outside a checkout). */
function gitDescribe(): string {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

const progress = (s: string) => process.stderr.write(`${s}\n`);

/** Runs one shape on every selected backend; appends its rows, roofline and checks. */
async function benchShape(
  inp: Inputs,
  backends: Backend[],
  b: ReturnType<typeof budgets>,
  out: { rows: Row[]; roofs: Roof[]; checks: Check[] },
): Promise<void> {
  const spec = inp.spec,
    bytes = xBytes(spec);
  const ms: Partial<Record<Backend, Record<Op, number>>> = {};
  const reps: Partial<Record<Backend, Record<Op, number>>> = {};
  // the first backend run gives the reference outputs (TF.js when selected): compared, then dropped
  const ref: Partial<Record<Op, { from: string; y: Float32Array }>> = {};
  const compare = (backend: string, op: Op, y: Float32Array) => {
    const r = ref[op];
    if (!r) {
      ref[op] = { from: backend, y };
      return;
    }
    const d = maxAbsDiff(y, r.y);
    out.checks.push({ shape: spec.name, op, backend, against: r.from, maxAbsDiff: d, ok: d <= TOLERANCE });
  };
  const timeAll = (name: Backend, run: Record<Op, () => void>, budget: Budget) => {
    ms[name] = {} as Record<Op, number>;
    reps[name] = {} as Record<Op, number>;
    for (const op of OPS) {
      const t = measure(run[op], budget);
      ms[name]![op] = t.ms;
      reps[name]![op] = t.reps;
    }
    progress(`  ${name.padEnd(9)} ${OPS.map((op) => `${op} ${ms[name]![op].toPrecision(3)} ms`).join(', ')}`);
  };

  for (const name of TFJS.filter((n) => backends.includes(n))) {
    await initTfjs();
    const tc = setupTfjs(inp, name === 'tfjs-bn' ? 'bn' : 'ops');
    try {
      timeAll(name, tc.run, b.slow);
      for (const op of OPS) compare(name, op, tc.output(op));
    } finally {
      tc.free();
    }
  }

  // the roofline is always measured (in the SIMD build), even when that backend is not timed
  const ours: (OurBackend & Backend)[] = ['wasm-simd', ...(['wasm', 'js'] as const).filter((n) => backends.includes(n))];
  let roof: Roof | null = null;
  for (const name of ours) {
    await useBackend(name);
    const oc = setupOurs(inp);
    try {
      if (name === 'wasm-simd') {
        // a roof is the best the loops reach: measured before and after the kernels, the faster
        // of the two is kept (a busy moment lowers one of them, never raises it)
        const s = rooflineSteps(oc, bytes);
        const best = (prev: number | undefined, step: () => void) => Math.min(prev ?? Infinity, measure(step, b.roof).ms);
        const take = (r: Roof | null) => {
          const readMs = best(r?.readMs, s.read),
            copyMs = best(r?.copyMs, s.copy),
            readCopyMs = best(r?.readCopyMs, s.readCopy);
          return {
            shape: spec.name,
            bytes,
            readMs,
            copyMs,
            readCopyMs,
            readGBs: bytes / readMs / 1e6,
            copyGBs: (2 * bytes) / copyMs / 1e6,
            readCopyGBs: (3 * bytes) / readCopyMs / 1e6,
            addsMs: best(r?.addsMs, s.adds),
          };
        };
        roof = take(null);
        if (backends.includes('wasm-simd')) {
          timeAll(name, oc.run, b.fast);
          for (const op of OPS) compare(name, op, oc.output(op));
        }
        roof = take(roof);
        out.roofs.push(roof);
        continue;
      }
      timeAll(name, oc.run, b.slow);
      for (const op of OPS) compare(name, op, oc.output(op));
    } finally {
      oc.free();
    }
  }

  // the public layers (BatchNorm1d/2d) must compute what the raw kernels timed above compute
  if (backends.includes('wasm-simd')) {
    await useBackend('wasm-simd');
    const oc = setupOurs(inp);
    const raw = Object.fromEntries(OPS.map((op) => [op, oc.output(op)])) as Record<Op, Float32Array>;
    oc.free();
    const layer = layerOutputs(inp);
    for (const op of OPS) {
      const d = maxAbsDiff(layer[op], raw[op]);
      out.checks.push({
        shape: spec.name,
        op,
        backend: 'wasm-simd layer API',
        against: 'wasm-simd raw kernel',
        maxAbsDiff: d,
        ok: d <= 1e-6,
      });
    }
  }

  for (const backend of backends) {
    const t = ms[backend];
    if (!t) continue;
    for (const op of OPS) {
      const moved = (op === 'backward' ? 3 : 2) * bytes;
      // roof time for the same mix: a copy of B for read x + write y; read B + copy B for backward
      const roofMs = roof ? (op === 'backward' ? roof.readCopyMs : roof.copyMs) : null;
      const tf = ms['tfjs-bn']?.[op];
      const tfTimes = TFJS.map((n) => ms[n]?.[op]).filter((v): v is number => v !== undefined);
      const tfBest = tfTimes.length ? Math.min(...tfTimes) : null;
      const row: Row = {
        shape: spec.name,
        layout: spec.layout,
        dims: spec.shape,
        op,
        backend,
        ms: t[op],
        reps: reps[backend]![op],
        bytes: moved,
        gbs: moved / t[op] / 1e6,
        pctRoof: roofMs === null ? null : (100 * roofMs) / t[op],
        bound: roof && !spec.tiny ? twoPassBound(roof, op) : null,
        vsTfjs: tf === undefined ? null : tf / t[op],
        vsTfjsBest: tfBest === null ? null : tfBest / t[op],
        target: '',
        verdict: '',
      };
      judge(row, roofTarget(spec, inp.g.channelsLast, op, bytes));
      out.rows.push(row);
    }
  }
}

async function main(): Promise<void> {
  const opts = parse();
  const t0 = performance.now();
  const b = budgets(opts.quick);
  const m = machine();
  const tfjs = opts.backends.some((n) => TFJS.includes(n)) ? await initTfjs() : null;
  console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.platform}, ${m.memoryGiB} GiB`);
  console.log(
    `node ${m.node} (V8 ${m.v8}), ${m.date}, load ${m.loadAvg1m}${m.commit ? `, ${m.commit}` : ''}${opts.quick ? ', --quick (rough figures)' : ''}`,
  );
  if (tfjs) console.log(`reference: ${tfjs}`);

  const out = { rows: [] as Row[], roofs: [] as Roof[], checks: [] as Check[] };
  if (!opts.callsOnly) {
    for (const [i, spec] of opts.shapes.entries()) {
      progress(`[${i + 1}/${opts.shapes.length}] ${spec.name}`);
      await benchShape(makeInputs(spec), opts.backends, b, out);
    }
    if (tfjs && tfjsTensors() > 0) progress(`note: ${tfjsTensors()} TF.js tensors still alive after the run`);

    console.log('\nMemory roofline (SIMD build, v128 loops over the benchmarked buffers; median per call):');
    printRoofs(out.roofs);
    console.log('');
    printRows(out.rows);
    printFooter(opts.shapes);
  }

  // the layer calls against their kernels, in the build whose figures are judged
  progress('layer calls against their kernels (wasm-simd)');
  await useBackend('wasm-simd');
  // CPU time as a second clock: under load it still judges the calls (see callcost.ts)
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e3;
  };
  const calls = callCost(opts.shapes, b.fast, progress, undefined, cpuMs);
  printCalls(calls);

  const bad = out.checks.filter((c) => !c.ok);
  const worst = new Map<string, number>();
  for (const c of out.checks) worst.set(c.backend, Math.max(worst.get(c.backend) ?? 0, c.maxAbsDiff));
  const against = out.checks.find((c) => c.backend !== 'wasm-simd layer API')?.against;
  console.log(`\nOutputs checked (untimed) against ${against ?? '-'} (max |diff| over every shape and op; tolerance ${TOLERANCE}):`);
  for (const [k, v] of worst) console.log(`  ${k.padEnd(20)} ${v.toExponential(2)}`);
  for (const c of bad) console.log(`  MISMATCH ${c.shape} ${c.op} ${c.backend} vs ${c.against}: ${c.maxAbsDiff}`);
  const judged = out.rows.filter((r) => r.verdict);
  const durationS = (performance.now() - t0) / 1000;
  console.log(
    `\nSIMD targets: ${judged.filter((r) => r.verdict === 'PASS').length}/${judged.length} PASS; layer calls: ${calls.filter((c) => c.ok).length}/${calls.length} within target (by CPU time ${calls.filter((c) => c.cpu?.ok).length}); run took ${durationS.toFixed(0)} s`,
  );

  const dir = fileURLToPath(new URL('../bench/results/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = `${dir}${opts.name}.json`;
  writeFileSync(
    file,
    JSON.stringify(
      {
        name: opts.name,
        quick: opts.quick,
        machine: m,
        reference: tfjs,
        budgets: b,
        model: MODEL,
        targets: TARGETS,
        roofline: out.roofs,
        rows: out.rows,
        checks: out.checks,
        calls,
        durationS,
      },
      null,
      1,
    ) + '\n',
  );
  console.log(`wrote ${file}`);
  if (bad.length) process.exitCode = 1;
}

const MODEL = [
  'bytes: forward and inference move 2·size·4 (read x, write y); backward 3·size·4 (read x and dy, write dx): what a one-pass kernel moves',
  '% roof, forward/inference: rate ÷ rooflineCopy rate at B = size·4 (a copy of B moves 2·B), i.e. copy time ÷ kernel time',
  '% roof, backward (2 reads + 1 write): roof time = time(rooflineRead over B) + time(rooflineCopy over B), moving 3·B; timed as one step over x, dy, dx',
  'bound: the best % of roof an exact kernel can reach here. Statistics see all of x before the first y is written, so forward ≥ max(read of x, its adds: 2 vector adds per 16 bytes, timed in registers) + copy; backward ≥ read of x and dy + read + copy; inference 100',
  'vs tfjs-bn: TF.js ms ÷ this row ms, TF.js as tf.moments + tf.batchNorm (NCHW transposed to NHWC and back: its batchNorm kernel is channels-last only)',
  'vs best tfjs: the same against the faster of tfjs-bn and tfjs-ops (moments + broadcasting sub/mul/add, no transposes)',
  'TF.js backward is tf.grad of sum(y·dy) through the moments, which runs the forward too; ours is the backward kernel alone',
];
const TARGETS = [
  'inference ≥ 90 % of roof at every shape',
  `forward-train and backward ≥ 75 % where x ≤ ${IN_CACHE_BYTES / 2 ** 20} MiB (in cache) and for channel-first layouts at every size`,
  'channels-last beyond cache: forward ≥ 55 %, backward ≥ 50 %',
  `≥ ${MIN_SPEEDUP}× faster than tfjs-bn on every shape and op; tiny shapes: % of roof reported, not judged`,
];

/** The layer-call table: layer µs, kernel µs, their ratio and difference, and the verdict. */
function printCalls(calls: CallRow[]): void {
  console.log(
    `\nLayer calls against their kernels (SIMD build; median µs per call, the two timed in alternating samples; output disposed):`,
  );
  const cpu = (c: CallRow, f: (v: NonNullable<CallRow['cpu']>) => string) => (c.cpu ? f(c.cpu) : '–');
  printTable(
    ['layer', 'shape', 'op', 'layer µs', 'kernel µs', 'ratio', '+µs', '', 'CPU: layer µs', 'kernel µs', 'ratio', '+µs', ''],
    calls.map((c) => [
      c.layer,
      c.shape,
      c.op,
      c.layerUs.toFixed(2),
      c.kernelUs.toFixed(2),
      `${c.ratio.toFixed(3)}×`,
      c.extraUs.toFixed(2),
      c.ok ? 'PASS' : 'MISS',
      cpu(c, (v) => v.layerUs.toFixed(2)),
      cpu(c, (v) => v.kernelUs.toFixed(2)),
      cpu(c, (v) => `${v.ratio.toFixed(3)}×`),
      cpu(c, (v) => v.extraUs.toFixed(2)),
      cpu(c, (v) => (v.ok ? 'PASS' : 'MISS')),
    ]),
    [false, false, false, true, true, true, true, false, true, true, true, true, false],
  );
  console.log(`  target: ≤ ${CALL_RATIO}× the kernel; at the MLP's shape ≤ ${CALL_SMALL_US} µs more than the kernel`);
  console.log(
    '  CPU: the same pair by process CPU time (alternating batches, median of 21): time spent waiting for a core does not count, so it judges the targets under load',
  );
}

function printFooter(shapes: ShapeSpec[]): void {
  console.log('');
  for (const l of MODEL) console.log(`  ${l}`);
  console.log('  targets (SIMD rows):');
  for (const l of TARGETS) console.log(`    ${l}`);
  if (shapes.some((s) => s.tiny)) console.log('  tiny shapes are dominated by call overhead: their GB/s and % roof say little');
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(`${e.message}\n${USAGE}`);
    process.exit(2);
  }
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
