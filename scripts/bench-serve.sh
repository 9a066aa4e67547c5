#!/usr/bin/env bash
# Measures `herald serve` with embedded defaults: binary size, time from
# exec until /readyz answers 200 (fresh data dir, and again on the existing
# one), and resident memory after it has idled.
#
#   scripts/bench-serve.sh [RUNS] [IDLE_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
IDLE=${2:-10}
BIN=$(mktemp -d)/herald
go build -trimpath -o "$BIN" ./cmd/herald
printf 'binary size: %s bytes (%.1f MiB)\n' "$(stat -c %s "$BIN")" "$(echo "$(stat -c %s "$BIN") / 1048576" | bc -l)"

port=18931
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "bench-serve: port $port is already in use; stop what listens there first" >&2
  exit 1
fi
startup() { # DATA_DIR: sets MS (milliseconds until ready) and PID
  local t0; t0=$(date +%s%N)
  "$BIN" serve --data-dir "$1" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
  PID=$!
  until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.005; done
  MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; }
fresh=(); warm=()
for _ in $(seq 1 "$RUNS"); do
  dir=$(mktemp -d)
  startup "$dir"; fresh+=("$MS"); stop
  startup "$dir"; warm+=("$MS"); stop
  rm -rf "$dir"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "start-up to ready, fresh data dir: median $(median "${fresh[@]}") ms (runs: ${fresh[*]})"
echo "start-up to ready, existing data dir: median $(median "${warm[@]}") ms (runs: ${warm[*]})"

dir=$(mktemp -d)
startup "$dir"
sleep "$IDLE"
echo "idle resident memory after ${IDLE}s: $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$PID/status)"
stop
rm -rf "$dir"
