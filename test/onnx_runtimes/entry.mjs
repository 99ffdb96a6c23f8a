// @ts-check
// Run by test/onnx_runtimes.test.ts in each runtime from a project whose node_modules holds this
// package: `batchnorm-wasm/onnx` resolved by the runtime's own conditions (for workerd: by esbuild
// with the `workerd` condition, as wrangler bundles a Worker), init from the default entry, then a
// PyTorch export loaded, run, written back and loaded again.
import { backend, init, noGrad, tensor } from 'batchnorm-wasm';
import { loadOnnx, parseOnnx, toOnnx } from 'batchnorm-wasm/onnx';

/**
 * The outputs the runtimes must agree on.
 * @param {Uint8Array} model an ONNX file
 * @param {Float32Array} pixels its input
 * @param {number[]} dims the input's shape
 */
export async function run(model, pixels, dims) {
  await init();
  const g = await loadOnnx(model);
  const y = noGrad(() => g.forward(tensor(pixels, dims)));
  const input = parseOnnx(model).inputs[0].name;
  const again = await loadOnnx(toOnnx(g, { inputShapes: { [input]: dims } }));
  const z = noGrad(() => again.forward(tensor(pixels, dims)));
  return { backend: backend(), y: Array.from(y.toArray()), z: Array.from(z.toArray()) };
}
