#!/usr/bin/env bash
# Starts the real servers Herald's tests talk to, on loopback, idempotently:
# a server already listening on its port is left alone (the machine may run
# it already), anything missing is installed and started in the background.
#
#   scripts/test-infra.sh          install what is missing, start, wait until ready
#   scripts/test-infra.sh stop     stop what this script started
#   scripts/test-infra.sh env      print the variables the tests read
#
# State (binaries, logs, pids) lives in $HERALD_INFRA_DIR, default .run/infra
# in the repository. Servers so far: mailpit (SMTP 1025, HTTP API 8025); and
# Chromium, for the browser test.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${HERALD_INFRA_DIR:-$PWD/.run/infra}
mkdir -p "$RUN/bin"
PIDS=$RUN/pids

MAILPIT_VERSION=v1.33.1

if [ "${1:-}" = env ]; then
  echo "HERALD_TEST_SMTP_ADDR=127.0.0.1:1025"
  echo "HERALD_TEST_MAILPIT_URL=http://127.0.0.1:8025"
  echo "HERALD_TEST_CHROMIUM=$(command -v chromium || echo /usr/bin/chromium)"
  exit 0
fi

if [ "${1:-}" = stop ]; then
  [ -f "$PIDS" ] || exit 0
  while read -r pid name; do kill "$pid" 2>/dev/null && echo "stopped $name" || true; done < "$PIDS"
  rm -f "$PIDS"
  exit 0
fi

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 240); do listening "$2" && return 0; sleep 0.25; done
  echo "test-infra: $1 did not come up on port $2 (log: $RUN/$1.log)" >&2
  return 1
}
start() { # start NAME CMD...: background, pid recorded for `stop`
  local name=$1; shift
  nohup "$@" >"$RUN/$name.log" 2>&1 &
  echo "$! $name" >>"$PIDS"
  echo "test-infra: started $name (pid $!)"
}

# mailpit: a real SMTP server with an HTTP API to read what arrived.
if ! listening 1025; then
  if [ ! -x "$RUN/bin/mailpit" ]; then
    GOBIN="$RUN/bin" GOFLAGS=-mod=mod go install "github.com/axllent/mailpit@$MAILPIT_VERSION"
  fi
  start mailpit "$RUN/bin/mailpit" --smtp 127.0.0.1:1025 --listen 127.0.0.1:8025 \
    --disable-version-check --smtp-auth-accept-any --smtp-auth-allow-insecure
  wait_port mailpit 1025
  wait_port mailpit 8025
fi
# Chromium for the browser test of the web UI.
if ! command -v chromium >/dev/null 2>&1; then
  echo "test-infra: installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 chromium >/dev/null
fi
echo "test-infra: ready"
