#!/usr/bin/env bash
# Builds and runs the Clusterbar menu-bar app (installs what is missing first).
#
# macOS: builds the .app bundle (`tauri build --debug --bundles app`) and runs the app from it. macOS 26
# shows no tray icon for a binary outside an .app bundle (tauri-apps/tray-icon#273, tauri-apps/tauri#13770),
# so `cargo run` would start an invisible app. We exec the binary inside Contents/MacOS rather than `open`
# the .app: it is still the bundle's process (its Info.plist, LSUIElement, bundle id), and its logs stay in
# this terminal and Ctrl-C quits it, as `cargo run` did. `RUN_APP_OPEN=1` uses `open` instead.
# Linux: runs the binary (`cargo run`), as before.
#
# For the test of the macOS branch on Linux (tests/scripts/run-app-test.sh): RUN_APP_OS overrides the OS,
# CLUSTERBAR_SKIP_SETUP=1 skips scripts/setup.sh, TAURI_CLI replaces the Tauri CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
os=${RUN_APP_OS:-$(uname -s)}
[ "${CLUSTERBAR_SKIP_SETUP:-0}" = 1 ] || source scripts/setup.sh
(cd ui && npm run build)

case "$os" in
  Darwin|macos)
    tauri_cli=${TAURI_CLI:-ui/node_modules/.bin/tauri}
    # Debug profile: a release build is for the release workflow. No updater artifacts: they need the
    # private signing key, which only the release environment has (tauri.dev-bundle.conf.json).
    "$tauri_cli" build --debug --bundles app --config src-tauri/tauri.dev-bundle.conf.json
    target_dir=$(cargo metadata --format-version 1 --no-deps \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    app="$target_dir/debug/bundle/macos/Clusterbar.app"
    [ -d "$app" ] || { echo "run-app: no bundle at $app" >&2; exit 1; }
    if [ "${RUN_APP_OPEN:-0}" = 1 ]; then
      exec open -n "$app" --args "$@"
    fi
    # The executable's name is the bundle's CFBundleExecutable (Tauri writes an XML plist).
    exe=$(sed -n '/<key>CFBundleExecutable<\/key>/{n;s/.*<string>\(.*\)<\/string>.*/\1/p;}' "$app/Contents/Info.plist")
    [ -n "$exe" ] && [ -x "$app/Contents/MacOS/$exe" ] \
      || { echo "run-app: no CFBundleExecutable in $app/Contents/Info.plist" >&2; exit 1; }
    echo "run-app: running $app"
    exec "$app/Contents/MacOS/$exe" "$@"
    ;;
  *)
    exec cargo run --locked -p clusterbar-app "$@"
    ;;
esac
