// Declarations the entries need without pulling every Node or platform type into src/.

// What a static .wasm import gives in workerd (and in wrangler's bundle): a compiled Module.
declare module '*.wasm' {
  const module: WebAssembly.Module;
  export default module;
}

// The one Node function the node entry calls (tsconfig loads no @types/node).
declare module 'node:fs/promises' {
  export function readFile(path: URL): Promise<Uint8Array<ArrayBuffer>>;
}
