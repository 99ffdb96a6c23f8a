// The `browser`, `deno` and `default` entry: finds each .wasm beside this file through a
// `new URL('…', import.meta.url)` literal, which Vite and webpack recognise and emit as an asset.
// The runtime fetches them (Deno and Bun fetch file: URLs too; Node, under a test runner that resolves
// the browser condition, reads them through process.getBuiltinModule). Nothing in this entry's graph
// imports a Node built-in or package, so bundlers for the browser have nothing to warn about.
import { setModuleLocator } from '../runtime/index';

export * from '../index';

setModuleLocator((name) =>
  name === 'wasm-simd'
    ? new URL('./batchnorm-simd.wasm', import.meta.url)
    : name === 'wasm-relaxed'
      ? new URL('./batchnorm-relaxed.wasm', import.meta.url)
      : name === 'wasm-simd-threads'
        ? new URL('./batchnorm-simd-threads.wasm', import.meta.url)
        : new URL('./batchnorm.wasm', import.meta.url),
);
