#!/usr/bin/env bash
# Regenerates src/onnx/onnx_pb.ts, the @bufbuild/protobuf schema of ONNX's ModelProto, from
# scripts/onnx/onnx.proto (ONNX's onnx/onnx.proto, Apache-2.0, with its comments removed to keep the
# generated file small). The generated module decodes and encodes by reflection over an embedded
# descriptor: no code generation at run time (workerd forbids eval and new Function).
# Dev-time only; the output is committed. Pinned versions, fetched from the npm registry by npx.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$(npm exec --yes --package=@bufbuild/protoc-gen-es@2.17.0 -- sh -c 'dirname "$(command -v protoc-gen-es)"'):$PATH"
npx --yes @bufbuild/buf@1.75.0 generate
# drop the per-field `@generated from field` doc blocks: the types say the same in a third of the lines
node -e "const f='../../src/onnx/onnx_pb.ts',fs=require('fs');fs.writeFileSync(f,fs.readFileSync(f,'utf8').replace(/^ *\/\*\*\n( *\*.*\n)*? *\* @generated from (field|enum value)[^\n]*\n *\*\/\n/gm,''))"
npx prettier --write ../../src/onnx/onnx_pb.ts
