// Median-of-samples timing with a warm-up phase and time budgets.
//
// V8 first runs WebAssembly in its baseline tier (Liftoff) and swaps in optimized code (TurboFan)
// only after a function has used up a tiering budget; timings taken before that read about half
// speed. So every case is warmed up by call count and by time before anything is timed.

export interface Budget {
  /** Warm-up calls wanted (together with warmMs) before timing. */
  warmCalls: number;
  /** Warm-up time wanted (together with warmCalls). */
  warmMs: number;
  /** Warm-up stops here even if warmCalls was not reached (slow backends, big shapes). */
  warmCapMs: number;
  /** Timed samples wanted at least (together with timeMs). */
  minReps: number;
  /** Time to spend on timed samples at least. */
  timeMs: number;
  /** Timed samples at most. */
  maxReps: number;
  /** A sample lasts at least this long (short calls are batched); default SAMPLE_MS. */
  sampleMs?: number;
}

export interface Timing {
  /** Median milliseconds per call. */
  ms: number;
  /** Timed samples taken. */
  reps: number;
  /** Calls per sample (calls shorter than SAMPLE_MS are batched). */
  inner: number;
  warmCalls: number;
}

// A sample shorter than this is dominated by timer resolution and call overhead, so short calls
// are batched; 0.5 ms keeps the batch small enough for many samples within a budget. Browsers
// coarsen performance.now() (Chromium: 5–100 µs), so the batch is sized by doubling until a batch
// takes that long, not from one timed call. Only global `performance`: runs in every runtime.
const SAMPLE_MS = 0.5;

/** Runs `fn` through warm-up, then returns the median time per call over the timed samples. */
export function measure(fn: () => void, b: Budget): Timing {
  let warm = 0;
  const w0 = performance.now();
  for (;;) {
    fn();
    warm++;
    const el = performance.now() - w0;
    if ((warm >= b.warmCalls && el >= b.warmMs) || el >= b.warmCapMs) break;
  }
  const inner = batchSize(fn, b.sampleMs ?? SAMPLE_MS);

  const samples: number[] = [];
  const t0 = performance.now();
  while (samples.length < b.maxReps) {
    const s0 = performance.now();
    for (let i = 0; i < inner; i++) fn();
    samples.push((performance.now() - s0) / inner);
    if (samples.length >= b.minReps && performance.now() - t0 >= b.timeMs) break;
  }
  return { ms: median(samples), reps: samples.length, inner, warmCalls: warm };
}

/**
 * `measure` for two steps compared with each other: each is warmed up as `measure` does, then their
 * samples alternate (a, b, a, b, …) for twice the time budget, so a change in the machine's load
 * falls on both alike and their ratio holds where two timings one after the other would drift apart.
 */
export function measurePair(fa: () => void, fb: () => void, b: Budget): [Timing, Timing] {
  const warm = (fn: () => void) => {
    let n = 0;
    const w0 = performance.now();
    for (;;) {
      fn();
      n++;
      const el = performance.now() - w0;
      if ((n >= b.warmCalls && el >= b.warmMs) || el >= b.warmCapMs) return n;
    }
  };
  const warmA = warm(fa),
    warmB = warm(fb);
  const sampleMs = b.sampleMs ?? SAMPLE_MS;
  const innerA = batchSize(fa, sampleMs),
    innerB = batchSize(fb, sampleMs);
  const sa: number[] = [],
    sb: number[] = [];
  const sample = (fn: () => void, inner: number, out: number[]) => {
    const s0 = performance.now();
    for (let i = 0; i < inner; i++) fn();
    out.push((performance.now() - s0) / inner);
  };
  const t0 = performance.now();
  while (sa.length < b.maxReps) {
    sample(fa, innerA, sa);
    sample(fb, innerB, sb);
    if (sa.length >= b.minReps && performance.now() - t0 >= 2 * b.timeMs) break;
  }
  return [
    { ms: median(sa), reps: sa.length, inner: innerA, warmCalls: warmA },
    { ms: median(sb), reps: sb.length, inner: innerB, warmCalls: warmB },
  ];
}

