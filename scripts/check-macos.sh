#!/usr/bin/env bash
# Type-checks (and lints) the macOS code from any machine: cargo clippy --target aarch64-apple-darwin.
# cargo check never links, so a stand-in C compiler (scripts/fake-cc) satisfies cc-based
# build scripts. Without the target's standard library (rustup cannot reach its server on
# some machines) this says so loudly and does not fail the run.
set -uo pipefail
cd "$(dirname "$0")/.."
target=aarch64-apple-darwin
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  timeout 120 rustup target add "$target" >/dev/null 2>&1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
  printf '\n\033[1;33m!!! MACOS TYPE-CHECK SKIPPED: the %s standard library is not installed and rustup could not fetch it. !!!\033[0m\n\n' "$target"
  exit 0
fi
set -e
export CC_aarch64_apple_darwin="$PWD/scripts/fake-cc" AR_aarch64_apple_darwin=ar
# Clippy, not just check: the macOS-only code gets the same lints as the rest.
cargo clippy --locked --target "$target" -p clusterbar-core -p clusterbar -p clusterbar-app -- -D warnings
