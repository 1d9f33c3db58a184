#!/usr/bin/env bash
# Drives the real tray menu over D-Bus (libayatana exports com.canonical.dbusmenu, no tray
# host needed): "Open Clusterbar" must map the popover, "Start at Login" must be an unchecked
# check item (opt-in), and "Quit Clusterbar" must exit 0 leaving none of its child processes.
# Then single instance: a second launch must exit at once and open the first copy's popover.
# Run as: xvfb-run -a dbus-run-session -- scripts/tray-menu-test.sh target/debug/clusterbar-app
set -u
BIN=${1:?usage: tray-menu-test.sh app-binary}
DM=com.canonical.dbusmenu
mkdir -p target/ci
work=$(mktemp -d)
export CLUSTERBAR_CONFIG_DIR=$work/config CLUSTERBAR_LOG_DIR=$work/logs
"$BIN" > target/ci/tray-app.log 2>&1 &
P=$!
fail() { echo "FAIL: $*"; kill "$P" 2>/dev/null; exit 1; }
# Succeeds once the popover window is mapped (viewable), within 5 s.
popover_mapped() {
  local w
  for _ in $(seq 25); do
    w=$(xwininfo -root -tree | grep '"Clusterbar"' | awk '{print $1}' | head -1)
    if [ -n "$w" ] && xwininfo -id "$w" | grep -q IsViewable; then return 0; fi
    sleep 0.2
  done
  return 1
}

N=""; OBJ=""
for _ in $(seq 100); do
  for n in $(busctl --user list --no-legend 2>/dev/null | awk '$1 ~ /^:/ {print $1}'); do
    o=$(busctl --user tree --list "$n" 2>/dev/null | grep -E '^/org/ayatana/NotificationItem/[^/]+$' | head -1)
    if [ -n "$o" ]; then N=$n; OBJ=$o; break 2; fi
  done
  sleep 0.2
done
[ -n "$OBJ" ] || fail "no appindicator object on the bus"
MENU=$OBJ/Menu

layout=$(busctl --user --json=short call "$N" "$MENU" $DM GetLayout iias 0 10 0) || fail "GetLayout"
read -r OPEN_ID LOGIN_ID LOGIN_TOGGLE LOGIN_STATE QUIT_ID < <(python3 -c '
import json, sys
items = {}
def walk(node):
    ident, props, kids = node
    if "label" in props:
        items[props["label"]["data"].replace("_", "")] = (ident, props)
    for kid in kids:
        walk(kid["data"])
walk(json.loads(sys.argv[1])["data"][1])
def get(label):
    if label not in items:
        sys.exit("missing menu item " + label + "; have " + ", ".join(items))
    return items[label]
o, _ = get("Open Clusterbar")
l, lp = get("Start at Login")
get("Check for Updates\u2026")  # present, not clicked: a check goes to the network
q, _ = get("Quit Clusterbar")
print(o, l, lp.get("toggle-type", {}).get("data", "none"), lp.get("toggle-state", {}).get("data", -1), q)
' "$layout") || fail "menu layout: $layout"
[ "$LOGIN_TOGGLE" = "checkmark" ] || fail "Start at Login is not a check item ($LOGIN_TOGGLE)"
[ "$LOGIN_STATE" = "0" ] || fail "Start at Login must be off by default (state $LOGIN_STATE)"

busctl --user call "$N" "$MENU" $DM Event isvu "$OPEN_ID" clicked i 0 0 >/dev/null
popover_mapped || fail "Open did not map the popover"

children=$(pgrep -P "$P" | tr '\n' ' ')
busctl --user call "$N" "$MENU" $DM Event isvu "$QUIT_ID" clicked i 0 0 >/dev/null
for _ in $(seq 40); do kill -0 "$P" 2>/dev/null || break; sleep 0.25; done
kill -0 "$P" 2>/dev/null && fail "app still running after Quit"
wait "$P"; rc=$?
[ "$rc" = 0 ] || fail "Quit exited with $rc (log: target/ci/tray-app.log)"
for c in $children; do
  for _ in $(seq 20); do kill -0 "$c" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$c" 2>/dev/null && fail "child process $c ($(cat /proc/$c/comm 2>/dev/null)) outlived Quit"
done
echo "tray menu: Open mapped the popover, Start at Login is opt-in, Quit exited 0 leaving no child (${children:-none})"

# Single instance (needs the session bus that dbus-run-session gives).
"$BIN" > target/ci/tray-app-2.log 2>&1 &
P=$!
for _ in $(seq 100); do
  busctl --user list --no-legend 2>/dev/null | grep -q 'SingleInstance' && break
  sleep 0.2
done
# The single-instance name is taken before the app's setup ends; on a busy machine a second launch
# could arrive before the tray and popover exist. Wait for the tray item, as a user would.
for _ in $(seq 100); do
  for n in $(busctl --user list --no-legend 2>/dev/null | awk '$1 ~ /^:/ {print $1}'); do
    busctl --user tree --list "$n" 2>/dev/null | grep -qE '^/org/ayatana/NotificationItem/[^/]+$' && break 2
  done
  sleep 0.2
done
timeout 20 "$BIN" > target/ci/tray-app-second.log 2>&1; second_rc=$?
[ "$second_rc" = 0 ] || fail "the second launch did not hand over and exit (rc $second_rc)"
kill -0 "$P" 2>/dev/null || fail "the first copy died when the second launched"
popover_mapped || fail "the second launch did not open the first copy's popover"
kill -TERM "$P"; wait "$P" 2>/dev/null
rm -rf "$work"
echo "tray menu test: passed (single instance: the second launch opened the running copy's popover)"