/** A clock in ms that counts this process's CPU time only (Node: process.cpuUsage), passed in by the caller. */
export type CpuClock = () => number;

/** Alternating batches in `measureCpu`, and the CPU time one batch lasts at least. */
const CPU_SAMPLES = 21,
  CPU_BATCH_MS = 4;

/**
 * `measurePair` by CPU time: batches of each step alternate (a, b, a, b, …) and each batch is timed
 * by `cpu`, so time the process spends waiting for a core does not count. The machine's load still
 * slows both steps (caches and memory bandwidth are shared), but no longer by who runs when: under
 * load the wall clock moves a small call's median by up to 2× between runs. Medians per call, in ms.
 * Process CPU time is coarse (Linux: ~1 ms or finer): batches last CPU_BATCH_MS at least.
 */
export function measureCpuPair(fa: () => void, fb: () => void, cpu: CpuClock): [number, number] {
  const batch = (fn: () => void) => {
    let inner = 1;
    for (;;) {
      const t0 = cpu();
      for (let i = 0; i < inner; i++) fn();
      if (cpu() - t0 >= CPU_BATCH_MS || inner >= 1 << 20) return inner;
      inner *= 2;
    }
  };
  const innerA = batch(fa),
    innerB = batch(fb);
  const sa: number[] = [],
    sb: number[] = [];
  const sample = (fn: () => void, inner: number, out: number[]) => {
    const t0 = cpu();
    for (let i = 0; i < inner; i++) fn();
    out.push((cpu() - t0) / inner);
  };
  for (let r = 0; r < CPU_SAMPLES; r++) {
    sample(fa, innerA, sa);
    sample(fb, innerB, sb);
  }
  return [median(sa), median(sb)];
}

/** Calls per sample: doubled until one batch takes at least `sampleMs`. */
function batchSize(fn: () => void, sampleMs: number): number {
  let inner = 1;
  for (;;) {
    const e0 = performance.now();
    for (let i = 0; i < inner; i++) fn();
    if (performance.now() - e0 >= sampleMs || inner >= 1 << 20) return inner;
    inner *= 2;
  }
}

/** `measure` for a step that returns a promise (trainOnBatch); same warm-up and sampling rules. */
export async function measureAsync(fn: () => Promise<unknown>, b: Budget): Promise<Timing> {
  let warm = 0;
  const w0 = performance.now();
  for (;;) {
    await fn();
    warm++;
    const el = performance.now() - w0;
    if ((warm >= b.warmCalls && el >= b.warmMs) || el >= b.warmCapMs) break;
  }
  const samples: number[] = [];
  const t0 = performance.now();
  while (samples.length < b.maxReps) {
    const s0 = performance.now();
    await fn();
    samples.push(performance.now() - s0);
    if (samples.length >= b.minReps && performance.now() - t0 >= b.timeMs) break;
  }
  return { ms: median(samples), reps: samples.length, inner: 1, warmCalls: warm };
}

export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

/** Budgets per class of backend; `quick` cuts all of them for a smoke run. */
export function budgets(quick: boolean): { fast: Budget; slow: Budget; roof: Budget } {
  if (quick) {
    const q: Budget = { warmCalls: 20, warmMs: 20, warmCapMs: 100, minReps: 3, timeMs: 30, maxReps: 200 };
    return { fast: q, slow: { ...q, minReps: 2 }, roof: q };
  }
  return {
    // the SIMD build: the figures that are judged, so the longest warm-up and many samples
    fast: { warmCalls: 200, warmMs: 300, warmCapMs: 1500, minReps: 20, timeMs: 500, maxReps: 5000 },
    // scalar WASM, pure JS and TF.js: tens to hundreds of ms per call on big shapes
    slow: { warmCalls: 200, warmMs: 200, warmCapMs: 600, minReps: 5, timeMs: 1000, maxReps: 5000 },
    roof: { warmCalls: 200, warmMs: 300, warmCapMs: 1500, minReps: 20, timeMs: 500, maxReps: 5000 },
  };
}
