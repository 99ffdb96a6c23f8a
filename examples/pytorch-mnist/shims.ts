// The few Python and PyTorch helpers that main.ts uses and the package does not have: argparse's
// parser, enumerate, len(loader.dataset), argmax + eq + sum, and torchvision's Normalize.
import { parseArgs } from 'node:util';
import { DataLoader, type DataLoaderData, type DataLoaderOptions, type Tensor } from '../../src/index';

/** One argument of an ArgumentParser, as argparse's add_argument keywords. */
export interface ArgumentSpec {
  /** `int`, `float`, or absent for a `store_true` flag. */
  type?: 'int' | 'float';
  /** argparse's action: only 'store_true' (a flag, false unless given). */
  action?: 'store_true';
  /** Value when the argument is not given. */
  default?: number;
  /** Placeholder shown in the help. */
  metavar?: string;
  /** One line of help. */
  help: string;
}

/** What parseArgs returns: each `--kebab-name` as `camelName`, a number or a boolean. */
export type Parsed = Record<string, number | boolean>;

/** main.ts's arguments, as its parser declares them. */
export interface Args {
  batchSize: number;
  testBatchSize: number;
  epochs: number;
  lr: number;
  gamma: number;
  dryRun: boolean;
  seed: number;
  logInterval: number;
  saveModel: boolean;
}

// see: https://docs.python.org/3/library/argparse.html (add_argument, parse_args)
/** A small argparse: add_argument with int/float/store_true, --help, errors like argparse's. */
export class ArgumentParser {
  readonly description: string;
  #specs = new Map<string, ArgumentSpec>();

  constructor(options: { description: string }) {
    this.description = options.description;
  }

  /** Declares `--name` (kebab-case); parse() returns it as camelCase. */
  addArgument(flag: string, spec: ArgumentSpec): void {
    if (!flag.startsWith('--')) throw new Error(`ArgumentParser.addArgument: flag: expected '--name', got '${flag}'`);
    this.#specs.set(flag.slice(2), spec);
  }

  /** The usage text that --help prints. */
  help(): string {
    const rows = [['-h, --help', 'show this help message and exit']];
    for (const [name, s] of this.#specs) rows.push([`--${name}${s.action ? '' : ` ${s.metavar ?? 'N'}`}`, s.help]);
    return `${this.description}\n\noptions:\n${rows.map(([f, h]) => `  ${f!.padEnd(24)} ${h}`).join('\n')}`;
  }

  /**
   * Parses `argv` (default: the process's arguments). As argparse: --help prints the help and exits,
   * a bad argument prints the help and the error and exits with status 2.
   */
  parseArgs(argv: string[] = process.argv.slice(2)): Parsed {
    try {
      return this.#parse(argv);
    } catch (e) {
      console.error(`${this.help()}\n\nerror: ${(e as Error).message}`);
      process.exit(2);
    }
  }

  #parse(argv: string[]): Parsed {
    const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
    for (const [name, s] of this.#specs) options[name] = { type: s.action ? 'boolean' : 'string' };
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
    if (values.help) {
      console.log(this.help());
      process.exit(0);
    }
    const args: Parsed = {};
    for (const [name, s] of this.#specs) {
      const key = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
      const v = values[name];
      if (s.action) args[key] = v === true;
      else if (v === undefined) args[key] = s.default ?? 0;
      else {
        const n = Number(v);
        if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || (s.type === 'int' && !Number.isInteger(n))) {
          throw new Error(`argument --${name}: invalid ${s.type} value: '${String(v)}'`);
        }
        args[key] = n;
      }
    }
    return args;
  }
}

/** Python's '{:.0f}'.format(x) for x ≥ 0: the nearest integer, ties to even (toFixed(0) rounds ties up: 96.5 → 97). */
export function format0(x: number): string {
  const f = Math.floor(x);
  return (x - f === 0.5 ? f + (f % 2) : Math.round(x)).toFixed(0);
}

/** Python's enumerate: [index, item] pairs. */
export function* enumerate<T>(items: Iterable<T>): Generator<[number, T]> {
  let i = 0;
  for (const item of items) yield [i++, item];
}

/** A DataLoader that keeps its data as `.dataset`, so `len(loader.dataset)` reads as in PyTorch. */
export type Loader = DataLoader & { dataset: DataLoaderData };

/** PyTorch's DataLoader(dataset, **kwargs), keeping `dataset` on the loader. */
export function dataLoader(dataset: DataLoaderData, kwargs: DataLoaderOptions): Loader {
  return Object.assign(new DataLoader(dataset, kwargs), { dataset });
}

/** len(dataset): the number of samples. */
export function len(dataset: DataLoaderData): number {
  return dataset.y.length;
}

/** torchvision's Normalize((mean,), (std,)) over pixels already in [0, 1] (ToTensor's range): a new array. */
export function normalize(x: Float32Array, mean: number, std: number): Float32Array {
  // NOTE: computed in f32 as torchvision does, (x - mean) / std elementwise, not x·(1/std)
  const out = new Float32Array(x.length);
  const m = Math.fround(mean),
    s = Math.fround(std);
  for (let i = 0; i < x.length; i++) out[i] = Math.fround(x[i]! - m) / s;
  return out;
}

/** output.argmax(dim=1) of an [n, c] tensor: the index of each row's largest value (the first on ties). */
export function argmax(output: Tensor): Int32Array {
  const [n, c] = output.shape as [number, number];
  const v = output.toArray();
  const pred = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (v[i * c + j]! > v[i * c + best]!) best = j;
    pred[i] = best;
  }
  return pred;
}

/** pred.eq(target).sum().item(): how many positions agree. */
export function eqSum(pred: Int32Array, target: Int32Array): number {
  let k = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === target[i]) k++;
  return k;
}
