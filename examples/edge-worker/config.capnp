# workerd config for the edge-worker example: serves dist/worker.js on 127.0.0.1:8787.
#   node examples/edge-worker/build.mjs && npx workerd serve examples/edge-worker/config.capnp
# Another address: add `--socket-addr http=127.0.0.1:9000`. Paths below are relative to this file.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "digits", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "digits") ],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "dist/worker.js"),
    # the library's two builds, imported by build/workerd.js as "./batchnorm-simd.wasm" and "./batchnorm.wasm"
    (name = "batchnorm-simd.wasm", wasm = embed "../../build/batchnorm-simd.wasm"),
    (name = "batchnorm.wasm", wasm = embed "../../build/batchnorm.wasm"),
    (name = "model.safetensors", data = embed "model.safetensors"),
    (name = "resnet.onnx", data = embed "resnet.onnx"),
  ],
  compatibilityDate = "2026-11-01",
);
