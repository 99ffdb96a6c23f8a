// The published declarations stand on their own: a consumer compiles them with skipLibCheck off under
// the ES2022 library alone (no DOM, no Node types), with DOM, and with Node's types; a layout a
// BatchNorm class cannot take is a type error.
import { describe, expect, it } from 'vitest';
import ts from 'typescript';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const TYPES = resolve(__dirname, '../build/types/index');

const CONSUMER = `
import { init, tensor, F, noGrad, BatchNorm1d, BatchNorm2d, Linear, SGD, DataLoader, type Tensor } from ${JSON.stringify(TYPES)};
export async function main(): Promise<number> {
  await init({ backend: 'js' });
  const fc = new Linear(4, 2);
  const bn = new BatchNorm2d(2, { layout: 'NHWC' });
  const x: Tensor = tensor([1, 2, 3, 4], [1, 4], { requiresGrad: true });
  const loss = F.mseLoss(F.linear(x, fc.weight, fc.bias), tensor([0, 1], [1, 2]));
  loss.backward();
  new SGD(fc.parameters(), { lr: 0.1 }).step();
  noGrad(() => F.relu(x));
  void bn; void DataLoader;
  // @ts-expect-error BatchNorm2d takes NCHW or NHWC, not NCL
  new BatchNorm2d(2, { layout: 'NCL' });
  // @ts-expect-error BatchNorm1d takes NCL or NLC
  new BatchNorm1d(2, { layout: 'NHWC' });
  return loss.item();
}
`;

function compile(lib: string[], types: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'bn-types-'));
  const file = join(dir, 'consumer.ts');
  writeFileSync(file, CONSUMER);
  const program = ts.createProgram([file], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: lib.map((l) => `lib.${l}.d.ts`),
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    types,
    typeRoots: [resolve(__dirname, '../node_modules/@types')],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('the .d.ts files on their own', () => {
  it('compile with only the ES2022 library and skipLibCheck off', () => {
    expect(compile(['es2022'], [])).toEqual([]);
  });
  it('compile beside the DOM library', () => {
    expect(compile(['esnext', 'dom'], [])).toEqual([]);
  });
  it("compile beside Node's types", () => {
    expect(compile(['esnext'], ['node'])).toEqual([]);
  });
});
