// The `workerd` and `worker` entry: edge runtimes such as Cloudflare workerd forbid compiling WASM
// from bytes at run time, so the SIMD and scalar builds are imported statically; the platform's
// bundler (wrangler: the CompiledWasm rule for *.wasm) compiles them at deploy time into
// WebAssembly.Modules. The imports stay relative, beside build/workerd.js (scripts/build.mjs marks
// *.wasm external). The opt-in relaxed build is not imported here (every worker would carry it):
// a worker that wants it imports 'batchnorm-wasm/batchnorm-relaxed.wasm' and passes it to init().
import simd from './batchnorm-simd.wasm';
import scalar from './batchnorm.wasm';
import { setModuleLocator } from '../runtime/index';

export * from '../index';

setModuleLocator((name) => {
  // workerd has no workers: init({ threads }) runs one thread there and never asks for the shared-memory build
  if (name === 'wasm-relaxed' || name === 'wasm-simd-threads') {
    throw new Error(
      `init: the workerd entry bundles no '${name}' module; import 'batchnorm-wasm/batchnorm-relaxed.wasm' and pass it as options.module`,
    );
  }
  return name === 'wasm-simd' ? simd : scalar;
});
