// The thread pool of the shared-memory build: workers that each instantiate the same module over the
// same shared memory, and a fork-join that shares one kernel call between them and the calling
// thread. A call is split into parts (a part kernel of assembly/parts.ts); every thread claims parts
// from one atomic word until none is left, so a part runs exactly once, on whichever thread claims
// it; the caller returns when every part is done. Workers never allocate: the caller hands out their
// workspaces. Platform code (node:worker_threads, Web Workers) is reached without an import, so the
// browser entry's graph stays free of Node built-ins.
// see: https://github.com/WebAssembly/threads/blob/main/proposals/threads/Overview.md (shared memory,
//      wait/notify); https://v8.dev/features/atomics

/** A shared WebAssembly.Memory, as far as the pool and the runtime use it (its type is not in the ES library). */
export interface SharedMemory {
  readonly buffer: ArrayBufferLike;
}

/** What the pool needs of a worker, in Node (worker_threads) and on the web (Web Workers) alike. */
interface PoolWorker {
  postMessage(message: unknown): void;
  terminate(): unknown;
  /** Node: lets the process exit while the worker runs (called once the worker is ready). */
  unref?(): void;
}

interface NodeWorker extends PoolWorker {
  on(event: 'message' | 'error' | 'exit', fn: (value: unknown) => void): void;
}
interface NodeWorkerThreads {
  Worker: new (source: string, options: { eval: true }) => NodeWorker;
}
interface WebWorker extends PoolWorker {
  addEventListener(event: 'message' | 'error', fn: (event: { data?: unknown; message?: string }) => void): void;
}
interface WebGlobals {
  Worker?: new (url: string, options: { type: 'module'; name: string }) => WebWorker;
  Blob?: new (parts: string[], options: { type: string }) => unknown;
  URL?: { createObjectURL(blob: unknown): string; revokeObjectURL(url: string): void };
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number };
  process?: { getBuiltinModule?(id: string): unknown };
}
const g = globalThis as unknown as WebGlobals;

// The control words, in a SharedArrayBuffer of their own (Int32Array indices).
const GEN = 0; // the job's number; workers wait on it
const CLAIM = 1; // packed: generation (12 bits) | next part (10 bits) | parts (10 bits)
const DONE = 2; // parts finished in this job
const FN = 3; // index of the part kernel in the name list
const NARGS = 4;
const FAILED = 5; // 1 + the first failed part, 0 when none failed
const STOP = 6;
const ARGS_BYTE = 64; // Float64Array of the arguments from here
const MAX_ARGS = 24;
const CTRL_BYTES = ARGS_BYTE + 8 * MAX_ARGS;
/** Most parts of one call (the CLAIM word holds 10 bits of them). */
export const MAX_PARTS = 1023;

/**
 * The loop each worker runs; self-contained (no outer names), because its source text is what the
 * worker evaluates. A worker spins a little before it sleeps, so that back-to-back calls find it awake.
 */
function workerMain(
  data: { module: WebAssembly.Module; memory: SharedMemory; ctrl: SharedArrayBuffer; names: string[] },
  post: (m: unknown) => void,
): void {
  const c = new Int32Array(data.ctrl),
    args = new Float64Array(data.ctrl, 64, 24);
  let fns: ((...a: number[]) => void)[];
  try {
    const abort = () => {
      throw new Error('abort');
    };
    const exports = new WebAssembly.Instance(data.module, { env: { memory: data.memory as WebAssembly.Memory, abort } }).exports as Record<
      string,
      (...a: number[]) => void
    >;
    fns = data.names.map((n) => exports[n]);
  } catch (e) {
    post({ error: String(e) });
    return;
  }
  // read before saying ready: the first job may be posted the moment the caller hears it
  let gen = Atomics.load(c, 0);
  post({ ready: true });
  for (;;) {
    for (let spin = 0; spin < 20000 && Atomics.load(c, 0) === gen; spin++);
    if (Atomics.load(c, 0) === gen) Atomics.wait(c, 0, gen);
    gen = Atomics.load(c, 0);
    if (Atomics.load(c, 6) !== 0) return;
    const mine = gen & 0xfff;
    for (;;) {
      const v = Atomics.load(c, 1),
        next = (v >>> 10) & 0x3ff,
        parts = v & 0x3ff;
      if (v >>> 20 !== mine || next >= parts) break;
      if (Atomics.compareExchange(c, 1, v, v + 1024) !== v) continue;
      // the part is ours: its job cannot end, nor its arguments change, before it is done
      const n = Atomics.load(c, 4);
      try {
        fns[Atomics.load(c, 3)](next, parts, ...args.subarray(0, n));
      } catch {
        Atomics.compareExchange(c, 5, 0, next + 1);
      }
      if (Atomics.add(c, 2, 1) + 1 === parts) Atomics.notify(c, 2);
    }
  }
}

