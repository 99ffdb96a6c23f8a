// The `node` entry: reads each .wasm beside this file with node:fs (Node cannot fetch file: URLs),
// and registers the Node-only parts: a file: URL reader for init({ module }) and fit()'s terminal
// progress bar. Nothing here enters the browser entry's graph.
import { readFile } from 'node:fs/promises';
import { setFileReader, setModuleLocator } from '../runtime/index';
import { setProgressDisplay } from '../train/fit';
import { terminalProgress } from '../train/progress_node';

export * from '../index';

setFileReader((url) => readFile(url));
setProgressDisplay(terminalProgress);
setModuleLocator(async (name) => {
  const url =
    name === 'wasm-simd'
      ? new URL('./batchnorm-simd.wasm', import.meta.url)
      : name === 'wasm-relaxed'
        ? new URL('./batchnorm-relaxed.wasm', import.meta.url)
        : name === 'wasm-simd-threads'
          ? new URL('./batchnorm-simd-threads.wasm', import.meta.url)
          : new URL('./batchnorm.wasm', import.meta.url);
  try {
    return await readFile(url);
  } catch (e) {
    throw new Error(`init: could not read ${url.href}: ${(e as Error).message}`);
  }
});
