// esbuild's binary loader inlines an .onnx file as its bytes (test/onnx_runtimes.test.ts).
declare module '*.onnx' {
  const bytes: Uint8Array;
  export default bytes;
}
