// workerd for the runtime tests: a config.capnp of one Worker serving on a free port, and a run that
// starts workerd, waits for it to answer GET / and stops it.
// see: https://github.com/cloudflare/workerd/blob/main/src/workerd/server/workerd.capnp
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A module of the Worker: an ES module or a compiled WebAssembly module, embedded from `path` (relative to the config). */
export type WorkerdModule = { name: string; esModule: string } | { name: string; wasm: string };

/** Writes `dir/config.capnp`: one Worker of `modules` (the first is its main module) on 127.0.0.1, port 0. */
export function writeWorkerdConfig(dir: string, modules: readonly WorkerdModule[]): void {
  const lines = modules.map((m) =>
    'esModule' in m ? `(name = "${m.name}", esModule = embed "${m.esModule}")` : `(name = "${m.name}", wasm = embed "${m.wasm}")`,
  );
  writeFileSync(
    join(dir, 'config.capnp'),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [
    ${lines.join(',\n    ')},
  ],
  compatibilityDate = "2026-11-01",
);
`,
  );
}

/**
 * Runs `cmd serve config.capnp` in `cwd` (port 0: workerd binds a free one and reports it on fd 3),
 * polls GET / until it answers within `timeout` ms, kills workerd and returns the body. `children`,
 * when given, holds the process while it runs (for an afterAll that kills what is left).
 */
export async function runWorkerd(cmd: string, cwd: string, timeout: number, children?: Set<ChildProcess>): Promise<string> {
  const child = spawn(cmd, ['serve', 'config.capnp', '--control-fd=3'], { cwd, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
  children?.add(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`workerd reported no listening socket within ${timeout} ms: ${stderr}`)), timeout);
      let buf = '';
      child.stdio[3]!.on('data', (d) => {
        buf += d;
        for (const line of buf.split('\n').slice(0, -1)) {
          const msg = JSON.parse(line) as { event?: string; port?: number };
          if (msg.event === 'listen' && typeof msg.port === 'number') {
            clearTimeout(timer);
            resolve(msg.port);
          }
        }
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`workerd exited (${code ?? signal}) before listening: ${stderr}`));
      });
    });
    const deadline = Date.now() + timeout;
    for (;;) {
      let res: Response;
      try {
        res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
      } catch (e) {
        if (Date.now() >= deadline) throw new Error(`workerd on port ${port} did not answer within ${timeout} ms: ${String(e)}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const body = await res.text();
      if (!res.ok) throw new Error(`workerd answered HTTP ${res.status}: ${body}\n${stderr}`);
      return body;
    }
  } finally {
    child.kill('SIGKILL');
    children?.delete(child);
  }
}
