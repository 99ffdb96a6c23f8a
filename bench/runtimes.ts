// `npm run bench -- --runtimes`: the BatchNorm kernels (SIMD build, scalar build, pure JS) timed in
// Node 20, headless Chromium, Deno and Bun, one runtime after another (so that they do not share the
// cores), all running the same bundle, build/bench-kernels.mjs (bench/kernels_portable.ts). Prints
// one table and writes bench/results/runtimes.json. A runtime that fails or times out is reported as
// 'failed: <reason>' and the others still run.
import os from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { BACKENDS, OPS, SHAPES, type Backend, type Case, type Op, type Result } from './kernels_portable';

const BUILD = fileURLToPath(new URL('./', import.meta.url)); // this bundle lives in build/
const ROOT = join(BUILD, '..');
const BUNDLE = 'bench-kernels.mjs';
const DRIVER = 'bench-kernels-main.mjs';
const TIMEOUT_MS = 90_000; // per runtime
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const MARK = 'BENCH-RESULT ';

const progress = (s: string) => process.stderr.write(`${s}\n`);

/** Rejects after `ms` (and runs `onTimeout`), unless `p` settles first. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void = () => {}): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what}: no result within ${ms / 1000} s`));
    }, ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

const children = new Set<ChildProcess>();

/** Runs the driver under a CLI runtime; its progress (stderr) is passed on, its result is the marked stdout line. */
function runCli(label: string, cmd: string, args: string[]): Promise<Result> {
  if (!existsSync(cmd)) return Promise.reject(new Error(`${cmd} not found (a devDependency: run npm ci)`));
  return new Promise<Result>((resolve, reject) => {
    const env = { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' };
    const child = spawn(cmd, args, { cwd: BUILD, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '',
      err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => {
      err += d;
      process.stderr.write(String(d).replace(/^(?=.)/gm, `[${label}] `));
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`killed after ${TIMEOUT_MS / 1000} s`));
    }, TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const line = out.split('\n').find((l) => l.startsWith(MARK));
      if (code === 0 && line) return resolve(JSON.parse(line.slice(MARK.length)) as Result);
      const last = (
        err
          .trim()
          .split('\n')
          .filter((l) => !l.startsWith('  '))
          .pop() ?? ''
      ).slice(0, 160);
      reject(new Error(`exit ${code ?? signal}${line ? '' : ', no result'}${last ? `: ${last}` : ''}`));
    });
  });
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};

/** A static server for build/ on 127.0.0.1 (a free port). Cross-origin isolated, so that
 *  Chromium's performance.now() has 5 µs steps rather than 100 µs. */
function serve(): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-store',
    };
    if (path === '/' || path === '/index.html') {
      res.writeHead(200, { ...headers, 'Content-Type': TYPES['.html'] });
      res.end('<!doctype html><meta charset="utf-8"><title>batchnorm-wasm bench</title>');
      return;
    }
    const file = normalize(join(BUILD, path));
    if (!file.startsWith(BUILD) || !TYPES[extname(file)] || !existsSync(file)) {
      res.writeHead(404, headers).end('not found');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] });
    res.end(readFileSync(file));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      resolve({ server, origin: `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}` });
    });
  });
}

