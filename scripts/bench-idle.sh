#!/usr/bin/env bash
# The menu-bar app's own cost, which users measure: CPU share and wake-ups per second of the
# app and its web view, with the popover closed and open, over a fixed window. Prints figures;
# asserts nothing (a noisy machine must not fail a build). Linux, under Xvfb:
#   xvfb-run -a scripts/bench-idle.sh [seconds] [app-binary]
# Goal (README): closed < 0.1 % of a core and < 1 wake-up/s.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
bin=${2:-target/debug/clusterbar-app}
hz=$(getconf CLK_TCK)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# CPU ticks and context switches (voluntary + involuntary: each is a wake-up or preemption)
# summed over every thread of the app and its WebKit children.
sample() {
  local ticks=0 switches=0 pid t
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] || continue
    t=$(awk '{print $14 + $15}' "/proc/$pid/stat")
    ticks=$((ticks + t))
    for task in /proc/"$pid"/task/*; do
      s=$(awk '/ctxt_switches/ {n += $2} END {print n + 0}' "$task/status" 2>/dev/null || echo 0)
      switches=$((switches + s))
    done
  done
  echo "$ticks $switches"
}

measure() { # label, env-assignments...
  local label=$1; shift
  env "$@" CLUSTERBAR_CONFIG_DIR="$work/config-$label" CLUSTERBAR_LOG_DIR="$work/logs" "$bin" >/dev/null 2>&1 &
  local app=$!
  sleep 8 # start-up and first paint are not idle
  local pids="$app $(pgrep -P "$app" | tr '\n' ' ')"
  if [ "$use_perf" = 1 ]; then
    # perf counts CPU time exactly (not in 10 ms ticks) and keeps counting threads that exit
    # during the window, whose /proc counters would vanish.
    local out cpu_ms switches
    out=$(perf stat -x, -e task-clock,context-switches -p "$(echo $pids | tr ' ' ',')" -- sleep "$secs" 2>&1 >/dev/null)
    cpu_ms=$(printf '%s\n' "$out" | awk -F, '/task-clock/ {print $1}')
    switches=$(printf '%s\n' "$out" | awk -F, '/context-switches/ {print $1}')
    kill "$app"; wait "$app" 2>/dev/null || true
    python3 - "$label" "$cpu_ms" "$switches" "$secs" <<'PY'
import sys
label, cpu_ms, switches, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
print(f"{label:<16} CPU {cpu_ms / 10 / secs:6.3f} % of a core   wake-ups {switches / secs:7.2f} /s   (over {secs:.0f} s, perf: {cpu_ms:.1f} ms CPU)")
PY
    return
  fi
  # shellcheck disable=SC2086
  read -r t0 s0 < <(sample $pids)
  sleep "$secs"
  # shellcheck disable=SC2086
  read -r t1 s1 < <(sample $pids)
  kill "$app"; wait "$app" 2>/dev/null || true
  python3 - "$label" "$((t1 - t0))" "$((s1 - s0))" "$secs" "$hz" <<'PY'
import sys
label, ticks, switches, secs, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
cpu = ticks / hz / secs * 100
print(f"{label:<16} CPU {cpu:6.3f} % of a core   wake-ups {switches / secs:7.2f} /s   (over {secs:.0f} s, {ticks} ticks; threads that exit are not counted)")
PY
}

use_perf=0
perf stat -e task-clock true >/dev/null 2>&1 && use_perf=1

echo "Clusterbar app idle cost ($bin, ${secs}s windows)"
measure popover-closed
measure popover-open CLUSTERBAR_SHOW=1
