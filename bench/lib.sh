# shellcheck shell=bash
# Shared by bench/run and bench/flood (sourced, not run). Before sourcing:
# ROOT (repo root), BUILD (build folder), JOBS (build parallelism) and
# BENCH_TAG (the log prefix) must be set. It installs the EXIT trap that
# stops every process in PIDS and removes WORK (kept on failure or with
# BENCH_KEEP=1).

log() { printf '[%s %s] %s\n' "$BENCH_TAG" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# Dependencies -----------------------------------------------------------------
install_deps() {
  "$ROOT/scripts/install-deps"
  local missing=()
  for p in nginx wrk util-linux; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "run as root or install sudo (missing: ${missing[*]})"
    as_root=(sudo)
  fi
  log "installing ${missing[*]}"
  "${as_root[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# build TARGET...
build() {
  log "building in $BUILD"
  mkdir -p "$BUILD"
  # A unity build like scripts/build's (the daemon measured is the one
  # scripts/start runs), with full -g for perf's call graphs.
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_UNITY_BUILD=ON \
    -DMCPGATE_TESTS=OFF -DMCPGATE_BENCH=ON >"$BUILD/bench-cmake.log" 2>&1 \
    || { cat "$BUILD/bench-cmake.log" >&2; die "cmake"; }
  cmake --build "$BUILD" -j "$JOBS" --target "$@" || die "build"
}

# Process bookkeeping ----------------------------------------------------------
WORK=""
PIDS=()
cleanup() {
  local rc=$?
  set +e
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null
  done
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    timeout 5 tail --pid="${PIDS[i]}" -s 0.05 -f /dev/null 2>/dev/null || kill -KILL "${PIDS[i]}" 2>/dev/null
  done
  if [ -n "$WORK" ]; then
    if [ "$rc" -ne 0 ] || [ "${BENCH_KEEP:-0}" = 1 ]; then
      log "logs kept in $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts "$@" with stdout on a pipe and waits (up to 30 s) for a first line
# matching PATTERN, which is left in LINE; the rest of stdout goes to
# $WORK/NAME.out, stderr to $WORK/NAME.err. The pid is left in STARTED.
LINE=""
STARTED=""
start_and_wait_line() {
  local name=$1 pattern=$2 fd
  shift 2
  exec {fd}< <(exec "$@" 2>"$WORK/$name.err")
  STARTED=$!
  PIDS+=("$STARTED")
  LINE=""
  local deadline=$((SECONDS + 30))
  while [ $SECONDS -lt $deadline ]; do
    if ! IFS= read -r -t 30 -u "$fd" LINE; then
      LINE=""
      break
    fi
    [[ $LINE =~ $pattern ]] && break
    echo "$LINE" >>"$WORK/$name.out"
    LINE=""
  done
  if [ -z "$LINE" ]; then
    tail -n 20 "$WORK/$name.err" >&2 || true
    die "$name did not print /$pattern/"
  fi
  cat <&"$fd" >>"$WORK/$name.out" &
  PIDS+=("$!")
  exec {fd}<&-
}

stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  timeout 10 tail --pid="$pid" -s 0.05 -f /dev/null || kill -KILL "$pid" 2>/dev/null || true
}

# utime+stime (clock ticks) of the given processes, summed.
cpu_ticks() {
  local total=0 p t
  for p in "$@"; do
    t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}

# VmRSS in KiB, summed over the given processes.
rss_kib() {
  local total=0 p r
  for p in "$@"; do
    r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${r:-0}))
  done
  echo "$total"
}

nginx_pids() { echo "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true); }

# Pinning: servers on CPU 0, clients on CPU 1 (nothing pinned on one CPU).
pin_cpus() {
  if [ "$(nproc)" -ge 2 ]; then
    SERVER_CPU=(taskset -c 0)
    CLIENT_CPU=(taskset -c 1)
  else
    log "only one CPU: nothing pinned, client and servers share it"
    SERVER_CPU=()
    CLIENT_CPU=()
  fi
}
