#!/usr/bin/env bash
# GPU benchmark in one go (bench/gpu.ts): bare inference fps of both models on cpu, webgpu and cuda
# (each where it starts), labels agreement with the CPU, and pipeline fps where OpenCV loads.
#
#   scripts/gpu-bench.sh [--quick] [REPORT.md] [bench options]   run (report also on stdout;
#                                         default file out/gpu-bench/report.md)
#   scripts/gpu-bench.sh --pack           prepare out/gpu-bench/ for a GPU machine without network
#
# --pack runs here, on the set-up and built project. A GPU machine may have no node, no
# node_modules (not carried: 460 MB), no OpenCV and no network, so out/gpu-bench/ gets what the
# bare-inference part needs, ~55 MB: runtime.tar.xz (a node binary, the compiled JS, the node
# modules the engine needs with onnxruntime-node's linux/x64 libraries only, both models' weights),
# frames.bin.br (real frames packed as model inputs, so no OpenCV is needed there) and gl/*.deb
# (the Vulkan loader and GL dispatch libraries, unpacked there only if the machine lacks them).
# Carry out/gpu-bench with the working tree (it is under the ignored out/) and run this script.
# The pipeline part needs the OpenCV binding, built against Debian's OpenCV 4.6: where it cannot
# load, the report says so.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bundle=out/gpu-bench
say() { echo "gpu-bench: $*" >&2; }

