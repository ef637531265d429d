#!/usr/bin/env bash
# One idempotent set-up step: system packages (apt), node modules, build, model weights.
# Offline-safe: only Debian and the npm registry are used (see ../shared/docs/PLATFORM-NOTES.md).
# On an already set-up machine every step is a cheap check and the whole script takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { [ -n "${ROADSEG_SETUP_QUIET:-}" ] || echo "setup: $*" >&2; }

# --- 1. system packages -------------------------------------------------------------------
# Only the OpenCV modules roadseg uses (the full libopencv-dev is ~1 GB, and the binding would
# compile wrappers for every module); ffmpeg for tests and users' own checks, xvfb for the window sink under
# a virtual display, chromium for the viewer tests, Redis and mosquitto for the fleet and broker sinks
# (the tests start their own on free ports; the packages' services are not needed).
OPENCV_MODULES=(core imgproc imgcodecs videoio highgui)
APT_PACKAGES=(xvfb xauth ffmpeg chromium fonts-dejavu-core redis-server mosquitto mosquitto-clients)
for m in "${OPENCV_MODULES[@]}"; do APT_PACKAGES+=("libopencv-$m-dev"); done
# lavapipe (software Vulkan) for the WebGPU provider needs Mesa 25 from bookworm-backports.
BACKPORTS_PACKAGES=(mesa-vulkan-drivers)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
mesa_ok=1
v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
case "$v" in 2[5-9].*|[3-9][0-9].*) ;; *) mesa_ok=0 ;; esac
if [ ${#missing[@]} -gt 0 ] || [ $mesa_ok = 0 ]; then
  if ! command -v apt-get >/dev/null; then echo "setup: apt-get not found; install ${missing[*]} by hand" >&2; exit 1; fi
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  if [ $mesa_ok = 0 ] && ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # Same mirror as the existing bookworm entry.
    uri=$(grep -rhs -m1 '^URIs:' /etc/apt/sources.list.d/debian.sources | awk '{print $2}')
    uri=${uri:-http://deb.debian.org/debian}
    say "adding bookworm-backports ($uri)"
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" \
      | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
  fi
  say "installing system packages: ${missing[*]} ${BACKPORTS_PACKAGES[*]}"
  $SUDO apt-get update -qq
  [ ${#missing[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ $mesa_ok = 1 ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports "${BACKPORTS_PACKAGES[@]}" >/dev/null
fi

# --- 2. node modules ------------------------------------------------------------------------
stamp=node_modules/.roadseg-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ]; then
  say "installing node modules (builds the OpenCV binding against Debian's OpenCV, ~3 min on 2 cores)"
  # Debian's opencv_modules.hpp declares every OpenCV module, installed or not, and the binding
  # compiles a wrapper for each one declared. An include folder that mirrors Debian's but declares
  # only the modules above builds just those (PLATFORM-NOTES).
  inc="$PWD/build/opencv-include"
  rm -rf "$inc" && mkdir -p "$inc/opencv2"
  for f in /usr/include/opencv4/opencv2/*; do [ "$(basename "$f")" = opencv_modules.hpp ] || ln -s "$f" "$inc/opencv2/"; done
  { echo '#ifndef OPENCV_MODULES_HPP'; echo '#define OPENCV_MODULES_HPP'
    for m in "${OPENCV_MODULES[@]}"; do echo "#define HAVE_OPENCV_${m^^}"; done; echo '#endif'; } > "$inc/opencv2/opencv_modules.hpp"
  export ONNXRUNTIME_NODE_INSTALL=skip OPENCV4NODEJS_DISABLE_AUTOBUILD=1 \
    OPENCV_INCLUDE_DIR="$inc" OPENCV_LIB_DIR=/usr/lib/x86_64-linux-gnu OPENCV_BIN_DIR=/usr/bin JOBS=max
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
  touch "$stamp"
fi

# --- 3. build -------------------------------------------------------------------------------
if [ ! -f dist/.stamp ] || [ -n "$(find src test bench tsconfig.json package.json -newer dist/.stamp -type f 2>/dev/null | head -n1)" ]; then
  say "building (tsc)"
  npx tsc -p tsconfig.json
  mkdir -p dist && touch dist/.stamp
fi

# --- 4. model weights -----------------------------------------------------------------------
node dist/src/cli/main.js models --check >&2

# --- 5. the command on the PATH ---------------------------------------------------------------
# `roadseg` as the README writes it: a link in npm's global bin folder to this checkout's
# bin/roadseg.js (node resolves the link, so the package is found from the checkout).
bindir="$(npm prefix -g)/bin"
if [ "$(readlink -f "$bindir/roadseg" 2>/dev/null)" != "$PWD/bin/roadseg.js" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || [ -w "$bindir" ] || SUDO="sudo"
  if $SUDO ln -sfn "$PWD/bin/roadseg.js" "$bindir/roadseg" 2>/dev/null; then say "linked $bindir/roadseg -> $PWD/bin/roadseg.js"
  else echo "setup: could not link roadseg into $bindir; run it as node bin/roadseg.js" >&2; fi
fi
case ":$PATH:" in *":$bindir:"*) ;; *) echo "setup: $bindir is not on your PATH: add it, or run node bin/roadseg.js" >&2 ;; esac
