// @ts-check
// Runs the workload under Node, Deno or Bun against the package as the runtime resolves it
// (`exports` with its own conditions) and prints one JSON line.
import * as lib from 'batchnorm-wasm';
import { workloadAll } from './workload.mjs';

const runtime =
  typeof Deno === 'object'
    ? `deno ${Deno.version.deno} (V8 ${Deno.version.v8})`
    : typeof Bun === 'object'
      ? `bun ${Bun.version} (JavaScriptCore)`
      : `node ${process.version} (V8 ${process.versions.v8})`;
const result = await workloadAll(lib);
console.log(JSON.stringify({ runtime, resolved: import.meta.resolve('batchnorm-wasm'), ...result }));
