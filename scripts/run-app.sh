#!/usr/bin/env bash
# Builds and runs the Clusterbar menu-bar app (installs what is missing first).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
(cd ui && npm run build)
exec cargo run --locked -p clusterbar-app "$@"
