#!/usr/bin/env bash
# Inspects the Linux bundle `tauri build --bundles deb` made (scripts/test-all.sh builds it): the package's
# control fields, the binary, the .desktop file and the icons. It proves on Linux what the macOS bundle
# shares with it: tauri.conf.json's bundle section (identity, version, icons) is valid and complete.
# Usage: tests/scripts/deb-test.sh PATH.deb
set -euo pipefail
deb=${1:?usage: deb-test.sh PATH.deb}
root="$(cd "$(dirname "$0")/../.." && pwd)"
fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }
[ -f "$deb" ] || fail "no package at $deb"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/Cargo.toml" | head -1)
info=$(dpkg-deb -I "$deb")
field() { printf '%s\n' "$info" | sed -n "s/^ $1: //p"; }
[ "$(field Package)" = clusterbar ] || fail "Package is '$(field Package)', not clusterbar"
[ "$(field Version)" = "$version" ] || fail "Version is '$(field Version)', the workspace's is $version"
for dep in libwebkit2gtk-4.1-0 libayatana-appindicator3-1 libgtk-3-0; do
  field Depends | grep -q "$dep" || fail "Depends lacks $dep: $(field Depends)"
done

listing=$(dpkg-deb -c "$deb")
has() { printf '%s\n' "$listing" | grep -qE "$1" || fail "the package has no $2 ($1)"; }
has '^-rwxr-xr-x .* (\./)?usr/bin/clusterbar-app$' "executable binary"
has ' (\./)?usr/share/applications/Clusterbar\.desktop$' ".desktop file"
for size in 32x32 128x128 256x256@2; do
  has " (\./)?usr/share/icons/hicolor/$size/apps/clusterbar-app\.png$" "$size icon"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
desktop="$tmp/usr/share/applications/Clusterbar.desktop"
for line in 'Exec=clusterbar-app' 'Icon=clusterbar-app' 'Name=Clusterbar' 'Type=Application'; do
  grep -qx "$line" "$desktop" || fail "Clusterbar.desktop lacks '$line'"
done
for size in 32 128; do
  f="$tmp/usr/share/icons/hicolor/${size}x${size}/apps/clusterbar-app.png"
  file "$f" | grep -q "PNG image data, $size x $size" || fail "the ${size}px icon is not a ${size}x${size} PNG: $(file -b "$f")"
done
# The packaged binary is this platform's executable, not a placeholder.
file "$tmp/usr/bin/clusterbar-app" | grep -q ELF || fail "usr/bin/clusterbar-app is not an ELF binary"
echo "deb-test: ok ($(basename "$deb"): $(field Package) $(field Version), binary, desktop file, icons)"
