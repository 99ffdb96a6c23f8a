// How a module prints: PyTorch's repr (a tree of `(name): Kind(arguments)`) and a Keras-like
// summary table (layers, output shapes from one eval-mode forward, parameter counts).
// see: https://github.com/pytorch/pytorch/blob/main/torch/nn/modules/module.py (__repr__, extra_repr);
//      https://keras.io/api/models/model/#summary-method
import { checkShape, noGrad, Tensor } from '../tensor';
import type { Module } from './module';

/** Public settings shown in a layer's line, in this order (those the layer has). */
const SHOWN = [
  'inFeatures',
  'outFeatures',
  'inChannels',
  'outChannels',
  'numFeatures',
  'kernelSize',
  'stride',
  'padding',
  'eps',
  'momentum',
  'p',
  'layout',
  'activation',
] as const;

function format(v: unknown): string {
  if (Array.isArray(v)) return `(${v.join(', ')})`;
  if (typeof v === 'string') return `'${v}'`;
  return String(v);
}

/** A layer's own arguments as PyTorch's extra_repr shows them: `4, 10, bias=true` style `key=value` pairs. */
export function settingsOf(m: Module): string {
  const rec = m as unknown as Record<string, unknown>;
  const parts = SHOWN.filter((k) => k in m && rec[k] !== undefined && rec[k] !== null).map((k) => `${k}=${format(rec[k])}`);
  if ('bias' in m && ('inFeatures' in m || 'inChannels' in m)) parts.push(`bias=${rec.bias !== null}`);
  return parts.join(', ');
}

/** The module as a tree: `Kind(settings)` for a leaf, `Kind(\n  (name): child\n)` otherwise. */
export function reprOf(m: Module, kind: (m: Module) => string, extra: (m: Module) => string): string {
  const children = m.children();
  const head = `${kind(m)}(${extra(m)}`;
  if (children.length === 0) return `${head})`;
  const lines = children.map(([name, c]) => `  (${name}): ${reprOf(c, kind, extra).split('\n').join('\n  ')}`);
  return `${head}\n${lines.join('\n')}\n)`;
}

/** Every module below `m` (m first) with its dotted name, depth first. */
function walk(m: Module, name: string, out: [string, Module][]): [string, Module][] {
  out.push([name, m]);
  for (const [n, c] of m.children()) walk(c, name ? `${name}.${n}` : n, out);
  return out;
}

/**
 * A table of every module: dotted name, kind, output shape (when `inputShape` is given: one forward on
 * zeros in eval mode under noGrad, which moves no state) and own parameter count; then the totals.
 */
export function summaryOf(m: Module, kind: (m: Module) => string, inputShape?: readonly number[]): string {
  const where = `${kind(m)}.summary`;
  const rows = walk(m, '', []);
  const shapes = new Map<Module, string>();
  if (inputShape !== undefined) {
    const shape = checkShape(where, inputShape);
    const modes = rows.map(([, c]) => c.training);
    const patched = rows.map(([, c]) => c);
    for (const c of patched) {
      const own = c.forward;
      // an own property shadows the class's forward for this one run (deleted after)
      Object.defineProperty(c, 'forward', {
        configurable: true,
        writable: true,
        value: (x: Tensor) => {
          const y = own.call(c, x);
          const prev = shapes.get(c);
          const s = `[${y.shape.join(', ')}]`;
          shapes.set(c, prev === undefined || prev === s ? s : `${prev}, ${s}`);
          return y;
        },
      });
    }
    try {
      m.eval();
      noGrad(() => {
        const x = Tensor.full(shape, 0);
        try {
          m.forward(x).dispose();
        } finally {
          x.dispose();
        }
      });
    } finally {
      for (const c of patched) delete (c as unknown as Record<string, unknown>).forward;
      rows.forEach(([, c], i) => (c.training = modes[i]));
    }
  }
  const own = (c: Module) =>
    c
      .namedParameters()
      .filter(([n]) => !n.includes('.'))
      .reduce((a, [, p]) => a + p.size, 0);
  const table = rows.map(([name, c]) => [name || '(model)', kind(c), shapes.get(c) ?? '', String(own(c))]);
  const head = ['Layer', 'Kind', inputShape === undefined ? '' : 'Output shape', 'Params'];
  const width = head.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((v, i) => (i === 3 ? v.padStart(width[i]) : v.padEnd(width[i])))
      .join('  ')
      .trimEnd();
  const params = m.parameters();
  const total = params.reduce((a, p) => a + p.size, 0),
    trainable = params.filter((p) => p.requiresGrad).reduce((a, p) => a + p.size, 0);
  const rule = '─'.repeat(line(head).length);
  return [
    line(head),
    rule,
    ...table.map(line),
    rule,
    `Total params: ${total.toLocaleString('en-US')} (${(total * 4).toLocaleString('en-US')} bytes f32)`,
    `Trainable params: ${trainable.toLocaleString('en-US')}`,
  ].join('\n');
}
