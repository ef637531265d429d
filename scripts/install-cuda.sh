#!/usr/bin/env bash
# `npm run install:cuda`: installs onnxruntime-node's CUDA execution provider, which is too large
# for the npm package. Its own install script (node_modules/onnxruntime-node/script/install.js)
# downloads the NuGet package Microsoft.ML.OnnxRuntime.Gpu.Linux of the same version from
# api.nuget.org and copies libonnxruntime_providers_{cuda,shared,tensorrt}.so next to the bundled
# libonnxruntime.so.1. Then checks that the libraries the provider loads are on this machine.
#
# Needs: linux/x64; network access to api.nuget.org (a proxy: GLOBAL_AGENT_HTTPS_PROXY=...);
# at run time an NVIDIA driver, CUDA 12.x (cudart, cublas, cublasLt, cufft, curand) and cuDNN 9.x
# for CUDA 12 on the library path (ldconfig or LD_LIBRARY_PATH).
# Usage: scripts/install-cuda.sh [--force]    (--force downloads again even if installed)
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "install:cuda: $*" >&2; }

if [ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]; then
  say "the CUDA provider of onnxruntime-node exists for linux/x64 only (this is $(uname -s)/$(uname -m))"
  exit 1
fi
ort=node_modules/onnxruntime-node
if [ ! -f "$ort/script/install.js" ]; then
  say "$ort is not installed: run \`npm run setup\` first"
  exit 1
fi
bin="$ort/bin/napi-v6/linux/x64"
provider="$bin/libonnxruntime_providers_cuda.so"
version=$(node -p "require('./$ort/package.json').version")

if [ -f "$provider" ] && [ -f "$bin/libonnxruntime_providers_shared.so" ] && [ "${1:-}" != "--force" ]; then
  say "the CUDA provider is already installed in $bin (--force to download it again)"
else
  say "downloading the CUDA provider for onnxruntime-node $version (NuGet Microsoft.ML.OnnxRuntime.Gpu.Linux $version, several hundred MB)"
  if ! ONNXRUNTIME_NODE_INSTALL=cuda12 node "$ort/script/install.js"; then
    say "the download failed: it needs network access to https://api.nuget.org (behind a proxy set GLOBAL_AGENT_HTTPS_PROXY)"
    exit 1
  fi
  for f in libonnxruntime_providers_cuda.so libonnxruntime_providers_shared.so; do
    [ -f "$bin/$f" ] || { say "$f is missing in $bin after the download"; exit 1; }
  done
  say "installed into $bin"
fi

# What the provider will load at run time (ldd follows ldconfig and LD_LIBRARY_PATH).
missing=$( (ldd "$provider" 2>/dev/null || true) | awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')
if [ -n "$missing" ]; then
  say "the provider is installed, but these libraries are not found: $missing"
  say "install CUDA 12.x and cuDNN 9.x for CUDA 12 (or add their lib folders to LD_LIBRARY_PATH); until then --device cuda fails and --device auto falls back"
else
  say "all libraries the provider links against were found"
fi
if ! { [ -e /dev/nvidia0 ] || [ -e /proc/driver/nvidia/version ]; }; then
  say "no NVIDIA GPU or driver on this machine: --device auto will not pick cuda here"
fi
if [ -f dist/src/cli/main.js ]; then node dist/src/cli/main.js models | tail -n 1; fi
