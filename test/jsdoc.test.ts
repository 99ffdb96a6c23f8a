// Every public name carries its documentation: read the built declarations (build/types, from
// `npm run build:js`) with the TypeScript compiler and list each exported class, function, constant,
// interface and type alias, each public member of an exported class (and of the unexported base
// classes they extend) and each property of an exported interface that has no JSDoc. Private (#x,
// `private`), protected and @internal members are exempt, and so is the constructor of a documented
// class. A member that overrides a documented one inherits its doc, as editors show it.
import { describe, expect, it } from 'vitest';
import ts from 'typescript';
import { relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../build/types');
// The node entry re-exports index (`export * from '../index'`) and adds no public names;
// `batchnorm-wasm/onnx` is typed by onnx/index.d.ts.
const ENTRIES = [resolve(ROOT, 'index.d.ts'), resolve(ROOT, 'onnx/index.d.ts')];

function hasDoc(symbol: ts.Symbol, checker: ts.TypeChecker): boolean {
  if (symbol.getDocumentationComment(checker).length > 0) return true;
  return (symbol.declarations ?? []).some((d) => ts.getJSDocCommentsAndTags(d).length > 0);
}

function isInternal(node: ts.Node): boolean {
  return ts.getJSDocTags(node).some((t) => t.tagName.text === 'internal');
}

function isExempt(member: ts.ClassElement | ts.TypeElement): boolean {
  if (member.name && ts.isPrivateIdentifier(member.name)) return true;
  const flags = ts.getCombinedModifierFlags(member as unknown as ts.Declaration);
  if (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) return true;
  return isInternal(member);
}

function fileOf(node: ts.Node): string {
  return relative(ROOT, node.getSourceFile().fileName).replace(/\.d\.ts$/, '.ts');
}

function missingDocs(): { missing: string[]; checked: string[] } {
  const program = ts.createProgram(ENTRIES, {
    target: ts.ScriptTarget.ES2022,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const missing = new Set<string>();
  const checked = new Set<string>();
  const check = (name: string, ok: boolean): void => {
    checked.add(name);
    if (!ok) missing.add(name);
  };
  const seen = new Set<ts.Symbol>();

  const visit = (exported: ts.Symbol, prefix: string): void => {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    if (seen.has(symbol)) return;
    seen.add(symbol);
    const decls = symbol.declarations ?? [];
    if (decls.length === 0) return;
    const name = prefix + exported.getName();
    if (symbol.flags & ts.SymbolFlags.Module && decls.some((d) => ts.isSourceFile(d) || ts.isModuleDeclaration(d))) {
      // `export * as F`: the namespace's own functions and types are public too
      for (const inner of checker.getExportsOfModule(symbol)) visit(inner, name + '.');
      return;
    }
    const kinds =
      ts.SymbolFlags.Class | ts.SymbolFlags.Function | ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Variable;
    if (!(symbol.flags & kinds)) return;
    if (decls.every(isInternal)) return;
    const documented = hasDoc(symbol, checker);
    check(`${fileOf(decls[0])}: ${name}`, documented);
    for (const decl of decls) {
      if (!ts.isClassDeclaration(decl) && !ts.isInterfaceDeclaration(decl)) continue;
      // an unexported base class (Loss, Scheduler, Pool2d…) is public through its subclasses
      for (const clause of decl.heritageClauses ?? []) {
        if (clause.token !== ts.SyntaxKind.ExtendsKeyword || !ts.isClassDeclaration(decl)) continue;
        const base = checker.getSymbolAtLocation(clause.types[0].expression);
        if (base) visit(base, '');
      }
      const members = new Map<string, ts.NamedDeclaration[]>();
      for (const member of decl.members as ts.NodeArray<ts.ClassElement | ts.TypeElement>) {
        if (ts.isIndexSignatureDeclaration(member) || ts.isClassStaticBlockDeclaration(member)) continue;
        if (ts.isInterfaceDeclaration(decl) && !ts.isPropertySignature(member) && !ts.isMethodSignature(member)) continue;
        if (ts.isConstructorDeclaration(member)) {
          check(`${fileOf(decl)}: ${name}.constructor`, documented || ts.getJSDocCommentsAndTags(member).length > 0);
          continue;
        }
        if (isExempt(member) || !member.name) continue;
        const key =
          (ts.isClassElement(member) && ts.getCombinedModifierFlags(member) & ts.ModifierFlags.Static ? 'static ' : '') +
          member.name.getText();
        members.set(key, [...(members.get(key) ?? []), member]);
      }
      for (const [key, group] of members) {
        // accessor pairs and overloads count as documented when one of them is
        const memberSymbol = checker.getSymbolAtLocation(group[0].name!);
        const ok = (memberSymbol && hasDoc(memberSymbol, checker)) || group.some((m) => ts.getJSDocCommentsAndTags(m).length > 0);
        check(`${fileOf(decl)}: ${name}.${key.replace(/^static /, '')}`, !!ok);
      }
    }
  };

  for (const entry of ENTRIES) {
    const source = program.getSourceFile(entry);
    if (!source) throw new Error(`jsdoc.test: ${entry} not found; run npm run build:js first`);
    const moduleSymbol = checker.getSymbolAtLocation(source)!;
    for (const exported of checker.getExportsOfModule(moduleSymbol)) visit(exported, '');
  }
  return { missing: [...missing].sort(), checked: [...checked] };
}

describe('JSDoc on the public API', () => {
  const { missing, checked } = missingDocs();
  it('sees the public API: classes and their members, options, F functions, unexported base classes', () => {
    for (const name of [
      'nn/linear.ts: Linear.weight',
      'nn/batchnorm.ts: BatchNorm.runningVar',
      'optim/optimizers.ts: SGDOptions.lr',
      'optim/optimizers.ts: Optimizer.lr',
      'autograd/losses.ts: F.crossEntropy',
      'tensor.ts: Tensor.backward',
      'onnx/load.ts: loadOnnx',
      'onnx/ir.ts: OnnxModel.initializers',
    ])
      expect(checked).toContain(name);
  });
  it('every exported class, function, constant, interface and type alias, and their public members, has a doc comment', () => {
    expect(missing.join('\n')).toBe('');
  });
});
