#!/usr/bin/env bash
# Starts the real servers Herald's tests talk to, on loopback, idempotently:
# a server already listening on its port is left alone (the machine may run
# it already); anything missing is installed and started in the background.
#
#   scripts/test-infra.sh               install what is missing, start all, wait until ready
#   scripts/test-infra.sh start NAME..  the same for some servers only
#   scripts/test-infra.sh restart NAME  stop one server and start it again (restart tests)
#   scripts/test-infra.sh stop          stop what this script started
#   scripts/test-infra.sh env          print the variables the tests read
#
# Servers: postgres 5432, redis 6379, rabbitmq 5672, nats 4222, activemq
# (STOMP 61613), zookeeper 2181, memcached 11211, etcd 2379, s3 (gofakes3)
# 9000, mailpit (SMTP 1025, HTTP 8025), bluesky-pds (the official Bluesky
# PDS with a local did:plc directory, 2583 and 2582; first install ~2 min,
# needs npm); and Chromium for the browser test.
# State (binaries, data, logs, pids) lives in $HERALD_INFRA_DIR, default
# .run/infra in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${HERALD_INFRA_DIR:-$PWD/.run/infra}
mkdir -p "$RUN/bin"
RUN=$(cd "$RUN" && pwd)
PIDS=$RUN/pids
touch "$PIDS"

MAILPIT_VERSION=v1.33.1
GOFAKES3_VERSION=v1.2.0
ALL="postgres redis rabbitmq nats activemq zookeeper memcached etcd s3 mailpit bluesky-pds chromium"

port_of() {
  case $1 in
    postgres) echo 5432 ;; redis) echo 6379 ;; rabbitmq) echo 5672 ;; nats) echo 4222 ;;
    activemq) echo 61613 ;; zookeeper) echo 2181 ;; memcached) echo 11211 ;; etcd) echo 2379 ;;
    s3) echo 9000 ;; mailpit) echo 1025 ;; bluesky-pds) echo 2583 ;; *) echo 0 ;;
  esac
}

print_env() {
  cat <<VARS
HERALD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
HERALD_TEST_REDIS_ADDR=127.0.0.1:6379
HERALD_TEST_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/
HERALD_TEST_NATS_URL=nats://127.0.0.1:4222
HERALD_TEST_STOMP_ADDR=127.0.0.1:61613
HERALD_TEST_ZOOKEEPER_ADDR=127.0.0.1:2181
HERALD_TEST_MEMCACHED_ADDR=127.0.0.1:11211
HERALD_TEST_ETCD_ADDR=127.0.0.1:2379
HERALD_TEST_S3_ENDPOINT=http://127.0.0.1:9000
HERALD_TEST_SMTP_ADDR=127.0.0.1:1025
HERALD_TEST_MAILPIT_URL=http://127.0.0.1:8025
HERALD_TEST_BLUESKY_PDS_URL=http://127.0.0.1:2583
HERALD_TEST_CHROMIUM=$(command -v chromium || echo /usr/bin/chromium)
HERALD_TEST_INFRA=$PWD/scripts/test-infra.sh
VARS
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # NAME PORT [TRIES of 0.25 s]
  for _ in $(seq 1 "${3:-240}"); do listening "$2" && return 0; sleep 0.25; done
  echo "test-infra: $1 did not come up on port $2 (log: $RUN/$1.log)" >&2
  return 1
}
bg() { # NAME CMD...: run in the background, pid recorded for stop/restart
  local name=$1; shift
  nohup "$@" >>"$RUN/$name.log" 2>&1 &
  echo "$! $name" >>"$PIDS"
  echo "test-infra: started $name (pid $!)"
}

APT_UPDATED=
apt_install() { # PACKAGE... (only those missing)
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$APT_UPDATED" ]; then apt-get update -qq; APT_UPDATED=1; fi
  echo "test-infra: installing ${missing[*]}"
  apt-get install -y -qq -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
}

go_bin() { # NAME MODULE@VERSION
  [ -x "$RUN/bin/$1" ] || GOBIN="$RUN/bin" GOFLAGS=-mod=mod go install "$2"
}

