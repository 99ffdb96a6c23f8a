// The Worker's non-JS imports: config.capnp makes model.safetensors a `data` module (an ArrayBuffer).
declare module '*.safetensors' {
  const bytes: ArrayBuffer;
  export default bytes;
}
