#!/usr/bin/env bash
# The real exo (exo-explore/exo) as a test peer on Linux: MLX on CPU, one network namespace and one PID
# namespace per "box", joined by a bridge, nothing leaving the machine. Built once into a cache outside
# the clone (~10.5 min cold on 2 cores, seconds warm); after /work/shared/notes/exo-on-linux.md and its recipe.
#
#   scripts/real-exo.sh build                 build (or re-check) the cache; prints EXO_ROOT=… and EXO_BIN=…
#   scripts/real-exo.sh check                 exit 0 when the cache is complete and this machine can run boxes
#   scripts/real-exo.sh up PREFIX N           N boxes PREFIX-1 … PREFIX-N (netns + PID ns + own HOME), linked
#   scripts/real-exo.sh exec PREFIX I CMD…    run CMD inside box I (its network, its processes, its HOME)
#   scripts/real-exo.sh spawn PREFIX I CMD…   same, in the background; prints the PID (as seen from outside)
#   scripts/real-exo.sh start-exo PREFIX I    start exo itself in box I (background), wait for its API
#   scripts/real-exo.sh kill-box PREFIX I     SIGKILL every process of box I (the box stays, empty)
#   scripts/real-exo.sh procs PREFIX I        list the processes of box I ("pid command line")
#   scripts/real-exo.sh down PREFIX           kill every box of PREFIX and remove its namespaces
#
# Why namespaces: exo discovers peers by IPv6 multicast on every interface (UDP 52413) and takes a
# pid-file lock per HOME; Clusterbar finds exo by scanning processes. So a box needs its own network
# (the same API port 52415 everywhere: exo probes peers on its own port to build links), its own
# process table (a PID namespace with /proc remounted) and its own HOME. Needs root (ip netns).
#
# Environment: CLUSTERBAR_CACHE (default ~/.cache/clusterbar), EXO_TARBALL (default: the vendored
# release tree beside the clone, ../shared/vendor/exo-b5375f8.tar.gz), PY313 (a Python 3.13).
set -euo pipefail

EXO_COMMIT=b5375f8
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${CLUSTERBAR_CACHE:-$HOME/.cache/clusterbar}"
ROOT="$CACHE_ROOT/exo-$EXO_COMMIT"
EXO_TARBALL="${EXO_TARBALL:-$here/../shared/vendor/exo-$EXO_COMMIT.tar.gz}"
BOXES_DIR="${CLUSTERBAR_EXO_BOXES:-/tmp/clusterbar-exo-boxes}"
MODEL_ID=local/tiny-llama
T0=$(date +%s)

log() { echo "real-exo.sh [+$(($(date +%s) - T0))s]: $*" >&2; }
die() { echo "real-exo.sh: $*" >&2; exit 1; }