async function runChromium(): Promise<Result> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (set CHROMIUM_PATH)`);
  const { server, origin } = await serve();
  let browser: Browser | null = null;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
    const version = browser.version();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'log') progress(`[chromium] ${m.text()}`);
    });
    await page.goto(`${origin}/`, { timeout: 30_000 });
    const evaluation = page.evaluate(
      `import('/${BUNDLE}').then((m) => m.run({ log: (s) => console.log(s) })).then((r) => JSON.stringify(r))`,
    ) as Promise<string>;
    const b = browser;
    const json = await withTimeout(evaluation, TIMEOUT_MS, 'chromium', () => void b.close().catch(() => {}));
    const r = JSON.parse(json) as Result;
    if (errors.length) progress(`[chromium] page errors: ${errors.join('; ')}`);
    return { ...r, runtime: `chromium ${version}` };
  } finally {
    if (browser) await withTimeout(browser.close(), 10_000, 'chromium close').catch(() => {});
    server.closeAllConnections();
    server.close();
  }
}

const RUNTIMES: { name: string; start: () => Promise<Result> }[] = [
  { name: 'node', start: () => runCli('node', process.execPath, [DRIVER]) },
  { name: 'chromium', start: runChromium },
  { name: 'deno', start: () => runCli('deno', join(ROOT, 'node_modules/.bin/deno'), ['run', '--allow-read=.', '--no-prompt', DRIVER]) },
  { name: 'bun', start: () => runCli('bun', join(ROOT, 'node_modules/.bin/bun'), ['run', DRIVER]) },
];

interface Outcome {
  name: string;
  ok: boolean;
  error?: string;
  result?: Result;
  wallMs: number;
}

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toPrecision(3));
const ratio = (v: number) => `${v >= 10 ? v.toFixed(0) : v.toFixed(1)}×`;
const geomean = (v: number[]) => Math.exp(v.reduce((a, b) => a + Math.log(b), 0) / v.length);

function table(outcomes: Outcome[]): string[] {
  const lines = ['| runtime | shape | op | SIMD ms | scalar ms | JS ms | SIMD ÷ scalar | SIMD ÷ JS |', '|---|---|---|---|---|---|---|---|'];
  for (const o of outcomes) {
    if (!o.ok) {
      lines.push(`| ${o.name} | failed: ${(o.error ?? '').replace(/\|/g, '/').replace(/\s+/g, ' ')} | | | | | | |`);
      continue;
    }
    const r = o.result!,
      label = `${r.runtime} (${r.engine})`;
    const ms = (shape: string, op: Op, b: Backend) =>
      r.cases.find((c: Case) => c.shape === shape && c.op === op && c.backend === b)?.ms ?? NaN;
    let first = true;
    for (const s of SHAPES) {
      for (const op of OPS) {
        const [simd, scalar, js] = BACKENDS.map((b) => ms(s.name, op, b));
        lines.push(
          `| ${first ? label : ''} | ${s.name} | ${op} | ${fmt(simd)} | ${fmt(scalar)} | ${fmt(js)} | ${ratio(scalar / simd)} | ${ratio(js / simd)} |`,
        );
        first = false;
      }
    }
  }
  return lines;
}

function summary(outcomes: Outcome[]): string[] {
  return outcomes
    .filter((o) => o.ok)
    .map((o) => {
      const r = o.result!;
      const all = (b: Backend) =>
        SHAPES.flatMap((s) => OPS.map((op) => r.cases.find((c) => c.shape === s.name && c.op === op && c.backend === b)!.ms));
      const simd = all('wasm-simd'),
        scalar = all('wasm'),
        js = all('js');
      const vsScalar = geomean(scalar.map((v, i) => v / simd[i])),
        vsJs = geomean(js.map((v, i) => v / simd[i]));
      const diff = Object.entries(r.maxAbsDiffVsJs)
        .map(([b, d]) => `${b} ${d.toExponential(1)}`)
        .join(', ');
      return `  ${r.runtime.padEnd(22)} geomean SIMD ÷ scalar ${ratio(vsScalar)}, SIMD ÷ JS ${ratio(vsJs)}; timer step ${(r.timerResolutionMs * 1000).toPrecision(2)} µs; max |out − JS out|: ${diff}; ${(o.wallMs / 1000).toFixed(1)} s`;
    });
}

async function main(): Promise<void> {
  const t0 = performance.now();
  if (!existsSync(join(BUILD, BUNDLE))) throw new Error(`build/${BUNDLE} is missing: run this through npm run bench -- --runtimes`);
  writeFileSync(
    join(BUILD, DRIVER),
    `import { run } from './${BUNDLE}';\nconst r = await run({ log: (s) => console.error(s) });\nconsole.log(${JSON.stringify(MARK)} + JSON.stringify(r));\n`,
  );
  const cpus = os.cpus();
  const machine = {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    loadAvg1m: +os.loadavg()[0].toFixed(2),
    date: new Date().toISOString(),
  };
  console.log(
    `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.platform}, ${machine.memoryGiB} GiB, load ${machine.loadAvg1m}, ${machine.date}`,
  );
  const outcomes: Outcome[] = [];
  for (const r of RUNTIMES) {
    progress(`[${r.name}] starting`);
    const s0 = performance.now();
    try {
      const result = await withTimeout(r.start(), TIMEOUT_MS + 15_000, r.name);
      outcomes.push({ name: r.name, ok: true, result, wallMs: performance.now() - s0 });
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      progress(`[${r.name}] failed: ${msg}`);
      outcomes.push({ name: r.name, ok: false, error: msg.split('\n')[0].slice(0, 200), wallMs: performance.now() - s0 });
    }
  }
  for (const c of children) c.kill('SIGKILL');

  console.log(
    '\nBatchNorm kernels per runtime (ms per call, median; SIMD ÷ X = X ms ÷ SIMD ms, i.e. how many times faster the SIMD build is):\n',
  );
  for (const l of table(outcomes)) console.log(l);
  console.log('');
  for (const l of summary(outcomes)) console.log(l);
  const ok = outcomes.filter((o) => o.ok);
  const b = ok[0]?.result?.budget;
  if (b)
    console.log(
      `  budget per case: ≥ ${b.warmCalls} warm-up calls and ≥ ${b.warmMs} ms, then ≥ ${b.minReps} samples of ≥ ${b.sampleMs} ms over ≥ ${b.timeMs} ms; runtimes run one after another`,
    );
  const durationS = (performance.now() - t0) / 1000;
  console.log(`\n${ok.length}/${outcomes.length} runtimes ran; run took ${durationS.toFixed(0)} s`);

  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'runtimes.json');
  writeFileSync(
    file,
    JSON.stringify(
      {
        machine,
        shapes: SHAPES,
        durationS,
        runtimes: outcomes.map((o) => ({ name: o.name, ok: o.ok, error: o.error, wallMs: Math.round(o.wallMs), ...o.result })),
      },
      null,
      1,
    ) + '\n',
  );
  console.log(`wrote ${file}`);
  if (ok.length < outcomes.length) process.exitCode = 1;
}

process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
