// The `workerd` and `worker` entry: edge runtimes such as Cloudflare workerd forbid compiling WASM
// from bytes at run time, so both builds are imported statically; the platform's bundler
// (wrangler: the CompiledWasm rule for *.wasm) compiles them at deploy time into WebAssembly.Modules.
// The imports stay relative, beside build/workerd.js (scripts/build.mjs marks *.wasm external).
import simd from './batchnorm-simd.wasm';
import scalar from './batchnorm.wasm';
import { setModuleLocator } from '../runtime/index';

export * from '../index';

setModuleLocator((name) => (name === 'wasm-simd' ? simd : scalar));
