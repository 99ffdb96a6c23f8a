// A digit classifier from an .onnx file the user drops on the page (or picks with the file input):
// loadOnnx makes it a Graph of the library's layers; it must take one [N, 1, 28, 28] image (pixels
// in [0, 1], as the pad gives them) and give 10 class scores (logits, log-probabilities or probabilities).
import { noGrad, tensor, type Graph } from '../../src/index';
import { loadOnnx, parseOnnx, type OnnxDim } from '../../src/onnx/index';

/** A loaded model and what its output is. */
export interface DigitModel {
  graph: Graph;
  /** True when the graph ends in Softmax: its output is shown as it is, else softmax is applied. */
  probabilities: boolean;
}

const shapeText = (s: readonly OnnxDim[] | null) => (s === null ? 'no declared shape' : `[${s.join(', ')}]`);

/** One forward of one digit; every tensor made is freed before it returns. */
function run(graph: Graph, pixels: Float32Array): { shape: readonly number[]; values: Float32Array } {
  const x = tensor(pixels, [1, 1, 28, 28]);
  try {
    const y = noGrad(() => graph.forward(x));
    try {
      return { shape: y.shape, values: y.toArray() };
    } finally {
      y.dispose();
    }
  } finally {
    x.dispose();
  }
}

/** Loads and checks an ONNX digit classifier; throws a message for the page when it does not fit. */
export async function loadDigitModel(bytes: Uint8Array): Promise<DigitModel> {
  const parsed = parseOnnx(bytes);
  if (parsed.inputs.length !== 1) throw new Error(`expected a model with one input [N, 1, 28, 28], got ${parsed.inputs.length} inputs`);
  const input = parsed.inputs[0]!;
  const s = input.shape;
  if (s === null || s.length !== 4 || s[1] !== 1 || s[2] !== 28 || s[3] !== 28)
    throw new Error(`input '${input.name}': expected shape [N, 1, 28, 28] (one 28×28 grey digit), got ${shapeText(s)}`);
  if (parsed.outputs.length !== 1)
    throw new Error(`expected a model with one output of 10 class scores, got ${parsed.outputs.length} outputs`);
  const output = parsed.outputs[0]!.name;
  const last = parsed.nodes.find((n) => n.outputs.includes(output));
  const graph = await loadOnnx(bytes, { inputShapes: { [input.name]: [1, 1, 28, 28] } });
  try {
    // the output's shape for one digit, from a forward of a blank image (declared shapes may be symbolic)
    const shape = [...run(graph, new Float32Array(784)).shape];
    if (shape.length !== 2 || shape[1] !== 10)
      throw new Error(`output '${output}': expected 10 class scores per digit ([1, 10]), got [${shape.join(', ')}]`);
  } catch (e) {
    graph.dispose();
    throw e;
  }
  return { graph, probabilities: last?.op === 'Softmax' };
}

/** The model's class probabilities for one digit (784 pixels in [0, 1]). */
export function classify(model: DigitModel, pixels: Float32Array): number[] {
  const out = Array.from(run(model.graph, pixels).values);
  if (model.probabilities) return out;
  const max = Math.max(...out);
  const exp = out.map((v) => Math.exp(v - max));
  const sum = exp.reduce((a, b) => a + b, 0);
  return exp.map((v) => v / sum);
}
