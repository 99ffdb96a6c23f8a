// @ts-check
// A workerd Worker that runs the workload on each request and answers with its JSON. The config
// (written by test/runtimes.test.ts) names the package's `workerd` entry 'batchnorm-wasm' and embeds
// both .wasm files as `wasm` modules, which workerd compiles before the Worker starts. The opt-in
// relaxed build, which the entry does not bundle, is imported here and handed to init().
import * as lib from 'batchnorm-wasm';
import relaxed from 'batchnorm-relaxed.wasm';
import { workloadAll } from './workload.mjs';

export default {
  async fetch() {
    try {
      return Response.json({ runtime: navigator.userAgent, resolved: 'batchnorm-wasm', ...(await workloadAll(lib, relaxed)) });
    } catch (e) {
      return new Response(String(/** @type {Error} */ (e)?.stack ?? e), { status: 500 });
    }
  },
};
