// Argument checks shared by every public entry: each error names the argument, what was
// expected, and what came.
import { disposedMessage, Tensor } from './tensor';
import { runtime } from './runtime/index';

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (Array.isArray(v)) return `array(${v.length})`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length?: number }).length ?? v.byteLength})`;
  if (typeof v === 'object') {
    const c = (v as object).constructor;
    return typeof c === 'function' ? kindOf(c) : 'object';
  }
  if (typeof v === 'string') return `'${v}'`;
  return `${typeof v} ${String(v)}`;
}

/** Throws unless every key of `obj` is in `allowed`. */
export function checkKeys(where: string, obj: object, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw new TypeError(`${where}: unknown option '${key}' (expected one of ${allowed.join(', ')})`);
  }
}

/** Throws unless `options` is an object whose every key is in `allowed`; returns it. */
export function checkOptions<T extends object>(where: string, options: T, allowed: readonly string[]): T {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${where}: options: expected an object, got ${describe(options)}`);
  }
  checkKeys(where, options, allowed);
  return options;
}

/** Throws unless `t` is a live tensor of the active backend. */
export function checkTensor(where: string, name: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw new TypeError(`${where}: ${name}: expected a Tensor (see tensor()), got ${describe(t)}`);
  if (t.disposed) throw new Error(`${where}: ${name}: ${disposedMessage(t)}`);
  if (t.runtime !== runtime())
    throw new Error(`${where}: ${name}: tensor belongs to backend '${t.runtime.name}', but the active backend is '${runtime().name}'`);
  return t;
}

export function checkBool(where: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${where}: ${name}: expected a boolean, got ${describe(v)}`);
  return v;
}

export function checkPositive(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new RangeError(`${where}: ${name}: expected a finite number > 0, got ${describe(v)}`);
  return v;
}

export function checkUnit(where: string, name: string, v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1))
    throw new RangeError(`${where}: ${name}: expected a number in [0, 1], got ${describe(v)}`);
  return v;
}

export function checkOneOf<T extends string>(where: string, name: string, v: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(v as T))
    throw new TypeError(`${where}: ${name}: expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(v)}`);
  return v as T;
}

/**
 * The public name of a class for error messages: its own static `kind` string (which a minifier
 * leaves alone, unlike `constructor.name`), else its name (a user's subclass without a `kind`).
 */
export function kindOf(cls: unknown): string {
  const c = cls as { kind?: unknown; name?: unknown };
  if (Object.hasOwn(c, 'kind') && typeof c.kind === 'string') return c.kind;
  return typeof c.name === 'string' && c.name !== '' ? c.name : 'anonymous class';
}
