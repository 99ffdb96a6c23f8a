// Where the pool's threads come from: the loop each worker runs, the watchdog that sees a worker die,
// and how each platform starts them (node:worker_threads in Node, Deno and Bun; Web Workers on the web),
// reached without an import, so the browser entry's graph stays free of Node built-ins. The loops use
// the control words of pool.ts by their indices (their source text is all a worker gets).

/** A shared WebAssembly.Memory, as far as the pool and the runtime use it (its type is not in the ES library). */
export interface SharedMemory {
  readonly buffer: ArrayBufferLike;
}

/** What the pool needs of a worker, in Node (worker_threads) and on the web (Web Workers) alike. */
export interface PoolWorker {
  postMessage(message: unknown): void;
  terminate(): unknown;
  /** Node: lets the process exit while the worker runs (called once the worker is ready). */
  unref?(): void;
}

interface NodeWorker extends PoolWorker {
  on(event: 'message' | 'error' | 'exit', fn: (value: unknown) => void): void;
}
/** One end of a node:worker_threads MessageChannel, as the watchdog uses it. */
export interface NodePort {
  /** Listens for a message or for the other end closing. */
  on(event: 'message' | 'close', fn: () => void): void;
  /** Lets the thread end while the port is open. */
  unref(): void;
}
interface NodeWorkerThreads {
  Worker: new (source: string, options: { eval: true }) => NodeWorker;
  MessageChannel: new () => { port1: NodePort; port2: NodePort };
}
interface WebWorker extends PoolWorker {
  addEventListener(event: 'message' | 'error', fn: (event: { data?: unknown; message?: string }) => void): void;
}
interface WebGlobals {
  Worker?: new (url: string, options: { type: 'module'; name: string }) => WebWorker;
  Blob?: new (parts: string[], options: { type: string }) => unknown;
  URL?: { createObjectURL(blob: unknown): string; revokeObjectURL(url: string): void };
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number; userAgent?: string };
  process?: { getBuiltinModule?(id: string): unknown };
}
const g = globalThis as unknown as WebGlobals;

/**
 * The loop each worker runs; self-contained (no outer names), because its source text is what the
 * worker evaluates. A worker spins a little before it sleeps, so that back-to-back calls find it awake.
 */
export function workerMain(
  data: { module: WebAssembly.Module; memory: SharedMemory; ctrl: SharedArrayBuffer; names: string[]; index: number },
  post: (m: unknown) => void,
  exit: () => void,
): void {
  const c = new Int32Array(data.ctrl),
    args = new Float64Array(data.ctrl, 64, 24),
    hold = 64 + data.index;
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
      // say which part before claiming it: a caller that sees this worker die knows what it held
      Atomics.store(c, hold, next + 1);
      if (Atomics.compareExchange(c, 1, v, v + 1024) !== v) {
        Atomics.store(c, hold, 0);
        continue;
      }
      // the part is ours: its job cannot end, nor its arguments change, before it is done
      if (Atomics.load(c, 8) !== 0 && Atomics.compareExchange(c, 8, 1, 0) === 1) {
        exit();
        return;
      }
      const n = Atomics.load(c, 4);
      try {
        fns[Atomics.load(c, 3)](next, parts, ...args.subarray(0, n));
      } catch (e) {
        if (Atomics.compareExchange(c, 5, 0, next + 1) === 0) {
          const text = String(e).slice(0, 191);
          for (let i = 0; i < text.length; i++) c[192 + i] = text.charCodeAt(i);
          c[192 + text.length] = 0;
        }
      }
      Atomics.store(c, hold, 0);
      if (Atomics.add(c, 2, 1) + 1 === parts || Atomics.load(c, 7) !== 0) Atomics.notify(c, 2);
    }
  }
}

/**
 * The watchdog (Node, Deno, Bun): a thread that does nothing but hold one end of a channel per worker.
 * A worker that dies closes its end; the watchdog, whose event loop is free while the caller blocks
 * in a join, marks it and wakes the caller, which then ends the call with an error instead of waiting.
 */
function watchdogMain(data: { ctrl: SharedArrayBuffer; ports: NodePort[] }): void {
  const c = new Int32Array(data.ctrl);
  data.ports.forEach((port, i) => {
    port.on('message', () => {}); // a port sends 'close' only once it is started
    port.on('close', () => {
      Atomics.store(c, 128 + i, 1);
      Atomics.add(c, 7, 1);
      Atomics.notify(c, 2);
    });
  });
}

