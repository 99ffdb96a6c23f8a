// The thread pool of the shared-memory build: workers that each instantiate the same module over the
// same shared memory, and a fork-join that shares one kernel call between them and the calling
// thread. A call is split into parts (a part kernel of assembly/parts.ts); every thread claims parts
// from one atomic word until none is left, so a part runs exactly once, on whichever thread claims
// it; the caller returns when every part is done. Workers never allocate: the caller hands out their
// workspaces. The workers' loop and how each platform starts them: pool_platform.ts. A worker that
// dies during a call ends that call with an error, promptly where a watchdog thread sees it (Node,
// Deno, Bun); the pool then stops and later calls run on the calling thread.
// see: https://github.com/WebAssembly/threads/blob/main/proposals/threads/Overview.md (shared memory,
//      wait/notify); https://v8.dev/features/atomics

import { spawner, workerMain, type PoolWorker, type SharedMemory } from './pool_platform';
export { threadsUnavailable, reportedCores, type SharedMemory } from './pool_platform';

// The control words, in a SharedArrayBuffer of their own (Int32Array indices).
const GEN = 0; // the job's number; workers wait on it
const CLAIM = 1; // packed: generation (12 bits) | next part (10 bits) | parts (10 bits)
const DONE = 2; // parts finished in this job
const FN = 3; // index of the part kernel in the name list
const NARGS = 4;
const FAILED = 5; // 1 + the first failed part, 0 when none failed
const STOP = 6;
const DEAD = 7; // workers the watchdog saw die; each also sets its word at GONE + its index
const EXIT_HOOK = 8; // tests: 1 makes the next worker that claims a part exit while it holds it
const ARGS_BYTE = 64; // Float64Array of the arguments from here
const MAX_ARGS = 24;
const HOLD = 64; // per worker: 1 + the part it runs (or is about to claim), 0 when it runs none
const GONE = 128; // per worker: 1 once the watchdog saw it die
const ERR = 192; // the message of the first part that failed on a worker, as char codes
const ERR_CHARS = 192;
const CTRL_BYTES = 4 * (ERR + ERR_CHARS);
/** Most workers of a pool (the HOLD and GONE words hold one each). */
const MAX_WORKERS = 63;
/** Most parts of one call (the CLAIM word holds 10 bits of them). */
export const MAX_PARTS = 1023;

/** Whether this thread may block in Atomics.wait (not a page's main thread). */
function canWait(ctrl: Int32Array): boolean {
  try {
    Atomics.wait(ctrl, STOP, 1, 0); // STOP is 0: returns 'not-equal' at once where waiting is allowed
    return true;
  } catch {
    return false;
  }
}

/** A part kernel as the calling thread runs it. */
type PartFn = (part: number, parts: number, ...args: number[]) => void;

/** No part finishing for this long means a worker stopped (where no watchdog sees workers die: the web); far beyond any part's time. */
const STALL_MS = 60_000;

/** Workers over one module and shared memory, and the fork-join that runs part kernels on them. */
export class Pool {
  /** Threads that run a call: the workers and the calling thread. */
  readonly size: number;
  #workers: PoolWorker[] = [];
  #watchdog: PoolWorker | null = null;
  #ctrl: Int32Array;
  #args: Float64Array;
  #names: string[];
  #local: PartFn[];
  #gen = 0;
  #wait: boolean;
  #broken: string | null = null;
  /**
   * Milliseconds without a part finishing after which a call gives up (the only sign of a dead worker
   * where no watchdog runs: the web); tests shorten it.
   */
  stallMs = STALL_MS;
  #forks: number[];
  #started = 0;
  #ended = 0;

  private constructor(size: number, names: string[], local: PartFn[]) {
    this.size = size;
    const sab = new SharedArrayBuffer(CTRL_BYTES);
    this.#ctrl = new Int32Array(sab);
    this.#args = new Float64Array(sab, ARGS_BYTE, MAX_ARGS);
    this.#names = names;
    this.#local = local;
    this.#forks = names.map(() => 0);
    this.#wait = canWait(this.#ctrl);
  }

