#!/usr/bin/env bash
# Regenerates the tray template icons and the app icon source with ImageMagick.
# Template images are black on transparent; macOS tints them for light/dark menu bars.
# The glyph is three stacked boxes (the Macs of a cluster):
#   running = filled, stopped = outlined, degraded = filled with a "!" badge cut out.
set -euo pipefail
cd "$(dirname "$0")/.."
out=icons/tray
mkdir -p "$out"
boxes_filled="roundrectangle 6,4 30,13 3,3 roundrectangle 6,17 30,26 3,3 roundrectangle 6,30 30,39 3,3"
draw() { # name, draw-args...
  local name=$1; shift
  convert -size 44x44 xc:none "$@" "PNG32:$out/$name@2x.png"
  convert "$out/$name@2x.png" -resize 22x22 "PNG32:$out/$name.png"
}
draw running -fill black -draw "$boxes_filled"
draw stopped -fill none -stroke black -strokewidth 3 -draw "$boxes_filled"
draw degraded -fill black -draw "$boxes_filled" \
  -fill black -draw "circle 35,33 35,43" \
  -channel A -fx "(i>=33&&i<=37&&j>=26&&j<=35)||(i>=33&&i<=37&&j>=38&&j<=41)?0:a" +channel
# App icon: white glyph on a dark rounded square, 1024 px; `tauri icon` turns it into the set.
convert -size 1024x1024 xc:none -fill "#1d2b3a" -draw "roundrectangle 64,64 960,960 180,180" \
  -fill "#7fd1ae" -draw "roundrectangle 272,200 752,380 40,40 roundrectangle 272,422 752,602 40,40 roundrectangle 272,644 752,824 40,40" \
  PNG32:icons/app-icon.png
echo "icons written to $out and icons/app-icon.png"
