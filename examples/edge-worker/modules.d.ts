// The Worker's non-JS imports: config.capnp makes model.safetensors a `data` module (an ArrayBuffer).
declare module '*.safetensors' {
  const bytes: ArrayBuffer;
  export default bytes;
}

// config.capnp makes resnet.onnx a `data` module too.
declare module '*.onnx' {
  const bytes: ArrayBuffer;
  export default bytes;
}