const NODE_PRELUDE = `const { parentPort } = process.getBuiltinModule('node:worker_threads');
parentPort.once('message', (d) => workerMain(d, (m) => parentPort.postMessage(m)));
`;
const WEB_PRELUDE = `self.onmessage = (e) => { self.onmessage = null; workerMain(e.data, (m) => self.postMessage(m)); };
`;

/** How this platform starts a worker from source text, or null where threads cannot run. */
type Spawner = (source: string, name: string, onMessage: (m: unknown) => void, onExit: (why: string) => void) => PoolWorker;

/** Why threads cannot run here, or null when they can. */
export function threadsUnavailable(): string | null {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return 'SharedArrayBuffer is not available';
  if (g.crossOriginIsolated === false) return 'the page is not cross-origin isolated (it needs COOP/COEP headers)';
  if (spawner() === null) return 'this runtime has no workers';
  return null;
}

/** The number of cores the runtime reports (1 when it does not say). */
export function reportedCores(): number {
  const n = g.navigator?.hardwareConcurrency;
  if (typeof n === 'number' && n >= 1) return n;
  const os = g.process?.getBuiltinModule?.('node:os') as { availableParallelism?(): number; cpus(): unknown[] } | undefined;
  return os === undefined ? 1 : (os.availableParallelism?.() ?? os.cpus().length);
}

function spawner(): Spawner | null {
  // Node (and Bun, which has worker_threads too): a function call, not an import (see readFileModule)
  const wt = g.process?.getBuiltinModule?.('node:worker_threads') as NodeWorkerThreads | undefined;
  if (wt !== undefined) {
    return (source, _name, onMessage, onExit) => {
      const w = new wt.Worker(NODE_PRELUDE + source, { eval: true });
      w.on('message', onMessage);
      w.on('error', (e) => onExit(`worker error: ${(e as Error).message}`));
      w.on('exit', (code) => onExit(`worker exited with code ${String(code)}`));
      return w;
    };
  }
  if (typeof g.Worker === 'function' && typeof g.Blob === 'function' && g.URL !== undefined) {
    const Web = g.Worker,
      B = g.Blob,
      U = g.URL;
    return (source, name, onMessage, onExit) => {
      const url = U.createObjectURL(new B([WEB_PRELUDE + source], { type: 'text/javascript' }));
      const w = new Web(url, { type: 'module', name });
      U.revokeObjectURL(url);
      w.addEventListener('message', (e) => onMessage(e.data));
      w.addEventListener('error', (e) => onExit(`worker error: ${e.message ?? 'unknown'}`));
      return w;
    };
  }
  return null;
}

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

/** Workers over one module and shared memory, and the fork-join that runs part kernels on them. */
export class Pool {
  /** Threads that run a call: the workers and the calling thread. */
  readonly size: number;
  #workers: PoolWorker[] = [];
  #ctrl: Int32Array;
  #args: Float64Array;
  #names: string[];
  #local: PartFn[];
  #gen = 0;
  #wait: boolean;
  /** Why the pool stopped (a worker died, or terminate()), or null while it runs. */
  broken: string | null = null;

  private constructor(size: number, names: string[], local: PartFn[]) {
    this.size = size;
    const sab = new SharedArrayBuffer(CTRL_BYTES);
    this.#ctrl = new Int32Array(sab);
    this.#args = new Float64Array(sab, ARGS_BYTE, MAX_ARGS);
    this.#names = names;
    this.#local = local;
    this.#wait = canWait(this.#ctrl);
  }