find_python313() {
  if [ -n "${PY313:-}" ]; then echo "$PY313"; return; fi
  local p
  # pyenv's shim exists even when 3.13 is not the selected version; ask for the real binary.
  for p in "$(command -v python3.13 2>/dev/null || true)" "$HOME"/.pyenv/versions/3.13*/bin/python3.13 \
           /usr/local/bin/python3.13 /usr/bin/python3.13 /opt/homebrew/bin/python3.13; do
    [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null \
      && { echo "$p"; return; }
  done
  return 1
}

complete() { [ -f "$ROOT/.complete" ] && [ -x "$ROOT/venv/bin/exo" ]; }

build() {
  if complete; then log "cache complete at $ROOT"; print_paths; return; fi
  [ -f "$EXO_TARBALL" ] || die "exo's source is not at $EXO_TARBALL (set EXO_TARBALL)"
  local py
  py=$(find_python313) || die "exo needs Python 3.13 (none found; set PY313)"
  mkdir -p "$ROOT/logs"

  # 1. Source: exo's release tree, vendored (exo is on no registry).
  [ -f "$ROOT/exo/pyproject.toml" ] || tar xzf "$EXO_TARBALL" -C "$ROOT"
  log "source from $EXO_TARBALL"

  # 2. Its two git dependencies cannot be reached from here: exo's zenoh fork (drop the
  #    [patch.crates-io] section: stock zenoh from crates.io) and a pidfile-rs fork (crates.io
  #    0.3.1 plus the one `impl AsRawFd` the fork adds and exo_rs uses).
  cd "$ROOT/exo"
  [ -f Cargo.toml.orig ] || cp Cargo.toml Cargo.toml.orig
  python3 - <<'EOF'
s = open('Cargo.toml.orig').read()
s = s.replace('pidfile-rs = { git = "https://github.com/AndreiCravtov/pidfile-rs" }', 'pidfile-rs = "0.3.1"')
i = s.index('[patch.crates-io]'); j = s.index('[workspace.lints.rust]')
open('Cargo.toml', 'w').write(s[:i] + s[j:])
EOF
  nice cargo fetch -q >&2
  if [ ! -d "$ROOT/vendor/pidfile-rs" ]; then
    mkdir -p "$ROOT/vendor"
    local crate
    crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/pidfile-rs-0.3.1.crate | head -1)
    tar xzf "$crate" -C "$ROOT/vendor"
    mv "$ROOT/vendor/pidfile-rs-0.3.1" "$ROOT/vendor/pidfile-rs"
    rm -f "$ROOT/vendor/pidfile-rs/.cargo_vcs_info.json"
    cat >> "$ROOT/vendor/pidfile-rs/src/lib.rs" <<'EOF'

// Added for exo: its fork exposes the raw fd (DaemonContext files_preserve).
impl std::os::unix::io::AsRawFd for Pidfile {
    fn as_raw_fd(&self) -> std::os::unix::io::RawFd {
        std::os::unix::io::AsRawFd::as_raw_fd(&self.file)
    }
}
EOF
  fi
  sed -i "s|^pidfile-rs = \"0.3.1\"|pidfile-rs = { path = \"$ROOT/vendor/pidfile-rs\" }|" Cargo.toml
  log "cargo dependencies fetched"

  # 3. A Python 3.13 venv (exo pins ==3.13.*).
  [ -x "$ROOT/venv/bin/python" ] || "$py" -m venv "$ROOT/venv"
  "$ROOT/venv/bin/pip" install -q uv maturin >&2
  log "venv: $("$ROOT/venv/bin/python" --version)"

  # 4. exo's Rust bindings (pyo3 + maturin): the long step.
  if ! ls "$ROOT"/wheels/exo_rs-*.whl >/dev/null 2>&1; then
    log "maturin build of exo_rs (~10 min on 2 cores; log: $ROOT/logs/maturin.log)"
    # opt-level 1: a test peer needs exo's networking to work, not to be fast; it compiles in
    # markedly less time than exo's release profile (opt-level 3).
    (cd rust/exo_rs && nice -n 10 env VIRTUAL_ENV="$ROOT/venv" PATH="$ROOT/venv/bin:$PATH" \
      CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_INCREMENTAL=0 \
      CARGO_TARGET_DIR="$ROOT/target" maturin build --release -i "$ROOT/venv/bin/python" \
      -o "$ROOT/wheels" > "$ROOT/logs/maturin.log" 2>&1) || { tail -30 "$ROOT/logs/maturin.log" >&2; die "maturin failed"; }
    # The wheel is all that is kept of the 1.6 GB cargo target.
    rm -rf "$ROOT/target"
  fi
  log "wheel: $(ls "$ROOT"/wheels/exo_rs-*.whl)"

  # 5. Python dependencies from PyPI (exo's lock points mlx/mlx-lm at GitHub forks: PyPI's instead).
  local uv="$ROOT/venv/bin/uv pip install --python $ROOT/venv/bin/python -q"
  nice $uv "aiofiles>=24.1.0" "aiohttp>=3.12.14" "types-aiofiles>=24.1.0.20250708" "pydantic>=2.11.7" \
    "fastapi>=0.116.1" "filelock>=3.18.0" "rustworkx>=0.17.1" "huggingface-hub>=1.8.0" "psutil>=7.0.0" \
    "loguru>=0.7.3" "anyio==4.11.0" "tiktoken>=0.12.0" "hypercorn>=0.18.0" "openai-harmony>=0.0.8" \
    "httpx>=0.28.1,<1" "tomlkit>=0.14.0" "python-multipart>=0.0.21" "msgspec>=0.19.0" "zstandard>=0.23.0" \
    "transformers>=5.6.2" "python-daemon>=3.1.2" "mlx[cpu]" mlx-lm "mlx-vlm>=0.3.11" >&2
  nice $uv "$ROOT"/wheels/exo_rs-*.whl >&2
  nice $uv --no-deps -e "$ROOT/exo" >&2
  log "python dependencies installed"

  # 6. Three workarounds for PyPI's mlx / mlx-lm in place of exo's forks (see the notes).
  local sp
  sp=$("$ROOT/venv/bin/python" -c "import mlx_lm,os;print(os.path.dirname(mlx_lm.__file__))")
  # 6a. exo imports mlx_lm.models.deepseek_v4 (only in its fork) at module level.
  cat > "$sp/models/deepseek_v4.py" <<'EOF'
"""Stand-in for mlx_lm.models.deepseek_v4, which only exo's mlx-lm fork has. exo uses these names in
isinstance/match checks only; DeepSeek V4 does not load with it."""
import mlx.nn as nn
from mlx_lm.models.cache import _BaseCache
class DeepseekV4Cache(_BaseCache): pass
class _CompressorBranch: pass
class DeepseekV4MoE(nn.Module): pass
class V4Attention(nn.Module): pass
class Model(nn.Module): pass
EOF
  # 6b. GenerationBatch.extend: exo keeps logprobs as an mx.array, PyPI's mlx-lm calls list.extend
  #     (the runner crashed on the second request).
  "$ROOT/venv/bin/python" - "$sp/generate.py" <<'EOF'
import sys, pathlib
p = pathlib.Path(sys.argv[1]); s = p.read_text()
if "_exo_cat_lp" not in s:
    helper = '''def _exo_cat_lp(a, b):
    if isinstance(a, mx.array) or isinstance(b, mx.array):
        a = a if isinstance(a, mx.array) else (mx.stack(a) if len(a) else None)
        b = b if isinstance(b, mx.array) else (mx.stack(b) if len(b) else None)
        if a is None:
            return b
        if b is None:
            return a
        return mx.concatenate([a, b])
    a.extend(b)
    return a


'''
    for name in ("_current_logprobs", "_next_logprobs"):
        s = s.replace(f"            self.{name}.extend(batch.{name})",
                      f"            self.{name} = _exo_cat_lp(self.{name}, batch.{name})")
    i = s.index("class GenerationBatch"); s = s[:i] + helper + s[i:]
    p.write_text(s)
EOF
  # 6c. Two-node instances: PyPI mlx's mx.distributed.init holds the GIL while it connects, so the
  #     runner's "connecting" status never leaves; give the queue's feeder thread a second first.
  python3 - "$ROOT/exo/src/exo/worker/runner/runner.py" <<'EOF'
import sys
p = sys.argv[1]; s = open(p).read()
old = """                self.acknowledge_task(task)

                self.generator.connect(self.bound_instance)"""
new = """                self.acknowledge_task(task)
                import time as _t  # clusterbar real-exo workaround: let the queue flush before mx.distributed.init
                _t.sleep(1.0)

                self.generator.connect(self.bound_instance)"""
if "real-exo workaround" not in s:
    assert old in s, "exo's runner changed: re-check workaround 6c"
    open(p, "w").write(s.replace(old, new))
EOF
  log "workarounds applied"

  # 7. No dashboard (the API works without it; exo needs a directory with an index.html).
  mkdir -p "$ROOT/dashboard-stub"
  echo '<html><body>exo dashboard not built (Clusterbar test peer)</body></html>' > "$ROOT/dashboard-stub/index.html"

  # 8. A tiny random-weight llama with a real tokenizer and chat template: no model can be downloaded.
  if [ ! -f "$ROOT/models/local--tiny-llama/model.safetensors.index.json" ]; then
    nice "$ROOT/venv/bin/python" "$here/scripts/make_tiny_model.py" "$ROOT/models/local--tiny-llama" >&2
  fi
  touch "$ROOT/.complete"
  log "build done"
  print_paths
}

