// Graph: a directed acyclic graph of layers and functional ops with named inputs and outputs (skip
// connections, concatenation, several heads). Its forward calls the layers and the `F` ops, which
// record on the tape, so its backward is the tape's (gradients summed where a tensor feeds several
// nodes); its state is its layers' under dotted names, plus its own named constants.
// see: https://pytorch.org/docs/stable/fx.html (a graph of modules and functions);
//      https://onnx.ai/onnx/repo-docs/IR.html#graphs (named inputs, outputs and initializers)
import { freesItself, Module, type StateEntry } from '../nn/module';
import { Parameter, Tensor } from '../tensor';
import { checkOptions, checkTensor, describe, kindOf } from '../validate';
import { checkOp, type GraphOp, type GraphOpAttrs } from './ops';
import { sortSpec, type GraphSpec } from './spec';
import { execute, planRun, type RunPlan, type RunState } from './run';
import { Arena } from './arena';

/** One node of a Graph, as `graph.nodes` lists them (in topological order). Each produces the tensor named by `name`. */
export type GraphNode =
  | { readonly kind: 'input'; readonly name: string }
  | { readonly kind: 'constant'; readonly name: string; readonly tensor: Tensor }
  | {
      readonly kind: 'layer';
      readonly name: string;
      readonly module: Module;
      readonly inputs: readonly [string];
      /** The layer's local state names (e.g. 'weight') mapped to their names in the graph's state dict, where not `name.local`. */
      readonly stateNames: Readonly<Record<string, string>>;
    }
  | {
      readonly kind: 'op';
      readonly name: string;
      readonly op: GraphOp;
      readonly inputs: readonly string[];
      readonly attrs: Readonly<Record<string, unknown>>;
    };

/** Options of Graph.layer(). */
export interface GraphLayerOptions {
  /** The layer's local state names mapped to the names the graph's state dict gives them (default `name.local`). */
  stateNames?: Readonly<Record<string, string>>;
}

/**
 * A directed acyclic graph of layers and functional ops with named inputs and outputs. Build it
 * node by node (each call is checked and adds nothing when it throws), or at once from a
 * GraphSpec whose nodes may come in any order. With one input and one output it is called as any
 * module, `graph.forward(x)`; with several, `graph.run({ name: tensor, … })`. Under noGrad (and
 * in predict/evaluate) each intermediate is freed as soon as its last consumer has run.
 *
 * @example A residual block: y = relu(bn2(conv2(relu(bn1(conv1(x))))) + x)
 * ```ts
 * const g = new Graph();
 * const x = g.input('x');
 * let h = g.layer('conv1', new Conv2d(8, 8, 3, { padding: 1, bias: false }), x);
 * h = g.layer('bn1', new BatchNorm2d(8), h);
 * h = g.op('relu', [h]);
 * h = g.layer('conv2', new Conv2d(8, 8, 3, { padding: 1, bias: false }), h);
 * h = g.layer('bn2', new BatchNorm2d(8), h);
 * g.output('y', g.op('relu', [g.op('add', [h, x])]));
 * const y = g.forward(input); // g.stateDict(): conv1.weight, bn1.weight, bn1.bias, bn1.running_mean, …
 * ```
 */
export class Graph extends Module {
  static readonly kind: string = 'Graph';
  #nodes: GraphNode[] = [];
  #byName = new Map<string, GraphNode>();
  #inputs: string[] = [];
  #outputs: [string, string][] = [];
  #modules = new Set<Module>();
  #constants = new Set<Tensor>();
  /** While a spec is being added: its constants, kept once every node is in. */
  #adopting: Tensor[] | null = null;
  #stateNames = new Set<string>();
  #autoName = 0;
  /** What a run needs, rebuilt after the graph changes. */
  #plan: RunPlan | null = null;
  #run: RunState = { movable: null, scratch: { buf: new Float32Array(0) }, arena: new Arena() };

