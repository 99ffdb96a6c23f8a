// Runs the README's Quick start as printed, in this process and on a chosen backend: the block is
// read from README.md (Vite's ?raw import, so it works in Node and in the browser suite), its
// `import { … } from 'batchnorm-wasm'` line becomes the same names bound to a fresh instance of the
// package's source (a program of its own: no autograd step state from earlier tests), `init()` is
// pinned to the backend, and each console.log is recorded with memoryBytes() at that moment.
// Nothing else in the code is changed, except the loop's step count when a test asks.
import { vi } from 'vitest';
import readme from '../README.md?raw';
import type { BackendName, InitOptions } from '../src/index';

/** The code of the first ```js block under "## Quick start". */
export function quickStart(): string {
  const section = readme.split(/^## Quick start$/m)[1];
  if (section === undefined) throw new Error('README.md has no "## Quick start" section');
  const block = /```js\n([\s\S]*?)```/.exec(section);
  if (block === null) throw new Error('README.md: no ```js block under "## Quick start"');
  return block[1];
}

/**
 * True where every run gets a fresh package (Node: vi.resetModules). The browser suite loads each
 * test file in a fresh page but shares modules within it, so there only a file's first run is a
 * program of its own; a later one would find step ownership already on (tensors it makes before its
 * first backward() would belong to a step) and runSnippet refuses it.
 */
export const freshEachRun = typeof window === 'undefined';
let runs = 0;

/** One console.log call of the snippet: its arguments and memoryBytes() when it was made. */
export interface Printed {
  args: unknown[];
  memory: number;
}

const IMPORT = /^import \{([^}]*)\} from 'batchnorm-wasm';\n/;
const LOOP = /for \(let step = 1; step <= (\d+); step\+\+\)/g;

/** The step count of the snippet's training loop (it must have exactly one such loop). */
export function loopSteps(code: string): number {
  const loops = [...code.matchAll(LOOP)];
  if (loops.length !== 1)
    throw new Error(`README Quick start: expected one 'for (let step = 1; step <= N; step++)' loop, found ${loops.length}`);
  return Number(loops[0][1]);
}

/** Runs `code` on `backend` (with its loop's step count replaced by `steps`, if given); returns what it printed. */
export async function runSnippet(code: string, backend: BackendName, steps?: number): Promise<Printed[]> {
  const imp = IMPORT.exec(code);
  if (imp === null) throw new Error("README Quick start: expected it to open with `import { … } from 'batchnorm-wasm';`");
  let body = code.slice(imp[0].length);
  if (steps !== undefined) {
    loopSteps(body);
    body = body.replace(LOOP, `for (let step = 1; step <= ${steps}; step++)`);
  }
  const names = imp[1].split(',').map((s) => s.trim());
  if (!freshEachRun && runs > 0) throw new Error('runSnippet: a second README run in one browser page would share the package instance');
  runs++;
  vi.resetModules();
  const lib = await import('../src/index');
  const exports = lib as unknown as Record<string, unknown>;
  const values = names.map((n) => {
    if (n === 'init') return (options?: InitOptions) => lib.init({ ...options, backend });
    if (!(n in exports)) throw new Error(`README Quick start imports '${n}', which the package does not export`);
    return exports[n];
  });
  const printed: Printed[] = [];
  const console = { log: (...args: unknown[]) => printed.push({ args, memory: lib.memoryBytes() }) };
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<void>;
  await new AsyncFunction(...names, 'console', body)(...values, console);
  return printed;
}