pack() {
  [ -f node_modules/onnxruntime-node/package.json ] || { say "node_modules missing: run \`npm run setup\` first"; exit 1; }
  say "building (tsc)"
  npx tsc -p tsconfig.json
  mkdir -p "$bundle/gl"
  if [ ! -f "$bundle/frames.bin.br" ]; then node dist/bench/gpu.js --prepare "$bundle/frames.bin.br"; fi
  if ! ls "$bundle"/gl/libvulkan1_*.deb >/dev/null 2>&1; then
    say "downloading the Vulkan loader and GL dispatch packages (apt-get download)"
    (cd "$bundle/gl" && apt-get download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>/dev/null)
  fi
  local stage
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' RETURN
  # Node modules the engine and the bare benchmark load (no OpenCV): checked below by a dry run.
  # onnx-proto and protobufjs make the fp16 weights (--precision fp16) on the GPU machine itself.
  local mods=(onnxruntime-common ndarray iota-array is-buffer zod onnx-proto protobufjs @protobufjs long)
  mkdir -p "$stage/node_modules/onnxruntime-node/bin/napi-v6/linux" "$stage/$bundle/rt" "$stage/$bundle/models"
  cp -a node_modules/onnxruntime-node/package.json node_modules/onnxruntime-node/dist "$stage/node_modules/onnxruntime-node/"
  cp -a node_modules/onnxruntime-node/bin/napi-v6/linux/x64 "$stage/node_modules/onnxruntime-node/bin/napi-v6/linux/"
  for m in "${mods[@]}"; do cp -a "node_modules/$m" "$stage/node_modules/"; done
  (cd "$root" && find dist -type f -name '*.js' | grep -v '^dist/test/') | while read -r f; do mkdir -p "$stage/$(dirname "$f")"; cp "$f" "$stage/$f"; done
  cp "$(readlink -f "$(command -v node)")" "$stage/$bundle/rt/node"
  local weights
  for w in deeplabv3_mnedgetpu_slim_cityscapes_dynbatch.onnx espnetv2_s2.0_cityscapes_1024x512.onnx; do
    weights=$(node -e "const r=require('node:path');const fs=require('node:fs');const d=[process.env.ROADSEG_MODELS_DIR,'models-data','../shared/models'].filter(Boolean).map(x=>r.resolve(x,'$w')).find(p=>fs.existsSync(p));if(!d)process.exit(1);console.log(d)") \
      || { say "weights $w not found (ROADSEG_MODELS_DIR, ./models-data, ../shared/models)"; exit 1; }
    cp "$weights" "$stage/$bundle/models/"
  done
  # Dry run from the staged files alone, the way the GPU machine will see them.
  say "checking the bundle in isolation"
  local check
  check=$(mktemp -d)
  cp -a "$stage/." "$check/"
  cp -a package.json models "$check/"
  mkdir -p "$check/$bundle" && cp "$bundle/frames.bin.br" "$check/$bundle/"
  if ! (cd "$check" && "$check/$bundle/rt/node" dist/bench/gpu.js --quick --devices cpu --no-pipeline --frames "$bundle/frames.bin.br" --models-dir "$bundle/models" >/dev/null 2>"$check/err.log"); then
    say "the bundle does not run on its own:"; cat "$check/err.log" >&2; rm -rf "$check"; exit 1
  fi
  rm -rf "$check"
  say "compressing (xz, about a minute)"
  XZ_OPT="-6 -T0" tar -C "$stage" -cJf "$bundle/runtime.tar.xz" .
  du -sh "$bundle"/* >&2
  local kib
  kib=$(du -sk "$bundle" | cut -f1)
  [ "$kib" -lt 62000 ] || say "warning: $bundle is $((kib / 1024)) MiB; the device tool carries 64 MiB in all"
  say "ready: carry $bundle and run \`bash scripts/gpu-bench.sh \$OUT/gpu-bench.md\`"
}

unpack_runtime() {
  # Only where the project is not installed: never overwrite a developer's node_modules or dist.
  if [ -f node_modules/onnxruntime-node/package.json ] && [ -f dist/bench/gpu.js ]; then return; fi
  [ -f "$bundle/runtime.tar.xz" ] || { say "no node_modules/dist here and no $bundle/runtime.tar.xz: run \`scripts/gpu-bench.sh --pack\` on a set-up machine and carry $bundle"; exit 1; }
  say "unpacking $bundle/runtime.tar.xz (node, compiled JS, onnxruntime-node, weights)"
  if command -v xz >/dev/null; then
    tar -C "$root" -xJf "$bundle/runtime.tar.xz"
  else
    python3 -c "import tarfile,sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" "$bundle/runtime.tar.xz" "$root"
  fi
}

vulkan_loader() {
  if ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; then return; fi
  ls "$bundle"/gl/*.deb >/dev/null 2>&1 || { say "no Vulkan loader here and none carried: webgpu will be unavailable"; return; }
  if [ "$(id -u)" = 0 ] && command -v dpkg >/dev/null; then
    say "installing the carried Vulkan loader (dpkg -x into /)"
    for f in "$bundle"/gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  else
    local dir=/tmp/roadseg-vulkan-$(id -u)
    say "unpacking the carried Vulkan loader into $dir"
    mkdir -p "$dir"
    for f in "$bundle"/gl/*.deb; do dpkg-deb -x "$f" "$dir"; done
    export LD_LIBRARY_PATH="$dir/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
}

nvidia_icd() {
  { [ -e /dev/nvidia0 ] || [ -e /proc/driver/nvidia/version ]; } || return 0
  [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ] || return 0
  local d
  for d in /etc/vulkan/icd.d /usr/share/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
    ls "$d"/nvidia_icd*.json >/dev/null 2>&1 && return 0
  done
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then
      say "NVIDIA's Vulkan driver manifest is outside the loader's search path: VK_DRIVER_FILES=$f"
      export VK_DRIVER_FILES="$f" VK_ICD_FILENAMES="$f"
      return 0
    fi
  done
}

nvidia_libs() {
  # The NVIDIA ICD names its library without a path: make sure the loader can find it.
  local d
  for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
    [ -d "$d" ] && case ":${LD_LIBRARY_PATH:-}:" in *":$d:"*) ;; *) export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d" ;; esac
  done
  return 0
}

diagnose_webgpu() {
  # Only when webgpu did not start: what the Vulkan loader says, for the report's reader.
  local model
  model=$(ls "$bundle"/models/deeplabv3_mnedgetpu_slim_cityscapes_dynbatch.onnx ../shared/models/deeplabv3_mnedgetpu_slim_cityscapes_dynbatch.onnx 2>/dev/null | head -n1)
  [ -n "$model" ] || return 0
  say "webgpu did not start: Vulkan loader diagnostics follow"
  for f in ${VK_DRIVER_FILES:-} /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done 2>/dev/null | head -40 >&2
  VK_LOADER_DEBUG=error,warn,driver "$NODE" -e "import('onnxruntime-node').then(async (ort) => { try { await ort.InferenceSession.create('$model', { executionProviders: ['webgpu'] }); console.log('webgpu session: ok'); } catch (e) { console.log('webgpu session:', e.message); } process.exit(0); })" 2>&1 | grep -v '^$' | head -60 >&2 || true
}

if [ "${1:-}" = "--pack" ]; then pack; exit 0; fi

quick=()
if [ "${1:-}" = "--quick" ]; then quick=(--quick); shift; fi
report="$bundle/report.md"
if [ $# -gt 0 ] && [[ "$1" != --* ]]; then report="$1"; shift; fi

unpack_runtime
vulkan_loader
nvidia_icd
if [ -e /dev/nvidia0 ] || [ -e /proc/driver/nvidia/version ]; then nvidia_libs; fi
NODE=node
if [ -x "$bundle/rt/node" ] && ! { command -v node >/dev/null && node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; }; then NODE="$root/$bundle/rt/node"; fi
opts=()
[ -f "$bundle/frames.bin.br" ] && opts+=(--frames "$bundle/frames.bin.br")
[ -f "$bundle/models/deeplabv3_mnedgetpu_slim_cityscapes_dynbatch.onnx" ] && opts+=(--models-dir "$bundle/models")
[ ${#quick[@]} -gt 0 ] || opts+=(--layouts)
say "node $("$NODE" --version) ($NODE); $(uname -srm)"
command -v nvidia-smi >/dev/null && nvidia-smi -L >&2 || say "nvidia-smi: none"
say "Vulkan loader: $(ldconfig -p 2>/dev/null | grep -m1 -o 'libvulkan\.so\.1 .*' || echo "${LD_LIBRARY_PATH:-none}")"
export OPENCV_LOG_LEVEL=ERROR
"$NODE" dist/bench/gpu.js "${quick[@]}" "${opts[@]}" --json "${report%.md}.json" "$@" "$report"
if grep -q '| webgpu | | | | | unavailable' "$report" && [ -n "$(ls /dev/nvidia0 /dev/dri/renderD* 2>/dev/null)" ]; then diagnose_webgpu; fi
