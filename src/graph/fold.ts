// foldBatchNorm on a Graph: each Conv2d or Linear node whose only reader is a BatchNorm node (and
// which is no output) is replaced by the folded layer under the same name, and the BatchNorm node
// by an identity (or a ReLU, for a fused BN+ReLU) under its own name, so every edge stays as it was.
// The fold itself is the Sequential one (src/nn/fold.ts), on the pair.
// see: Jacob et al. 2018, https://arxiv.org/abs/1712.05877 (§3.2, batch normalization folding)
import { BatchNorm1d, BatchNorm2d, BatchNorm3d } from '../nn/batchnorm';
import { Conv2d } from '../nn/conv';
import { Linear } from '../nn/linear';
import { Sequential } from '../nn/layers';
import type { Module } from '../nn/module';
import { Graph, type GraphNode } from './graph';
import type { GraphNodeSpec } from './spec';

type Fold = (
  model: Sequential,
  options: { makeFolded?: (layer: Module, weight: Float32Array, bias: Float32Array) => Module | null },
) => Sequential;

/**
 * A new Graph for inference with each foldable BatchNorm folded into the layer before it; the
 * other layers and the constants are shared with `g` (not copied). `fold` folds one [layer, BN] pair.
 */
export function foldGraph(g: Graph, fold: Fold, options: Parameters<Fold>[1]): Graph {
  const readers = new Map<string, GraphNode[]>();
  for (const n of g.nodes)
    if (n.kind === 'layer' || n.kind === 'op') for (const x of n.inputs) readers.set(x, [...(readers.get(x) ?? []), n]);
  const outputs = new Set(g.outputNames.map((o) => g.outputSource(o)));
  const replaced = new Map<string, GraphNodeSpec[]>();
  const made: Module[] = [];
  try {
    for (const n of g.nodes) {
      if (n.kind !== 'layer' || !(n.module instanceof Conv2d || n.module instanceof Linear) || outputs.has(n.name)) continue;
      const r = readers.get(n.name) ?? [];
      const bn = r.length === 1 ? r[0] : null;
      if (bn === null || bn.kind !== 'layer' || !isNorm(bn.module)) continue;
      if (!bn.module.trackRunningStats)
        throw new Error(`foldBatchNorm: node '${bn.name}': a BatchNorm without running statistics cannot be folded`);
      const [folded, relu] = fold(new Sequential(n.module, bn.module), options).layers;
      made.push(folded);
      // the folded layer has a bias where the original may not: names mapped for the original's entries only
      const names = new Set(folded.stateEntries().map((e) => e.name));
      const stateNames = Object.fromEntries(Object.entries(n.stateNames).filter(([k]) => names.has(k)));
      replaced.set(n.name, [{ name: n.name, layer: folded, input: n.inputs[0], stateNames }]);
      replaced.set(bn.name, [{ name: bn.name, op: relu === undefined ? 'identity' : 'relu', inputs: [n.name] }]);
    }
    const nodes: GraphNodeSpec[] = [];
    for (const n of g.nodes) {
      const r = replaced.get(n.name);
      if (r !== undefined) nodes.push(...r);
      else if (n.kind === 'constant') nodes.push({ name: n.name, constant: n.tensor });
      else if (n.kind === 'layer') nodes.push({ name: n.name, layer: n.module, input: n.inputs[0], stateNames: n.stateNames });
      else if (n.kind === 'op') nodes.push({ name: n.name, op: n.op, inputs: n.inputs, attrs: n.attrs as never });
    }
    const outs = Object.fromEntries(g.outputNames.map((o) => [o, g.outputSource(o)]));
    return new Graph({ inputs: g.inputNames, nodes, outputs: outs }).eval();
  } catch (e) {
    for (const m of made) m.dispose();
    throw e;
  }
}

function isNorm(m: Module): m is BatchNorm1d | BatchNorm2d | BatchNorm3d {
  return m instanceof BatchNorm1d || m instanceof BatchNorm2d || m instanceof BatchNorm3d;
}