// the worker keeps its end of the watchdog's channel referenced (unref'ed: it keeps nothing alive)
const NODE_PRELUDE = `const { parentPort } = process.getBuiltinModule('node:worker_threads');
parentPort.once('message', (d) => { globalThis.batchnormWasmAlive = d.alive; d.alive.unref(); workerMain(d, (m) => parentPort.postMessage(m), () => process.exit(70)); });
`;
const WEB_PRELUDE = `self.onmessage = (e) => { self.onmessage = null; workerMain(e.data, (m) => self.postMessage(m), () => self.close()); };
`;
const WATCHDOG_PRELUDE = `const { parentPort } = process.getBuiltinModule('node:worker_threads');
parentPort.once('message', (d) => { watchdogMain(d); parentPort.postMessage({ ready: true }); });
`;

/**
 * How this platform starts a worker from source text (`onExit` with `gone` once the thread has
 * ended), and, where it can, a watchdog over `count` workers: one transferable per worker to hand it.
 */
export interface Spawner {
  /** Starts a worker that evaluates `source` after the platform's prelude. */
  spawn(source: string, name: string, onMessage: (m: unknown) => void, onExit: (why: string, gone: boolean) => void): PoolWorker;
  /** Starts the watchdog over the control words `ctrl`; resolves when it listens. */
  watchdog?(
    ctrl: SharedArrayBuffer,
    count: number,
    onExit: (why: string, gone: boolean) => void,
  ): Promise<{ worker: PoolWorker; ends: unknown[] }>;
}

/** Why threads cannot run here, or null when they can. */
export function threadsUnavailable(): string | null {
  // first: a page that is not isolated has no SharedArrayBuffer either, and this says what to change
  if (g.crossOriginIsolated === false) return 'the page is not cross-origin isolated (it needs COOP/COEP headers)';
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return 'SharedArrayBuffer is not available';
  if (spawner() === null) return 'this runtime has no workers';
  // workerd has node:worker_threads, but its Worker throws ERR_METHOD_NOT_IMPLEMENTED; it names itself so
  // see: https://developers.cloudflare.com/workers/runtime-apis/web-standards/#navigatoruseragent
  if (g.navigator?.userAgent === 'Cloudflare-Workers') return 'this runtime has no workers (workerd cannot start a Worker)';
  return null;
}

/** The number of cores the runtime reports (1 when it does not say). */
export function reportedCores(): number {
  const n = g.navigator?.hardwareConcurrency;
  if (typeof n === 'number' && n >= 1) return n;
  const os = g.process?.getBuiltinModule?.('node:os') as { availableParallelism?(): number; cpus(): unknown[] } | undefined;
  return os === undefined ? 1 : (os.availableParallelism?.() ?? os.cpus().length);
}

/** How this platform starts the pool's threads, or null where it cannot. */
export function spawner(): Spawner | null {
  // Node (and Bun, which has worker_threads too): a function call, not an import (see readFileModule)
  const wt = g.process?.getBuiltinModule?.('node:worker_threads') as NodeWorkerThreads | undefined;
  if (wt !== undefined) {
    const spawn: Spawner['spawn'] = (source, _name, onMessage, onExit) => {
      const w = new wt.Worker(source, { eval: true });
      w.on('message', onMessage);
      w.on('error', (e) => onExit(`worker error: ${(e as Error).message}`, false));
      w.on('exit', (code) => onExit(`worker exited with code ${String(code)}`, true));
      return w;
    };
    return {
      spawn: (source, name, onMessage, onExit) => spawn(NODE_PRELUDE + source, name, onMessage, onExit),
      watchdog: (ctrl, count, onExit) =>
        new Promise((resolve, reject) => {
          const channels = Array.from({ length: count }, () => new wt.MessageChannel());
          const ports = channels.map((ch) => ch.port1);
          const w = spawn(
            WATCHDOG_PRELUDE + String(watchdogMain),
            'batchnorm-wasm watchdog',
            () => {
              w.unref?.();
              resolve({ worker: w, ends: channels.map((ch) => ch.port2) });
            },
            (why, gone) => {
              reject(new Error(`init: options.threads: the watchdog thread could not start: ${why}`));
              onExit(why, gone);
            },
          );
          (w as unknown as { postMessage(m: unknown, transfer: unknown[]): void }).postMessage({ ctrl, ports }, ports);
        }),
    };
  }
  if (typeof g.Worker === 'function' && typeof g.Blob === 'function' && g.URL !== undefined) {
    const Web = g.Worker,
      B = g.Blob,
      U = g.URL;
    return {
      spawn: (source, name, onMessage, onExit) => {
        const url = U.createObjectURL(new B([WEB_PRELUDE + source], { type: 'text/javascript' }));
        const w = new Web(url, { type: 'module', name });
        U.revokeObjectURL(url);
        w.addEventListener('message', (e) => onMessage(e.data));
        w.addEventListener('error', (e) => onExit(`worker error: ${e.message ?? 'unknown'}`, false));
        return w;
      },
    };
  }
  return null;
}
