// loadOnnx: an ONNX model (as torch.onnx.export writes it) → a Graph of the package's layers. The
// file is parsed and its shape subgraphs folded (src/onnx/), every node is checked and planned
// before any layer is made, then the Graph is built from a spec whose layers carry the
// initializers under their ONNX names, and, for inference, BatchNorm is folded into the layer before it.
// see: https://onnx.ai/onnx/repo-docs/IR.html; docs/onnx.md (the mapping table)
import { Graph } from '../graph/graph';
import type { GraphNodeSpec } from '../graph/spec';
import type { Module } from '../nn/module';
import { Parameter, tensor, type Tensor } from '../tensor';
import { checkOptions, describe } from '../validate';
import { runtime } from '../runtime/index';
import { planNode, type Make, type PlanContext } from './load_nodes';
import type { OnnxModel, OnnxNode } from './ir';
import { parseOnnx } from './decode';
import { foldOnnx } from './fold';
import { planBatchNormFolds } from './fold_bn';

/** Options of loadOnnx. */
export interface LoadOnnxOptions {
  /** The shape of each graph input by name (default the file's; a symbolic batch stays free). */
  inputShapes?: Readonly<Record<string, readonly number[]>>;
  /** Return the graph in training mode (BatchNorm on batch statistics, ONNX's running-variance rule). Default false: eval mode. */
  training?: boolean;
  /** Fold each BatchNorm into the Conv/Gemm before it (eval only). Default true in eval, false in training. */
  fold?: boolean;
}

const FN = 'loadOnnx';

function checkLoadOptions(options: unknown): { shapes?: Record<string, number[]>; training: boolean; fold: boolean } {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new TypeError(`${FN}: options: expected an object, got ${describe(options)}`);
  const o = options as LoadOnnxOptions;
  checkOptions(FN, o, ['inputShapes', 'training', 'fold']);
  if (o.training !== undefined && typeof o.training !== 'boolean')
    throw new TypeError(`${FN}: training: expected a boolean, got ${describe(o.training)}`);
  if (o.fold !== undefined && typeof o.fold !== 'boolean') throw new TypeError(`${FN}: fold: expected a boolean, got ${describe(o.fold)}`);
  const training = o.training ?? false;
  const fold = o.fold ?? !training;
  if (fold && training) throw new Error(`${FN}: fold: BatchNorm can be folded only in eval mode, got fold: true with training: true`);
  let shapes: Record<string, number[]> | undefined;
  if (o.inputShapes !== undefined) {
    if (o.inputShapes === null || typeof o.inputShapes !== 'object' || Array.isArray(o.inputShapes))
      throw new TypeError(`${FN}: inputShapes: expected an object of input name → shape, got ${describe(o.inputShapes)}`);
    shapes = {};
    for (const [k, v] of Object.entries(o.inputShapes)) {
      if (!Array.isArray(v) || !v.every((d) => Number.isInteger(d) && d >= 0))
        throw new TypeError(`${FN}: inputShapes.${k}: expected an array of integers ≥ 0, got ${describe(v)}`);
      shapes[k] = [...v];
    }
  }
  return { shapes, training, fold };
}

/** Checks every node and plans its Graph nodes; allocates nothing. */
function plan(model: OnnxModel, fold: boolean): { makes: Make[]; ctx: PlanContext } {
  const readers = new Map<string, OnnxNode[]>();
  for (const n of model.nodes) for (const x of n.inputs) if (x !== '') readers.set(x, [...(readers.get(x) ?? []), n]);
  const outputs = new Set(model.outputs.map((o) => o.name));
  const ctx: PlanContext = {
    model,
    readers,
    outputs,
    fusedRelu: new Set(),
    constants: new Map(),
    folds: fold ? planBatchNormFolds(model, readers, outputs) : new Map(),
  };
  const makes = model.nodes.map((n) => planNode(ctx, n));
  for (const o of model.outputs) {
    const t = model.initializers.get(o.name);
    if (t === undefined) continue;
    // a model whose output folds to a constant (Shape of an input): only float32 data is a tensor here
    if (t.dtype !== 'float32') throw new Error(`${FN}: output '${o.name}': a constant of ${t.dtype}, expected float32 data`);
    ctx.constants.set(o.name, ctx.constants.get(o.name) ?? false);
  }
  return { makes, ctx };
}

/**
 * Loads an ONNX model (opset 11–21, float32; e.g. from `torch.onnx.export`) as a Graph of the
 * package's layers, in eval mode with each BatchNorm folded into the Conv/Gemm before it unless
 * `options` say otherwise. Initializers become the layers' parameters and buffers under their ONNX
 * names (PyTorch's state-dict names for its exports), so `loadSafetensors` of PyTorch's weights works
 * on an unfolded graph. An unsupported operator, opset, data type or attribute is refused naming the
 * node before anything is allocated. Graph inputs and outputs keep the file's names.
 *
 * @example
 * ```ts
 * const g = await loadOnnx(new Uint8Array(await (await fetch('model.onnx')).arrayBuffer()));
 * const logits = noGrad(() => g.forward(x)); // x: [N, C, H, W]
 * ```
 */
export async function loadOnnx(bytes: Uint8Array, options: LoadOnnxOptions = {}): Promise<Graph> {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${FN}: bytes: expected a Uint8Array, got ${describe(bytes)}`);
  const o = checkLoadOptions(options);
  runtime(); // throws before any parsing when init() has not run
  const model = foldOnnx(parseOnnx(bytes), o.shapes);
  const { makes, ctx } = plan(model, o.fold);
  const made: Module[] = [];
  const consts: Tensor[] = [];
  let graph: Graph;
  try {
    const nodes: GraphNodeSpec[] = [];
    for (const [name, trained] of ctx.constants) {
      const t = model.initializers.get(name)!;
      const c = trained ? new Parameter(t.dims, 0, `${FN}: '${name}'`) : tensor(t.data as Float32Array, t.dims);
      if (trained) c.view().set(t.data as Float32Array);
      consts.push(c);
      nodes.push({ name, constant: c });
    }
    for (const m of makes) nodes.push(...m(made));
    const outputs = Object.fromEntries(model.outputs.map((v) => [v.name, v.name]));
    graph = new Graph({ inputs: model.inputs.map((v) => v.name), nodes, outputs });
  } catch (e) {
    for (const m of made) m.dispose();
    for (const t of consts) t.dispose();
    throw e;
  }
  if (o.training) return graph.train();
  // folded while planned: a BatchNorm left is one no Conv/Gemm alone feeds, which foldBatchNorm leaves too
  return graph.eval();
}