start_postgres() {
  apt_install postgresql
  local v; v=$(ls /etc/postgresql | head -1)
  sed -i 's/^\(local\|host\)\(.*\)\(peer\|scram-sha-256\|md5\)$/\1\2trust/' "/etc/postgresql/$v/main/pg_hba.conf"
  pg_ctlcluster --skip-systemctl-redirect "$v" main start || true
  for _ in $(seq 1 120); do pg_isready -q -h 127.0.0.1 && break; sleep 0.25; done
  su postgres -c "psql -qc 'CREATE DATABASE test'" >/dev/null 2>&1 || true
}
stop_postgres() { local v; v=$(ls /etc/postgresql | head -1); pg_ctlcluster --skip-systemctl-redirect "$v" main stop -m fast || true; }

start_redis() { apt_install redis-server; bg redis redis-server --bind 127.0.0.1 --port 6379 --save "" --appendonly no; }

start_nats() {
  apt_install nats-server
  # Keep JetStream's store where the machine's own server keeps it, so a
  # restart finds the streams it had.
  local sd=/var/lib/nats-server
  [ -d "$sd" ] || { sd="$RUN/nats"; mkdir -p "$sd"; }
  bg nats nats-server -a 127.0.0.1 -p 4222 -js -sd "$sd"
}

start_rabbitmq() {
  apt_install rabbitmq-server
  # Each quorum queue holds a few file descriptors; the default limit runs
  # out after a few test runs.
  ulimit -n 65536 2>/dev/null || true
  if rabbitmqctl -q status >/dev/null 2>&1 || [ -d /var/lib/rabbitmq/mnesia ]; then
    rabbitmq-server -detached >/dev/null 2>&1 || true # the machine's own node
  else
    mkdir -p "$RUN/rmq"
    echo 'listeners.tcp.default = 127.0.0.1:5672' >"$RUN/rmq/rabbitmq.conf"
    env RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=25672 \
      ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE="$RUN/rmq/mnesia" RABBITMQ_LOG_BASE="$RUN/rmq/log" \
      RABBITMQ_CONFIG_FILE="$RUN/rmq/rabbitmq" HOME="$RUN/rmq" rabbitmq-server -detached
  fi
}
stop_rabbitmq() { rabbitmqctl -q stop >/dev/null 2>&1 || kill_port 5672; }

start_activemq() {
  apt_install activemq libmqtt-client-java
  mkdir -p "$RUN/amq/conf" "$RUN/amq/lib" "$RUN/amq/data"
  ln -sf /usr/share/java/mqtt-client.jar "$RUN/amq/lib/"
  # Persistent (KahaDB in $RUN/amq/data), so acknowledged messages survive a restart.
  cat >"$RUN/amq/conf/activemq.xml" <<'XML'
<beans xmlns="http://www.springframework.org/schema/beans" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" brokerName="herald-test" persistent="true" schedulerSupport="false" dataDirectory="AMQ_DATA_DIR">
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:61613?transport.defaultHeartBeat=5000,0"/>
    </transportConnectors>
  </broker>
</beans>
XML
  sed -i "s|AMQ_DATA_DIR|$RUN/amq/data|" "$RUN/amq/conf/activemq.xml"
  printf 'log4j.rootLogger=WARN, o\nlog4j.appender.o=org.apache.log4j.ConsoleAppender\nlog4j.appender.o.layout=org.apache.log4j.PatternLayout\nlog4j.appender.o.layout.ConversionPattern=%%d %%-5p %%m%%n\n' >"$RUN/amq/conf/log4j.properties"
  bg activemq java -Xms64m -Xmx256m --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.util=ALL-UNNAMED \
    -Dactivemq.home=/usr/share/activemq -Dactivemq.base="$RUN/amq" -Dactivemq.conf="$RUN/amq/conf" \
    -Dactivemq.data="$RUN/amq/data" -Dactivemq.classpath="$RUN/amq/conf" \
    -jar /usr/share/activemq/bin/activemq.jar start "xbean:file:$RUN/amq/conf/activemq.xml"
}

start_zookeeper() {
  apt_install zookeeper
  mkdir -p "$RUN/zk/data"
  printf 'tickTime=2000\ndataDir=%s\nclientPort=2181\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat,mntr\nmaxClientCnxns=0\n' "$RUN/zk/data" >"$RUN/zk/zoo.cfg"
  bg zookeeper java -Xmx256m -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar \
    -Dzookeeper.log.dir="$RUN/zk" -Dzookeeper.root.logger=WARN,CONSOLE \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$RUN/zk/zoo.cfg"
}

start_memcached() { apt_install memcached; bg memcached memcached -u memcache -l 127.0.0.1 -p 11211 -U 0 -m 64; }

