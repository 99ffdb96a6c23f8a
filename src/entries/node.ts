// The `node` entry: reads each .wasm beside this file with node:fs (Node cannot fetch file: URLs).
import { readFile } from 'node:fs/promises';
import { setModuleLocator } from '../runtime/index';

export * from '../index';

setModuleLocator(async (name) => {
  const url = name === 'wasm-simd' ? new URL('./batchnorm-simd.wasm', import.meta.url)
    : name === 'wasm-relaxed' ? new URL('./batchnorm-relaxed.wasm', import.meta.url)
    : new URL('./batchnorm.wasm', import.meta.url);
  try {
    return await readFile(url);
  } catch (e) {
    throw new Error(`init: could not read ${url.href}: ${(e as Error).message}`);
  }
});
