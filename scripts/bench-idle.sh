#!/usr/bin/env bash
# The menu-bar app's own cost, which users measure: CPU share and wake-ups per second of the
# app and its web view, with the popover closed and open, over a fixed window, and the time
# to open it (show request → the page's first painted frame with a snapshot, as the app logs
# it). Both designs of the popover's web view, side by side: `kept` (created at start, hidden
# between opens) and `on-demand` (created on show, destroyed on hide), chosen by
# CLUSTERBAR_POPOVER_WEBVIEW; and the kept design with the history recorder off
# (CLUSTERBAR_HISTORY=off), so recording's own cost shows as the difference. Prints figures; asserts nothing (a noisy machine must not fail a
# build). Linux, under Xvfb (a D-Bus session is started if there is none: the popover is opened
# and closed through a second launch, which the single-instance plugin hands over over D-Bus):
#   xvfb-run -a scripts/bench-idle.sh [seconds] [app-binary]
# Goal (README): closed < 0.1 % of a core and < 1 wake-up/s; open in < 150 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ] && command -v dbus-run-session >/dev/null; then
  exec dbus-run-session -- "$0" "$@"
fi
secs=${1:-30}
bin=${2:-target/debug/clusterbar-app}
opens=${OPENS:-5} # time-to-open samples per design
hz=$(getconf CLK_TCK)
work=$(mktemp -d)
app=""
trap '[ -n "$app" ] && kill "$app" 2>/dev/null; rm -rf "$work"' EXIT

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

# Prints one line of figures for the app and its WebKit children as they are now.
measure() { # label
  local label=$1
  # shellcheck disable=SC2086
  local pids="$app $(pgrep -P "$app" | tr '\n' ' ')"
  if [ "$use_perf" = 1 ]; then
    # perf counts CPU time exactly (not in 10 ms ticks) and keeps counting threads that exit
    # during the window, whose /proc counters would vanish.
    local out cpu_ms switches
    # shellcheck disable=SC2086
    out=$(perf stat -x, -e task-clock,context-switches -p "$(echo $pids | tr ' ' ',')" -- sleep "$secs" 2>&1 >/dev/null)
    cpu_ms=$(printf '%s\n' "$out" | awk -F, '/task-clock/ {print $1}')
    switches=$(printf '%s\n' "$out" | awk -F, '/context-switches/ {print $1}')
    python3 - "$label" "$cpu_ms" "$switches" "$secs" "$(echo $pids | wc -w)" <<'PY'
import sys
label, cpu_ms, switches, secs, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
print(f"  {label:<22} CPU {cpu_ms / 10 / secs:6.3f} % of a core   wake-ups {switches / secs:7.2f} /s   ({n} processes, {secs:.0f} s, perf: {cpu_ms:.1f} ms CPU)")
PY
    return
  fi
  # shellcheck disable=SC2086
  read -r t0 s0 < <(sample $pids)
  sleep "$secs"
  # shellcheck disable=SC2086
  read -r t1 s1 < <(sample $pids)
  python3 - "$label" "$((t1 - t0))" "$((s1 - s0))" "$secs" "$hz" <<'PY'
import sys
label, ticks, switches, secs, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
cpu = ticks / hz / secs * 100
print(f"  {label:<22} CPU {cpu:6.3f} % of a core   wake-ups {switches / secs:7.2f} /s   (over {secs:.0f} s, {ticks} ticks; threads that exit are not counted)")
PY
}

# The app logs "popover open: first paint ms=…" once per opening; waits for the next one.
paints() { cat "$logs"/*.log 2>/dev/null | grep -c 'popover open: first paint' || true; }
open_popover() { # prints the time to open in ms, or "none" after 15 s
  local before; before=$(paints)
  "$bin" >/dev/null 2>&1 || true # a second launch: the running copy shows its popover
  for _ in $(seq 150); do
    if [ "$(paints)" -gt "$before" ]; then
      cat "$logs"/*.log | grep 'popover open: first paint' | tail -1 | sed -E 's/.*ms="?([0-9.]+).*/\1/'
      return
    fi
    sleep 0.1
  done
  echo none
}
close_popover() { "$bin" --hide >/dev/null 2>&1 || true; }

bench() { # design:history (history: on|off)
  local design=${1%%:*} history=${1##*:} times=() t
  logs="$work/logs-$design-$history"
  CLUSTERBAR_POPOVER_WEBVIEW=$design CLUSTERBAR_HISTORY=$history CLUSTERBAR_CONFIG_DIR="$work/config-$design-$history" \
    CLUSTERBAR_LOG_DIR="$logs" "$bin" >/dev/null 2>&1 &
  app=$!
  sleep 8 # start-up is not idle
  echo "$design, history $history:"
  # Closed after it was open once, as a user finds it (on-demand: its web view was destroyed).
  for _ in $(seq "$opens"); do
    t=$(open_popover); times+=("$t")
    sleep 2
    close_popover
    sleep 2
  done
  sleep 3
  measure popover-closed
  open_popover >/dev/null
  sleep 3
  measure popover-open
  close_popover
  echo "  time to open (show request → first painted frame with a snapshot, ms): ${times[*]}"
  kill "$app"; wait "$app" 2>/dev/null || true
  app=""
}

use_perf=0
perf stat -e task-clock true >/dev/null 2>&1 && use_perf=1

echo "Clusterbar app idle cost ($bin, ${secs}s windows, $opens opens per design)"
for variant in ${VARIANTS:-kept:on kept:off on-demand:on}; do
  bench "$variant"
done