start_etcd() {
  apt_install etcd-server
  bg etcd etcd --name herald-test --data-dir "$RUN/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
    --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster herald-test=http://127.0.0.1:2380
}

start_s3() {
  go_bin gofakes3 "github.com/johannesboyne/gofakes3/cmd/gofakes3@$GOFAKES3_VERSION"
  bg s3 "$RUN/bin/gofakes3" -backend memory -host 127.0.0.1:9000 -autobucket -quiet
}

start_mailpit() {
  go_bin mailpit "github.com/axllent/mailpit@$MAILPIT_VERSION"
  bg mailpit "$RUN/bin/mailpit" --smtp 127.0.0.1:1025 --listen 127.0.0.1:8025 \
    --disable-version-check --smtp-auth-accept-any --smtp-auth-allow-insecure
}

# The PDS runs in the foreground under bg; its install (Node 22 and the
# npm packages) happens on the first start, so ready waits longer for it.
start_bluesky-pds() {
  command -v npm >/dev/null 2>&1 || apt_install npm
  BLUESKY_PDS_DIR="$RUN/bluesky-pds" bg bluesky-pds scripts/bluesky-pds/run-pds.sh
}

start_chromium() { command -v chromium >/dev/null 2>&1 || apt_install chromium; }

# ready NAME: wait until the server answers, not just listens.
ready() {
  local name=$1 port; port=$(port_of "$1")
  [ "$port" = 0 ] && return 0
  case $name in
    rabbitmq) wait_port "$name" "$port" 480 ;; # its Erlang node takes a while
    activemq) wait_port "$name" "$port" 480 ;;
    zookeeper)
      wait_port "$name" "$port"
      for _ in $(seq 1 240); do [ "$( (exec 3<>/dev/tcp/127.0.0.1/2181 && printf ruok >&3 && cat <&3) 2>/dev/null)" = imok ] && return 0; sleep 0.25; done
      echo "test-infra: zookeeper does not answer ruok" >&2; return 1 ;;
    etcd)
      wait_port "$name" "$port"
      for _ in $(seq 1 240); do curl -fsS http://127.0.0.1:2379/health 2>/dev/null | grep -q '"health":"true"' && return 0; sleep 0.25; done
      echo "test-infra: etcd is not healthy" >&2; return 1 ;;
    mailpit) wait_port "$name" "$port"; wait_port "$name-http" 8025 ;;
    bluesky-pds)
      wait_port "$name" "$port" 1440 # 6 min: the first start installs it
      for _ in $(seq 1 240); do curl -fsS http://127.0.0.1:2583/xrpc/_health >/dev/null 2>&1 && return 0; sleep 0.25; done
      echo "test-infra: bluesky-pds does not answer /xrpc/_health" >&2; return 1 ;;
    *) wait_port "$name" "$port" ;;
  esac
}

# kill_port PORT: stop whatever listens on PORT (a server this script did not start).
kill_port() {
  local pids; pids=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
  [ -n "$pids" ] && kill $pids 2>/dev/null || true
}

stop_one() {
  local name=$1 port; port=$(port_of "$1")
  if declare -F "stop_$name" >/dev/null; then "stop_$name"
  else
    # Whatever listens on the server's port is the server to stop (a
    # recorded pid may be stale, or reused by another process by now).
    kill_port "$port"
  fi
  for _ in $(seq 1 120); do listening "$port" || break; sleep 0.25; done
  if listening "$port"; then echo "test-infra: $name still listens on $port after stop" >&2; return 1; fi
  awk -v n="$name" '$2 != n' "$PIDS" >"$PIDS.tmp" && mv "$PIDS.tmp" "$PIDS"
}

start_one() {
  local name=$1 port; port=$(port_of "$1")
  if [ "$port" != 0 ] && listening "$port"; then return 0; fi
  "start_$name"
}

cmd=${1:-start}; shift || true
case $cmd in
  env) print_env ;;
  stop)
    while read -r pid name; do kill "$pid" 2>/dev/null && echo "test-infra: stopped $name" || true; done <"$PIDS"
    : >"$PIDS" ;;
  restart)
    for name in "$@"; do stop_one "$name"; start_one "$name"; ready "$name"; echo "test-infra: restarted $name"; done ;;
  start)
    names=${*:-$ALL}
    for name in $names; do start_one "$name"; done
    for name in $names; do ready "$name"; done
    echo "test-infra: ready" ;;
  *) echo "usage: $0 [start NAME...|restart NAME...|stop|env]" >&2; exit 2 ;;
esac