  /** An empty graph to build with input(), layer(), op(), constant() and output(); or the whole graph of `spec`, checked first. */
  constructor(spec?: GraphSpec) {
    super();
    if (spec === undefined) return;
    const order = sortSpec('Graph', spec);
    // the constants are taken from their owners only once every node is in: a refused spec leaves them as they were
    const adopted: Tensor[] = (this.#adopting = []);
    for (const name of spec.inputs) this.input(name);
    for (const n of order) {
      if ('layer' in n) this.layer(n.name, n.layer, n.input, n.stateNames === undefined ? {} : { stateNames: n.stateNames });
      else if ('op' in n) this.op(n.op, n.inputs, (n.attrs ?? {}) as never, n.name);
      else if ('constant' in n) this.constant(n.name, n.constant);
      else throw new TypeError(`Graph: node '${(n as { name: string }).name}': expected a layer, op or constant node`);
    }
    for (const [o, from] of Object.entries(spec.outputs)) this.output(o, from);
    this.#adopting = null;
    for (const t of adopted) t.keep();
  }

  /** The nodes in topological order (the order forward runs them). */
  get nodes(): readonly GraphNode[] {
    return this.#nodes;
  }

  /** The names of the graph's inputs, in the order they were declared. */
  get inputNames(): readonly string[] {
    return this.#inputs;
  }

  /** The names of the graph's outputs, in the order they were declared. */
  get outputNames(): readonly string[] {
    return this.#outputs.map(([o]) => o);
  }

  /** The tensor name each output returns (output name → node name). */
  outputSource(name: string): string {
    const o = this.#outputs.find(([n]) => n === name);
    if (o === undefined)
      throw new Error(`Graph.outputSource: no output '${String(name)}' (outputs: ${this.outputNames.join(', ') || 'none'})`);
    return o[1];
  }

  /** Declares a graph input; returns its name, for the nodes that read it. */
  input(name: string): string {
    this.#free('Graph.input', name);
    this.#add({ kind: 'input', name });
    this.#inputs.push(name);
    return name;
  }

  /**
   * A named tensor the graph owns (freed by dispose()): a Parameter is trained, any other tensor is
   * a buffer. It is in the state dict under `name`. Returns the name.
   */
  constant(name: string, tensor: Tensor): string {
    const where = 'Graph.constant';
    this.#free(where, name);
    checkTensor(where, 'tensor', tensor);
    if (this.#stateNames.has(name)) throw new Error(`${where}: '${name}': the state dict already has this name`);
    if (this.#constants.has(tensor)) {
      const at = this.#nodes.find((n) => n.kind === 'constant' && n.tensor === tensor)!;
      throw new Error(`${where}: '${name}': this tensor is already constant '${at.name}'`);
    }
    // no scope or training step frees what the graph owns
    if (this.#adopting !== null) this.#adopting.push(tensor);
    else tensor.keep();
    this.#constants.add(tensor);
    this.#add({ kind: 'constant', name, tensor });
    this.#stateNames.add(name);
    return name;
  }

  /**
   * A layer node: `module.forward(input)`. Its state goes in the graph's state dict under
   * `name.` (or under `options.stateNames`). Returns the name.
   */
  layer(name: string, module: Module, input: string, options: GraphLayerOptions = {}): string {
    const where = 'Graph.layer';
    this.#free(where, name);
    if (!(module instanceof Module)) throw new TypeError(`${where}: module: expected a Module, got ${describe(module)}`);
    if (module === this) throw new Error(`${where}: '${name}': a graph cannot be a layer of itself`);
    if (this.#modules.has(module)) {
      const at = this.#nodes.find((n) => n.kind === 'layer' && n.module === module)!;
      throw new Error(`${where}: '${name}': this ${kindOf(module.constructor)} is already layer '${at.name}' (one node per module)`);
    }
    this.#known(where, name, input);
    checkOptions(where, options, ['stateNames']);
    const rename = options.stateNames ?? {};
    if (rename === null || typeof rename !== 'object')
      throw new TypeError(`${where}: stateNames: expected an object, got ${describe(rename)}`);
    const local = module.stateEntries().map((e) => e.name);
    for (const [k, v] of Object.entries(rename)) {
      if (!local.includes(k)) throw new Error(`${where}: '${name}': stateNames: '${k}' is not in the layer's state (${local.join(', ')})`);
      if (typeof v !== 'string' || v === '')
        throw new TypeError(`${where}: '${name}': stateNames.${k}: expected a non-empty string, got ${describe(v)}`);
    }
    const stateNames = Object.freeze({ ...rename });
    const names = local.map((k) => stateNames[k] ?? `${name}.${k}`);
    names.forEach((s, i) => {
      if (this.#stateNames.has(s) || names.indexOf(s) !== i) throw new Error(`${where}: '${name}': the state dict already has '${s}'`);
    });
    this.#add({ kind: 'layer', name, module, inputs: [input], stateNames });
    this.#modules.add(module);
    for (const s of names) this.#stateNames.add(s);
    return name;
  }

  /** A functional node: `op` on the named inputs with its attributes; named `name` (default `op_k`). Returns the name. */
  op<K extends GraphOp>(op: K, inputs: string | readonly string[], attrs?: GraphOpAttrs[K], name?: string): string {
    const where = 'Graph.op';
    const ins: readonly string[] = typeof inputs === 'string' ? [inputs] : inputs;
    if (!Array.isArray(ins)) throw new TypeError(`${where}: inputs: expected a name or an array of names, got ${describe(inputs)}`);
    const a = checkOp(where, op, ins.length, attrs ?? {});
    // an unnamed node is `op_k`, k counting the unnamed nodes added (a refused call counts none)
    let n = name,
      k = this.#autoName;
    while (n === undefined || (name === undefined && this.#byName.has(n))) n = `${op}_${++k}`;
    this.#free(where, n);
    for (const x of ins) this.#known(where, n, x);
    this.#add({ kind: 'op', name: n, op, inputs: Object.freeze([...ins]), attrs: a });
    this.#autoName = k;
    return n;
  }

  /** Declares output `name`, the tensor produced by node or input `from`. Returns this. */
  output(name: string, from: string): this {
    const where = 'Graph.output';
    if (typeof name !== 'string' || name === '') throw new TypeError(`${where}: name: expected a non-empty string, got ${describe(name)}`);
    if (this.#outputs.some(([o]) => o === name)) throw new Error(`${where}: output '${name}' is declared twice`);
    if (typeof from !== 'string' || !this.#byName.has(from))
      throw new Error(`${where}: output '${name}': ${describe(from)} is produced by no node and is no graph input`);
    this.#outputs.push([name, from]);
    this.#plan = null;
    return this;
  }

  /** Throws unless `name` is a new non-empty string. */
  #free(where: string, name: unknown): void {
    if (typeof name !== 'string' || name === '') throw new TypeError(`${where}: name: expected a non-empty string, got ${describe(name)}`);
    if (this.#byName.has(name)) throw new Error(`${where}: '${name}': the name is taken by ${this.#byName.get(name)!.kind} node '${name}'`);
  }

  /** Throws unless node `node`'s input `x` names a node already in the graph. */
  #known(where: string, node: string, x: unknown): void {
    if (typeof x !== 'string' || !this.#byName.has(x))
      throw new Error(`${where}: '${node}': input ${describe(x)} is produced by no node and is no graph input`);
  }

  #add(n: GraphNode): void {
    this.#nodes.push(Object.freeze(n));
    this.#byName.set(n.name, n);
    this.#plan = null;
    this.#run.movable = null;
    this.#run.arena.dispose();
  }

  /**
   * Runs the graph on its one input and returns its one output (a graph with several: run()).
   * y belongs to the enclosing noGrad scope or training step, as every op's output.
   */
  forward(x: Tensor): Tensor {
    const where = 'Graph.forward';
    if (this.#inputs.length !== 1 || this.#outputs.length !== 1) {
      throw new Error(
        `${where}: forward takes a graph of one input and one output, this one has inputs (${this.#inputs.join(', ')}) and outputs (${this.outputNames.join(', ')}); call run({ … })`,
      );
    }
    checkTensor(where, 'input', x);
    return execute(this, this.#nodes, where, this.#planned(), this.#run, new Map([[this.#inputs[0], x]])).get(this.#outputs[0][0])!;
  }

  /** Runs the graph on every named input; returns every output by name (plain object). */
  run(inputs: Readonly<Record<string, Tensor>>): Record<string, Tensor> {
    const where = 'Graph.run';
    if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs))
      throw new TypeError(`${where}: inputs: expected an object of input name → Tensor, got ${describe(inputs)}`);
    for (const k of Object.keys(inputs)) {
      if (!this.#inputs.includes(k)) throw new Error(`${where}: unknown input '${k}' (inputs: ${this.#inputs.join(', ') || 'none'})`);
    }
    const feeds = new Map<string, Tensor>();
    for (const k of this.#inputs) {
      if (!Object.hasOwn(inputs, k)) throw new Error(`${where}: missing input '${k}'`);
      feeds.set(k, checkTensor(where, `inputs.${k}`, inputs[k]));
    }
    const outs = execute(this, this.#nodes, where, this.#planned(), this.#run, feeds);
    const result: Record<string, Tensor> = {};
    // defined, not assigned: an output named '__proto__' stays a key
    for (const [o] of this.#outputs)
      Object.defineProperty(result, o, { value: outs.get(o), enumerable: true, writable: true, configurable: true });
    return result;
  }

  #planned(): RunPlan {
    if (this.#outputs.length === 0) throw new Error('Graph.forward: the graph has no outputs (declare one with output())');
    return (this.#plan ??= planRun(this.#nodes, this.#outputs));
  }

  children(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const n of this.#nodes) if (n.kind === 'layer') out.push([n.name, n.module]);
    return out;
  }

  protected ownParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const n of this.#nodes) if (n.kind === 'constant' && n.tensor instanceof Parameter) out.push([n.name, n.tensor]);
    return out;
  }

  protected ownState(): StateEntry[] {
    const out: StateEntry[] = [];
    for (const n of this.#nodes) if (n.kind === 'constant') out.push({ name: n.name, tensor: n.tensor });
    return out;
  }

  /** Every parameter under its state dict name, in node order. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const n of this.#nodes) {
      if (n.kind === 'constant' && n.tensor instanceof Parameter) out.push([prefix + n.name, n.tensor]);
      else if (n.kind === 'layer') for (const [k, p] of n.module.namedParameters()) out.push([prefix + stateName(n, k), p]);
    }
    return out;
  }

  /** Every state entry under its state dict name (a layer's `name.local`, or as `stateNames` maps it), in node order. */
  stateEntries(prefix = ''): StateEntry[] {
    const out: StateEntry[] = [];
    for (const n of this.#nodes) {
      if (n.kind === 'constant') out.push({ name: prefix + n.name, tensor: n.tensor });
      else if (n.kind === 'layer') for (const e of n.module.stateEntries()) out.push({ ...e, name: prefix + stateName(n, e.name) });
    }
    return out;
  }

  /** @internal The layers' movable state only: the graph's constants never move. */
  _movable(out: StateEntry[] = []): StateEntry[] {
    for (const [, m] of this.children()) m._movable(out);
    return out;
  }

  /** Frees the graph's layers and constants, and the buffers its inference runs kept. */
  dispose(): void {
    this.#run.arena.dispose();
    super.dispose();
  }

  /** @internal Bytes of the buffer the graph keeps for its inference runs (0: none yet). */
  get _arenaBytes(): number {
    return this.#run.arena.bytes;
  }

  extraRepr(): string {
    return `inputs=(${this.#inputs.join(', ')}), outputs=(${this.outputNames.join(', ')})`;
  }

  /** The nodes in order, one a line: `(name): Layer(…) ← input`, `name = op(inputs)`, `name: constant [shape]`, then the outputs. */
  toString(): string {
    const lines = this.#nodes.map((n) => {
      if (n.kind === 'input') return `(${n.name}): input`;
      if (n.kind === 'constant')
        return `(${n.name}): ${n.tensor instanceof Parameter ? 'parameter' : 'constant'} [${n.tensor.shape.join(', ')}]`;
      if (n.kind === 'layer') return `(${n.name}): ${n.module.toString().split('\n').join('\n  ')} ← ${n.inputs[0]}`;
      const attrs = Object.entries(n.attrs).map(([k, v]) => `, ${k}=${Array.isArray(v) ? `(${v.join(', ')})` : String(v)}`);
      return `(${n.name}): ${n.op}(${n.inputs.join(', ')}${attrs.join('')})`;
    });
    for (const [o, from] of this.#outputs) lines.push(`(${o}): output ← ${from}`);
    return `Graph(\n${lines.map((l) => `  ${l}`).join('\n')}\n)`;
  }
}

// a Graph frees each intermediate after its last reader by itself: no learnt plan around its forward
freesItself(Graph);

/** The state dict name of a layer node's local state entry `k`. */
function stateName(n: GraphNode & { kind: 'layer' }, k: string): string {
  return Object.hasOwn(n.stateNames, k) ? n.stateNames[k] : `${n.name}.${k}`;
}