print_paths() {
  echo "EXO_ROOT=$ROOT"
  echo "EXO_BIN=$ROOT/venv/bin/exo"
  echo "EXO_MODELS_DIR=$ROOT/models"
  echo "EXO_MODEL_ID=$MODEL_ID"
}

can_run_boxes() {
  [ "$(id -u)" = 0 ] || { echo "not root: network namespaces need root"; return 1; }
  command -v ip >/dev/null || { echo "no ip (iproute2)"; return 1; }
  command -v unshare >/dev/null && command -v nsenter >/dev/null || { echo "no unshare/nsenter (util-linux)"; return 1; }
  ip netns add "cbprobe$$" 2>/dev/null || { echo "ip netns add failed"; return 1; }
  ip netns del "cbprobe$$"
}

check() {
  complete || { echo "real exo not built: scripts/real-exo.sh build"; exit 1; }
  can_run_boxes || exit 1
  print_paths
}

# --- boxes ------------------------------------------------------------------------------------
box_ns() { echo "$1-$2"; }
box_dir() { echo "$BOXES_DIR/$1/$2"; }
holder_pid() { cat "$(box_dir "$1" "$2")/holder.pid"; }

up() {
  local prefix=$1 n=$2 i ns
  [ ${#prefix} -le 8 ] || die "prefix '$prefix' longer than 8 characters (interface names are 15 at most)"
  can_run_boxes >/dev/null || die "cannot run boxes: $(can_run_boxes || true)"
  mkdir -p "$BOXES_DIR/$prefix"
  # A switch namespace holding one bridge; each box has a veth into it (10.250.X.i/24).
  ip netns add "$prefix-sw"
  ip -n "$prefix-sw" link add br0 type bridge
  ip -n "$prefix-sw" link set br0 up
  ip -n "$prefix-sw" link set lo up
  local net=$((RANDOM % 200 + 20))
  for i in $(seq 1 "$n"); do
    ns=$(box_ns "$prefix" "$i")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip link add "eth0" netns "$ns" type veth peer name "p$i" netns "$prefix-sw"
    ip -n "$prefix-sw" link set "p$i" master br0
    ip -n "$prefix-sw" link set "p$i" up
    ip -n "$ns" addr add "10.250.$net.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    local d; d=$(box_dir "$prefix" "$i")
    mkdir -p "$d/home/.config" "$d/home/.local/share" "$d/home/.cache" "$d/logs"
    echo "10.250.$net.$i" > "$d/ip"
    # The box's init: PID 1 of its PID namespace, reaping orphans as init does, so a process that
    # died is gone from the box's /proc (not a zombie) — exactly what a Mac would show.
    # Its own host name too (a UTS namespace): exo names a box by its host name.
    ip netns exec "$ns" unshare --pid --fork --mount-proc --uts --kill-child \
      sh -c "hostname '$prefix-$i' && exec python3 -c '
import os, time
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.2)
'" </dev/null >/dev/null 2>&1 &
    local outer=$!
    # unshare forks: the init is its child. Wait until the child exists.
    local k
    for k in $(seq 1 50); do
      pgrep -P "$outer" >/dev/null && break
      sleep 0.1
    done
    pgrep -P "$outer" > "$d/holder.pid" || die "box $i: its init did not start"
  done
  # IPv6 link-local addresses (exo's discovery) need DAD to finish before they are usable.
  sleep 2
  log "boxes up: $prefix-1 … $prefix-$n on 10.250.$net.0/24"
}

box_env() { # prefix i -> env assignments for a process in the box
  local d; d=$(box_dir "$1" "$2")
  echo "PATH=$ROOT/venv/bin:/usr/local/bin:/usr/bin:/bin" "HOME=$d/home" \
    "XDG_CONFIG_HOME=$d/home/.config" "XDG_DATA_HOME=$d/home/.local/share" "XDG_CACHE_HOME=$d/home/.cache" \
    "EXO_MODELS_READ_ONLY_DIRS=$ROOT/models" "EXO_OFFLINE=true" "HF_HUB_OFFLINE=1" "TRANSFORMERS_OFFLINE=1" \
    "HF_ENDPOINT=http://127.0.0.1:9" "VIRTUAL_ENV=$ROOT/venv" "EXO_DASHBOARD_DIR=$ROOT/dashboard-stub"
}

box_exec() { # prefix i cmd…  (extra env: BOX_ENV_EXTRA="K=V …")
  local prefix=$1 i=$2; shift 2
  local pid; pid=$(holder_pid "$prefix" "$i")
  # shellcheck disable=SC2046
  exec nsenter -t "$pid" --net --pid --mount --uts -- env -i $(box_env "$prefix" "$i") ${BOX_ENV_EXTRA:-} "$@"
}

spawn() {
  local prefix=$1 i=$2; shift 2
  local d; d=$(box_dir "$prefix" "$i")
  (box_exec "$prefix" "$i" "$@") </dev/null >>"$d/logs/spawn.log" 2>&1 &
  echo $!
}

start_exo() {
  local prefix=$1 i=$2 d; d=$(box_dir "$prefix" "$i")
  rm -f "$d/home/.cache/exo/exo.pid"
  (box_exec "$prefix" "$i" nice -n 5 "$ROOT/venv/bin/exo" --offline --api-port 52415 ${EXO_ARGS:-}) \
    </dev/null >"$d/logs/exo.log" 2>&1 &
  local k
  for k in $(seq 1 90); do
    (box_exec "$prefix" "$i" curl -sf -o /dev/null --max-time 2 http://127.0.0.1:52415/node_id) && { log "box $i: exo answering"; return 0; }
    sleep 1
  done
  tail -20 "$d/logs/exo.log" >&2
  die "box $i: exo's API did not answer within 90 s"
}

procs() { # prefix i -> "pid command" of every process in box i but its init (outside pids)
  local pid; pid=$(holder_pid "$1" "$2")
  local ns; ns=$(readlink "/proc/$pid/ns/pid")
  local p
  for p in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$p" = "$pid" ] && continue
    [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$ns" ] || continue
    # Not the nsenter/env wrappers of a command we are running right now (they sit outside).
    echo "$p $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -c1-200)"
  done
}

kill_box() {
  local prefix=$1 i=$2 pid
  pid=$(holder_pid "$prefix" "$i")
  # Every process in the box's PID namespace but its init.
  local p
  for p in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$p" = "$pid" ] && continue
    [ "$(readlink "/proc/$p/ns/pid" 2>/dev/null)" = "$(readlink "/proc/$pid/ns/pid")" ] && kill -9 "$p" 2>/dev/null || true
  done
  return 0
}

down() {
  local prefix=$1 d
  for d in "$BOXES_DIR/$prefix"/*/; do
    [ -f "$d/holder.pid" ] || continue
    kill -9 "$(cat "$d/holder.pid")" 2>/dev/null || true  # PID 1 gone: the kernel kills the whole box
  done
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^$prefix-([0-9]+|sw)$"); do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "${BOXES_DIR:?}/$prefix"
}

cmd=${1:-}; shift || true
case "$cmd" in
  build) build ;;
  check) check ;;
  paths) print_paths ;;
  up) up "$@" ;;
  exec) box_exec "$@" ;;
  spawn) spawn "$@" ;;
  start-exo) start_exo "$@" ;;
  kill-box) kill_box "$@" ;;
  procs) procs "$@" ;;
  down) down "$@" ;;
  *) sed -n '2,17p' "$0" >&2; exit 2 ;;
esac
