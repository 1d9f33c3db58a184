#!/usr/bin/env bash
# Tests scripts/run-app.sh's macOS branch on any machine: it must build the .app bundle with the Tauri CLI
# and run the binary inside it (macOS 26 shows no tray icon for a bare binary), never `cargo run`.
# Only what needs a Mac is stubbed: the Tauri CLI (which writes a bundle as its macOS bundler lays it out),
# and cargo and npm, which log their calls. The launched "app" records its path and arguments.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/target"
log="$tmp/calls.log"
fail() { echo "run-app-test: FAIL: $*" >&2; echo "--- calls:" >&2; cat "$log" >&2 || true; exit 1; }

cat > "$tmp/bin/cargo" <<EOF
#!/usr/bin/env bash
echo "cargo \$*" >> "$log"
if [ "\$1" = metadata ]; then echo '{"target_directory": "$tmp/target"}'; exit 0; fi
exit 0
EOF
cat > "$tmp/bin/npm" <<EOF
#!/usr/bin/env bash
echo "npm \$* (in \$PWD)" >> "$log"
EOF
# The stub Tauri CLI lays out the bundle as tauri-bundler does on macOS: Info.plist + Contents/MacOS/<exe>.
cat > "$tmp/bin/tauri" <<EOF
#!/usr/bin/env bash
echo "tauri \$*" >> "$log"
app="$tmp/target/debug/bundle/macos/Clusterbar.app/Contents"
mkdir -p "\$app/MacOS"
cat > "\$app/Info.plist" <<'PLIST'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0">
<dict>
	<key>CFBundleExecutable</key>
	<string>clusterbar-app</string>
	<key>LSUIElement</key>
	<true/>
</dict>
</plist>
PLIST
printf '#!/usr/bin/env bash\necho "launched \$0 \$*" >> "$log"\n' > "\$app/MacOS/clusterbar-app"
chmod +x "\$app/MacOS/clusterbar-app"
EOF
chmod +x "$tmp/bin/"*

PATH="$tmp/bin:$PATH" RUN_APP_OS=macos CLUSTERBAR_SKIP_SETUP=1 TAURI_CLI="$tmp/bin/tauri" \
  "$root/scripts/run-app.sh" --flag-for-the-app > "$tmp/out" 2>&1 || { cat "$tmp/out"; fail "run-app.sh exited non-zero"; }

grep -q "^npm run build (in $root/ui)" "$log" || fail "the UI was not built"
grep -q '^tauri build --debug --bundles app --config src-tauri/tauri.dev-bundle.conf.json$' "$log" \
  || fail "no 'tauri build --debug --bundles app' (without updater artifacts)"
grep -q "^launched $tmp/target/debug/bundle/macos/Clusterbar.app/Contents/MacOS/clusterbar-app --flag-for-the-app$" "$log" \
  || fail "the bundle's binary was not launched (with the arguments)"
! grep -q '^cargo run' "$log" || fail "the macOS branch ran 'cargo run'"
[ "$(grep -n '^tauri build' "$log" | cut -d: -f1)" -lt "$(grep -n '^launched' "$log" | cut -d: -f1)" ] \
  || fail "launched before the bundle was built"

# And the Linux branch still runs the binary with cargo.
: > "$log"
PATH="$tmp/bin:$PATH" RUN_APP_OS=Linux CLUSTERBAR_SKIP_SETUP=1 TAURI_CLI="$tmp/bin/tauri" \
  "$root/scripts/run-app.sh" > "$tmp/out" 2>&1 || { cat "$tmp/out"; fail "run-app.sh (Linux) exited non-zero"; }
grep -q '^cargo run --locked -p clusterbar-app$' "$log" || fail "the Linux branch did not 'cargo run' the app"
! grep -q '^tauri' "$log" || fail "the Linux branch built a bundle"
echo "run-app-test: ok (macOS branch builds the bundle and runs Contents/MacOS/clusterbar-app; Linux runs cargo)"
