#!/usr/bin/env bash
# scripts/bench-bodies.sh DIR: writes the request bodies that scripts/bench-http.sh and
# scripts/bench-instructions.sh send — the seed's iris row in every protocol — into DIR:
#   seldon.json  {"data":{"ndarray":[[5.1,3.5,1.4,0.2]]}}
#   v2.json      the same row as V2 JSON
#   v2.bin       the same, as the V2 binary tensor extension (JSON header + 32 raw bytes)
#   seldon.grpc  / v2.grpc: length-prefixed protobuf messages (written out byte by byte so the scripts need no
#                protobuf tooling): SeldonMessage{data{ndarray[[5.1,3.5,1.4,0.2]]}} and
#                ModelInferRequest{model_name:"classifier", inputs[{input-0, FP64, [1,4], fp64_contents}]}.
#   tf.json      {"instances":[[5.1,3.5,1.4,0.2]]} (TF Serving REST's row form)
# Prints the V2 binary body's JSON header length (the Inference-Header-Content-Length value).
set -euo pipefail
dir=$1
printf '{"data":{"ndarray":[[5.1,3.5,1.4,0.2]]}}' >"$dir/seldon.json"
printf '{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP64","data":[5.1,3.5,1.4,0.2]}]}' >"$dir/v2.json"
printf '{"instances":[[5.1,3.5,1.4,0.2]]}' >"$dir/tf.json"
header='{"inputs":[{"name":"input-0","shape":[1,4],"datatype":"FP64","parameters":{"binary_data_size":32}}]}'
{ printf '%s' "$header"
  printf '\x66\x66\x66\x66\x66\x66\x14\x40\x00\x00\x00\x00\x00\x00\x0c\x40\x66\x66\x66\x66\x66\x66\xf6\x3f\x9a\x99\x99\x99\x99\x99\xc9\x3f'
} >"$dir/v2.bin"
printf '\x00\x00\x00\x00\x34\x1a\x32\x1a\x30\x0a\x2e\x32\x2c\x0a\x09\x11\x66\x66\x66\x66\x66\x66\x14\x40\x0a\x09\x11\x00\x00\x00\x00\x00\x00\x0c\x40\x0a\x09\x11\x66\x66\x66\x66\x66\x66\xf6\x3f\x0a\x09\x11\x9a\x99\x99\x99\x99\x99\xc9\x3f' >"$dir/seldon.grpc"
printf '\x00\x00\x00\x00\x45\x0a\x0a\x63\x6c\x61\x73\x73\x69\x66\x69\x65\x72\x2a\x37\x0a\x07\x69\x6e\x70\x75\x74\x2d\x30\x12\x04\x46\x50\x36\x34\x1a\x02\x01\x04\x2a\x22\x3a\x20\x66\x66\x66\x66\x66\x66\x14\x40\x00\x00\x00\x00\x00\x00\x0c\x40\x66\x66\x66\x66\x66\x66\xf6\x3f\x9a\x99\x99\x99\x99\x99\xc9\x3f' >"$dir/v2.grpc"
printf '%s\n' "${#header}"