  /**
   * Starts size − 1 workers, each instantiating `module` over `memory` (and, in Node, Deno and Bun,
   * a watchdog that sees any of them die), and resolves when all are ready; rejects (with the
   * workers stopped) when one fails to start.
   */
  static async start(
    size: number,
    module: WebAssembly.Module,
    memory: SharedMemory,
    exports: Record<string, unknown>,
    names: string[],
  ): Promise<Pool> {
    const sp = spawner();
    if (sp === null) throw new Error('init: options.threads: this runtime has no workers');
    if (size - 1 > MAX_WORKERS) throw new RangeError(`init: options.threads: at most ${MAX_WORKERS + 1} threads, got ${size}`);
    const pool = new Pool(
      size,
      names,
      names.map((n) => exports[n] as PartFn),
    );
    const onExit = (why: string, gone: boolean) => {
      if (gone) pool.#ended++;
      pool.#lost(why);
    };
    let ends: unknown[] = [];
    if (sp.watchdog !== undefined) {
      pool.#started++;
      const dog = sp.watchdog(pool.#ctrl.buffer as SharedArrayBuffer, size - 1, onExit);
      try {
        ({ worker: pool.#watchdog, ends } = await dog);
      } catch (e) {
        pool.terminate();
        throw e;
      }
    }
    const source = String(workerMain);
    const ready: Promise<void>[] = [];
    for (let i = 1; i < size; i++) {
      ready.push(
        new Promise<void>((resolve, reject) => {
          pool.#started++;
          const w = sp.spawn(
            source,
            `batchnorm-wasm thread ${i}`,
            (m) => {
              const msg = m as { ready?: boolean; error?: string };
              if (msg.ready === true) {
                // an idle pool does not keep the process alive (after the listeners: adding one refs the worker again)
                w.unref?.();
                resolve();
              } else reject(new Error(`init: options.threads: a worker could not start: ${msg.error ?? 'unknown error'}`));
            },
            (why, gone) => {
              reject(new Error(`init: options.threads: a worker could not start: ${why}`));
              onExit(why, gone);
            },
          );
          pool.#workers.push(w);
          const end = ends[i - 1];
          const data = { module, memory, ctrl: pool.#ctrl.buffer, names, index: i - 1, alive: end };
          (w as unknown as { postMessage(m: unknown, transfer?: unknown[]): void }).postMessage(data, end === undefined ? [] : [end]);
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      pool.terminate();
      throw e;
    }
    return pool;
  }

  /** Why the pool stopped (a worker died, or terminate()), or null while it runs. */
  get broken(): string | null {
    // a worker that died between calls: seen here at once, before its exit event reaches this thread
    if (this.#broken === null && Atomics.load(this.#ctrl, DEAD) !== 0) this.#lost(`worker thread ${this.#gone()[0] + 1} died`);
    return this.#broken;
  }

  #gone(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size - 1; i++) if (Atomics.load(this.#ctrl, GONE + i) !== 0) out.push(i);
    return out;
  }

  #lost(why: string): void {
    if (this.#broken !== null) return;
    this.#broken = why;
    this.terminate(why);
  }

  /** Stops every worker; later calls run on the calling thread alone. */
  terminate(why = 'terminated'): void {
    if (this.#broken === null) this.#broken = why;
    Atomics.store(this.#ctrl, STOP, 1);
    Atomics.add(this.#ctrl, GEN, 1);
    Atomics.notify(this.#ctrl, GEN);
    const ws = this.#workers;
    this.#workers = [];
    for (const w of ws) void w.terminate();
    void this.#watchdog?.terminate();
    this.#watchdog = null;
  }

  /** Worker `i` (0-based), for tests that stop one to see the pool survive it. */
  worker(i: number): PoolWorker | undefined {
    return this.#workers[i];
  }

  /**
   * Threads this pool started (its watchdog included) whose end has not been seen yet; where the
   * platform says when a worker ends (Node, Deno, Bun), 0 some time after terminate(). For tests.
   */
  get threadsAlive(): number {
    return this.#started - this.#ended;
  }

  /** How many calls of each part kernel (by name) ran split between threads. For tests that check the parallel paths ran. */
  forks(): Record<string, number> {
    return Object.fromEntries(this.#names.map((n, i) => [n, this.#forks[i]]));
  }

  /** Tests: the next worker that claims a part exits while it holds it (a worker dying mid-kernel). */
  exitOnNextPart(): void {
    Atomics.store(this.#ctrl, EXIT_HOOK, 1);
  }

  /**
   * Runs part kernel `fn` (an index into the pool's names) as `parts` parts over `args`, on every
   * thread, and returns when all are done. Throws, naming the kernel, if a part failed (after all
   * parts have ended) or if a worker died during the call (the pool is then stopped).
   * `callerParts` caps the parts the calling thread takes (to time the workers' round trip).
   */
  run(fn: number, parts: number, args: readonly number[], callerParts = Infinity): void {
    const c = this.#ctrl;
    if (parts <= 1 || this.broken !== null) {
      for (let p = 0; p < parts; p++) this.#runLocal(fn, p, parts, args);
      return;
    }
    if (parts > MAX_PARTS || args.length > MAX_ARGS)
      throw new RangeError(`Pool.run: ${parts} parts of ${args.length} arguments is too many`);
    this.#forks[fn]++;
    // nothing can claim while the last job's word says every part is taken, so these plain writes are safe
    for (let i = 0; i < args.length; i++) this.#args[i] = args[i];
    const gen = (this.#gen = (this.#gen + 1) | 0);
    Atomics.store(c, FN, fn);
    Atomics.store(c, NARGS, args.length);
    Atomics.store(c, DONE, 0);
    Atomics.store(c, FAILED, 0);
    Atomics.store(c, CLAIM, ((gen & 0xfff) << 20) | parts);
    Atomics.store(c, GEN, gen);
    Atomics.notify(c, GEN);
    let error: unknown = null;
    for (let mine = 0; mine < callerParts; ) {
      const v = Atomics.load(c, CLAIM),
        next = (v >>> 10) & 0x3ff;
      if (next >= parts) break;
      if (Atomics.compareExchange(c, CLAIM, v, v + 1024) !== v) continue;
      mine++;
      try {
        this.#runLocal(fn, next, parts, args);
      } catch (e) {
        error ??= e;
      }
      Atomics.add(c, DONE, 1);
    }
    this.#join(fn, parts);
    if (error !== null) throw error;
    const failed = Atomics.load(c, FAILED);
    if (failed !== 0) {
      let text = '';
      for (let i = ERR; i < ERR + ERR_CHARS && c[i] !== 0; i++) text += String.fromCharCode(c[i]);
      throw new Error(`${this.#names[fn]}: part ${failed - 1} of ${parts} failed on a worker thread: ${text}`);
    }
  }

  /** Runs one part on the calling thread; an error names the part kernel. */
  #runLocal(fn: number, part: number, parts: number, args: readonly number[]): void {
    try {
      this.#local[fn](part, parts, ...args);
    } catch (e) {
      throw new Error(`${this.#names[fn]}: part ${part} of ${parts} failed: ${String(e)}`, { cause: e });
    }
  }

  /**
   * Waits until `parts` parts are done: asleep where the thread may block, spinning on a page's main
   * thread. A worker that dies meanwhile (the watchdog wakes this thread) ends the wait with an error.
   */
  #join(fn: number, parts: number): void {
    const c = this.#ctrl;
    let last = -1,
      since = Date.now();
    for (;;) {
      const done = Atomics.load(c, DONE);
      if (done >= parts) return;
      if (Atomics.load(c, DEAD) !== 0) this.#died(fn, parts);
      if (done !== last) {
        last = done;
        since = Date.now();
      } else if (Date.now() - since > this.stallMs) {
        this.#closeClaims(parts);
        const seconds = this.stallMs / 1000;
        this.#lost(`a worker stopped responding (no part finished in ${seconds} s)`);
        throw new Error(
          `${this.#names[fn]}: a worker thread stopped responding (no part finished in ${seconds} s); the call's output is incomplete, and the pool is stopped (later calls run on one thread)`,
        );
      }
      if (this.#wait) Atomics.wait(c, DONE, done, 100);
    }
  }

  /** Marks every part of the current job as claimed, so that no thread starts one from now on. */
  #closeClaims(parts: number): void {
    const c = this.#ctrl;
    for (;;) {
      const v = Atomics.load(c, CLAIM);
      if (((v >>> 10) & 0x3ff) >= parts || Atomics.compareExchange(c, CLAIM, v, (v & ~(0x3ff << 10)) | (parts << 10)) === v) return;
    }
  }

  /**
   * A worker died during a call: no part is claimed any more, the live workers finish the parts they
   * run (so none writes after this call returns), the pool stops, and the call throws.
   */
  #died(fn: number, parts: number): never {
    const c = this.#ctrl;
    this.#closeClaims(parts);
    const gone = this.#gone();
    let held = -1;
    for (let i = 0; i < this.size - 1; i++) {
      if (gone.includes(i)) {
        held = Math.max(held, Atomics.load(c, HOLD + i) - 1);
        continue;
      }
      while (Atomics.load(c, HOLD + i) !== 0 && Atomics.load(c, GONE + i) === 0)
        if (this.#wait) Atomics.wait(c, DONE, Atomics.load(c, DONE), 1);
    }
    const who = `worker thread ${this.#gone()[0] + 1}`;
    this.#lost(`${who} died during ${this.#names[fn]}`);
    throw new Error(
      `${this.#names[fn]}: ${who} died${held >= 0 ? ` while it ran part ${held} of ${parts}` : ''}; the call's output is incomplete, and the pool is stopped (later calls run on one thread)`,
    );
  }
}