  /**
   * Starts size − 1 workers, each instantiating `module` over `memory`, and resolves when all are
   * ready; rejects (with the workers stopped) when one fails to start.
   */
  static async start(
    size: number,
    module: WebAssembly.Module,
    memory: SharedMemory,
    exports: Record<string, unknown>,
    names: string[],
  ): Promise<Pool> {
    const spawn = spawner();
    if (spawn === null) throw new Error('init: options.threads: this runtime has no workers');
    const pool = new Pool(
      size,
      names,
      names.map((n) => exports[n] as PartFn),
    );
    const source = String(workerMain);
    const ready: Promise<void>[] = [];
    for (let i = 1; i < size; i++) {
      ready.push(
        new Promise<void>((resolve, reject) => {
          const w = spawn(
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
            (why) => {
              reject(new Error(`init: options.threads: a worker could not start: ${why}`));
              pool.#lost(why);
            },
          );
          pool.#workers.push(w);
          w.postMessage({ module, memory, ctrl: pool.#ctrl.buffer, names });
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

  #lost(why: string): void {
    if (this.broken !== null) return;
    this.broken = why;
    this.terminate(why);
  }

  /** Stops every worker; later calls run on the calling thread alone. */
  terminate(why = 'terminated'): void {
    if (this.broken === null) this.broken = why;
    Atomics.store(this.#ctrl, STOP, 1);
    Atomics.add(this.#ctrl, GEN, 1);
    Atomics.notify(this.#ctrl, GEN);
    const ws = this.#workers;
    this.#workers = [];
    for (const w of ws) void w.terminate();
  }

  /** Worker `i` (0-based), for tests that stop one to see the pool survive it. */
  worker(i: number): PoolWorker | undefined {
    return this.#workers[i];
  }

  /**
   * Runs part kernel `fn` (an index into the pool's names) as `parts` parts over `args`, on every
   * thread, and returns when all are done. Throws if a part trapped (after all parts have ended).
   * `callerParts` caps the parts the calling thread takes (to time the workers' round trip).
   */
  run(fn: number, parts: number, args: readonly number[], callerParts = Infinity): void {
    const c = this.#ctrl;
    if (parts <= 1 || this.broken !== null) {
      for (let p = 0; p < parts; p++) this.#local[fn](p, parts, ...args);
      return;
    }
    if (parts > MAX_PARTS || args.length > MAX_ARGS)
      throw new RangeError(`Pool.run: ${parts} parts of ${args.length} arguments is too many`);
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
    const local = this.#local[fn];
    let error: unknown = null;
    for (let mine = 0; mine < callerParts; ) {
      const v = Atomics.load(c, CLAIM),
        next = (v >>> 10) & 0x3ff;
      if (next >= parts) break;
      if (Atomics.compareExchange(c, CLAIM, v, v + 1024) !== v) continue;
      mine++;
      try {
        local(next, parts, ...args);
      } catch (e) {
        error ??= e;
      }
      Atomics.add(c, DONE, 1);
    }
    this.#join(parts);
    if (error !== null) throw error;
    const failed = Atomics.load(c, FAILED);
    if (failed !== 0) throw new Error(`${this.#names[fn]}: part ${failed - 1} of ${parts} failed on a worker thread`);
  }

  /** Waits until `parts` parts are done: asleep where the thread may block, spinning on a page's main thread. */
  #join(parts: number): void {
    const c = this.#ctrl;
    let last = -1,
      since = Date.now();
    for (;;) {
      const done = Atomics.load(c, DONE);
      if (done >= parts) return;
      if (done !== last) {
        last = done;
        since = Date.now();
      } else if (Date.now() - since > STALL_MS) {
        this.#lost(`a worker stopped responding (no part finished in ${STALL_MS / 1000} s)`);
        throw new Error(`threads: a worker stopped responding during ${this.#names[Atomics.load(c, FN)]}; the pool is stopped`);
      }
      if (this.#wait) Atomics.wait(c, DONE, done, 100);
    }
  }
}

/** No part finishing for this long means a worker died while running one. */
const STALL_MS = 60_000;
