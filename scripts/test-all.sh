#!/usr/bin/env bash
# Runs every Clusterbar test, installing what is missing first. On Linux this includes the
# real app under Xvfb (WebDriver) and its tray menu over D-Bus; on macOS, where no WebDriver
# exists for desktop apps, those two steps are skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh --test
export CARGO_INCREMENTAL=0
export PATH="$HOME/.cargo/bin:$PATH"
mkdir -p target/ci
# Honour CARGO_TARGET_DIR (a shared build cache) for the binaries the scripts run.
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export TAURI_APP_BIN="$target_dir/debug/clusterbar-app"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Formatting"
cargo fmt --all -- --check

step "Real OpenAI-compatible server for the meter tests (llama-server + SmolLM2, cached outside the clone)"
# Built once from the llama-cpp-python sdist (~12 min on 2 cores), then reused; see scripts/llama-server.sh.
# On macOS it needs cmake (brew install cmake); without it the real-server tests say they were skipped.
if [ "$(uname -s)" = "Linux" ] || command -v cmake >/dev/null; then
  paths=$(scripts/llama-server.sh -j"$(nproc)")
  eval "$(printf '%s\n' "$paths" | grep -E '^LLAMA_(SERVER_BIN|MODEL)=/' | sed 's/^/export /')"
  echo "llama-server: ${LLAMA_SERVER_BIN:?scripts/llama-server.sh printed no LLAMA_SERVER_BIN}"
else
  printf '\n\033[1;33m!!! no cmake: the real llama-server is not built and its tests will say they were skipped. !!!\033[0m\n\n'
fi

step "Core and CLI tests (no GTK needed)"
cargo test --locked

step "UI: type-check, unit tests, build"
(cd ui && npm run build && npm test)

step "Build the app"
cargo build --locked -p clusterbar-app

step "Workspace tests (app commands through tauri::test's MockRuntime)"
cargo test --locked --workspace

step "Clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings

step "macOS type-check (aarch64-apple-darwin)"
scripts/check-macos.sh

if [ "$(uname -s)" = "Linux" ]; then
  step "End-to-end: the real popover under Xvfb (tauri-driver + WebKitWebDriver)"
  command -v tauri-driver >/dev/null || cargo install tauri-driver --locked
  timeout 900 xvfb-run -a -s "-screen 0 1280x900x24" \
    cargo test --locked --workspace -- --ignored --test-threads=1
  echo "screenshots: $(ls target/ci/*.png | tr '\n' ' ')"

  step "Tray menu over D-Bus"
  timeout 180 xvfb-run -a dbus-run-session -- scripts/tray-menu-test.sh "$TAURI_APP_BIN"
else
  step "End-to-end and tray tests need Linux (no desktop WebDriver on macOS): skipped"
fi

printf '\nAll tests passed.\n'
