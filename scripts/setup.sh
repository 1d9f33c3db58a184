#!/usr/bin/env bash
# Installs what Clusterbar needs to build (and, with --test, to test) on a fresh macOS or
# Debian/Ubuntu machine. Idempotent: anything already present is left alone.
# Sourced by run-app.sh and test-all.sh; not meant to be called on its own.
set -euo pipefail

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'setup: %s\n' "$*" >&2; exit 1; }

if [ "$(uname -s)" = "Linux" ]; then
  PKGS=(libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev
        build-essential pkg-config file curl ca-certificates)
  if [ "$want_tests" = 1 ]; then
    PKGS+=(xvfb xauth x11-utils webkit2gtk-driver imagemagick dbus dbus-x11 systemd procps)
    # The real llama-server for the token-meter tests (scripts/llama-server.sh), and nginx,
    # the proxy the meter's benchmark compares against.
    PKGS+=(cmake libgomp1 nginx-light)
    # The real exo's test boxes: network namespaces (iproute2), PID/UTS namespaces (util-linux).
    PKGS+=(iproute2 util-linux)
    python3 -m pip --version >/dev/null 2>&1 || PKGS+=(python3-pip)
  fi
  command -v node >/dev/null || PKGS+=(nodejs npm)
  missing=()
  for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    say "Installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
elif [ "$(uname -s)" = "Darwin" ]; then
  xcode-select -p >/dev/null 2>&1 || die "install the Xcode command line tools first: xcode-select --install"
  command -v node >/dev/null || die "install Node.js 20.19 or newer (e.g. brew install node)"
else
  die "unsupported OS $(uname -s): Clusterbar builds on macOS and Debian/Ubuntu"
fi

if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || die "install Rust 1.85 or newer with rustup (https://rustup.rs), then run this again"

# Vite 7 needs Node 20.19+.
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' \
  || die "Node.js $(node --version) is too old: Vite needs 20.19 or newer"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -d "$here/ui/node_modules" ] || [ "$here/ui/package-lock.json" -nt "$here/ui/node_modules/.package-lock.json" ]; then
  say "Installing the UI's npm packages"
  # `npm install`, not `npm ci`: npm 11 leaves other platforms' optional packages (rollup's and the
  # Tauri CLI's native builds) out of the lock file it writes, and then its own `npm ci` refuses that
  # lock as "not in sync". `npm install` still installs the locked versions and leaves the lock as is.
  (cd "$here/ui" && npm install --no-audit --no-fund)
fi
