# Sourced by tools/stack.sh: the local scale-out stack of DESIGN §12 (a MariaDB replica and a
# Redis Cluster), started and stopped only by `up-scale` / `down-scale`. Idempotent.
#
# Replication needs the primary's binary log. `up` starts a primary with it on; a primary that is
# already running without it (started before binlogs were on, or by hand) is restarted ONCE by
# `up-scale` with the binlog on: that drops the open connections of whoever uses it, so it first
# waits (up to 60 s) for a moment when nobody else is connected. After that `up-scale` never
# touches the primary again; the shared Redis (6379) and Kafka (9092) are never touched.
#
# The replica: a second mariadbd on REPLICA_PORT (3307) with its files in .stack/mariadb-replica,
# seeded from a dump of the primary's databases (consistent, with its GTID position), then
# replicating with MASTER_USE_GTID=slave_pos. A replica whose replication stopped with an error
# is thrown away and seeded again. The cluster: CLUSTER_PORTS (7001-7003), three masters without
# persistence; a master that died comes back empty, owning its slots again.

REPLICA_PORT=${REPLICA_PORT:-3307}
CLUSTER_PORTS=${CLUSTER_PORTS:-"7001 7002 7003"}
REPLICA_DIR=$PWD/$STATE/mariadb-replica   # absolute: install-db resolves from /usr
CLUSTER_DIR=$PWD/$STATE/redis-cluster
SYSTEM_SCHEMAS="'mysql','information_schema','performance_schema','sys'"

primary_q() { mariadb --connect-timeout=2 -h127.0.0.1 -uroot -N -B -e "$1"; }
replica_q() { mariadb --connect-timeout=2 -h127.0.0.1 -P"$REPLICA_PORT" -uroot -N -B -e "$1"; }
replica_ping() { replica_q 'SELECT 1'; }
others_connected() {
  [[ $(primary_q "SELECT COUNT(*) FROM information_schema.processlist
                  WHERE id <> CONNECTION_ID() AND user NOT IN ('system user','event_scheduler')") != 0 ]]
}
primary_binlog_on() { [[ $(primary_q 'SELECT @@log_bin') == 1 ]]; }

primary_enable_binlog() {
  primary_binlog_on && return
  local deadline=$((SECONDS + 60))
  while others_connected && ((SECONDS < deadline)); do sleep 0.5; done
  others_connected && echo "mariadb: WARNING: restarting the primary with clients connected" >&2
  echo "mariadb: restarting the primary once, with its binary log on (replication needs it)"
  mariadb-admin -h127.0.0.1 -uroot shutdown   # returns once the server has stopped
  start_primary
  wait_for 60 mysql_login || die "mariadb: the primary did not come back within 60s"
  primary_binlog_on || die "mariadb: the primary came back without a binary log"
}

replica_start() {
  mkdir -p "$REPLICA_DIR"
  if [[ ! -d $REPLICA_DIR/data/mysql ]]; then
    mariadb-install-db --no-defaults --user=mysql --datadir="$REPLICA_DIR/data" \
      --auth-root-authentication-method=normal >/dev/null
  fi
  chown -R mysql:mysql "$REPLICA_DIR"
  local abs=$REPLICA_DIR
  setsid nohup /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$abs/data" \
    --port="$REPLICA_PORT" --bind-address=127.0.0.1 --socket="$abs/mysqld.sock" \
    --pid-file="$abs/mysqld.pid" --log-error="$abs/error.log" --server-id=2 --read-only=1 \
    --skip-name-resolve --relay-log=relay-bin --innodb-buffer-pool-size=64M \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
    >/dev/null 2>&1 </dev/null &
  wait_for 60 replica_ping || die "mariadb replica: no answer on :$REPLICA_PORT (see $REPLICA_DIR/error.log)"
}

replica_running_ok() {
  local status   # not replica_q: -N would drop the names of the vertical \G form
  status=$(mariadb --connect-timeout=2 -h127.0.0.1 -P"$REPLICA_PORT" -uroot -e 'SHOW SLAVE STATUS\G') || return 1
  [[ $status == *"Slave_SQL_Running: Yes"* && $status == *"Slave_IO_Running: Yes"* ]]
}

replica_seed() {
  local dbs; dbs=$(primary_q "SELECT GROUP_CONCAT(schema_name SEPARATOR ' ')
      FROM information_schema.schemata WHERE schema_name NOT IN ($SYSTEM_SCHEMAS)")
  local dump=$REPLICA_DIR/seed.sql attempt
  for attempt in 1 2 3; do   # a test database dropped while we dump: take a new list, again
    if [[ -z $dbs || $dbs == NULL ]]; then
      echo "SET GLOBAL gtid_slave_pos='$(primary_q 'SELECT @@gtid_binlog_pos')';" >"$dump" && break
    fi
    # shellcheck disable=SC2086  # the names are plain identifiers, one word each
    mariadb-dump -h127.0.0.1 -uroot --single-transaction --gtid --master-data=1 \
      --routines --events --databases $dbs >"$dump" 2>"$REPLICA_DIR/dump.err" && break
    ((attempt < 3)) || die "mariadb replica: dump of the primary failed ($(cat "$REPLICA_DIR/dump.err"))"
  done
  replica_q 'STOP SLAVE; RESET SLAVE ALL' || true
  mariadb -h127.0.0.1 -P"$REPLICA_PORT" -uroot <"$dump"
  replica_q "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=3306, MASTER_USER='root',
             MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1; START SLAVE"
  rm -f "$dump"
}

replica_stop() {
  local pid; pid=$(cat "$REPLICA_DIR/mysqld.pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null || return 0
  wait_for 30 bash -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid"
}

replica_up() {
  primary_enable_binlog
  local how="already replicating"
  replica_ping >/dev/null 2>&1 || { replica_start; how="started"; }
  if [[ -z $(replica_q 'SHOW SLAVE STATUS') ]]; then
    replica_seed; how="$how, seeded from a dump of the primary"
  elif ! wait_for 10 replica_running_ok; then   # broken replication: start it over
    replica_stop; rm -rf "$REPLICA_DIR"; replica_start; replica_seed
    how="re-seeded (its replication had stopped)"
  fi
  wait_for 30 replica_running_ok || die "mariadb replica: replication is not running (SHOW SLAVE STATUS on :$REPLICA_PORT)"
  echo "mariadb replica: up on :$REPLICA_PORT ($how)"
}

# --- Redis Cluster ----------------------------------------------------------
node_ping() { [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]; }

cluster_node_start() {
  local dir=$CLUSTER_DIR/$1; mkdir -p "$dir"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$1" --cluster-enabled yes \
    --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
    --cluster-require-full-coverage no --save "" --appendonly no --dir "$dir" \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  wait_for 10 node_ping "$1" || die "redis cluster: node :$1 did not answer (see $dir/redis.log)"
}

# Every node answers, sees the whole cluster and says it is ok. A master killed and started from
# its own nodes.conf rejoins by itself; one started without it (another checkout's .stack, a lost
# file) comes back alone with a new id, so the cluster is reset and created again (its data is a
# cache that tests refill).
cluster_healthy() {
  local port count=0 info
  for port in $CLUSTER_PORTS; do count=$((count + 1)); done
  for port in $CLUSTER_PORTS; do
    info=$(redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null) || return 1
    [[ $info == *"cluster_state:ok"* && $info == *"cluster_known_nodes:$count"* \
       && $info == *"cluster_slots_assigned:16384"* ]] || return 1
    # and none of the nodes it knows is failing, unreachable or a stranger
    if redis-cli -h 127.0.0.1 -p "$port" cluster nodes 2>/dev/null \
        | grep -qE 'fail|noaddr|handshake|disconnected'; then
      return 1
    fi
  done
  return 0
}

cluster_reset() {
  local port
  for port in $CLUSTER_PORTS; do
    redis-cli -h 127.0.0.1 -p "$port" flushall >/dev/null 2>&1 || true
    redis-cli -h 127.0.0.1 -p "$port" cluster reset hard >/dev/null
  done
}

cluster_up() {
  command -v redis-server >/dev/null || die "redis: redis-server missing (run tools/stack.sh up)"
  local port how="already running" nodes=()
  for port in $CLUSTER_PORTS; do
    node_ping "$port" || { cluster_node_start "$port"; how="started"; }
    nodes+=("127.0.0.1:$port")
  done
  if ! wait_for 10 cluster_healthy; then
    cluster_reset
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >/dev/null \
      || die "redis cluster: create failed"
    how="$how, created"
  fi
  wait_for 30 cluster_healthy || die "redis cluster: not every node of ${nodes[*]} sees the whole cluster ok"
  echo "redis cluster: up on ${nodes[*]} ($how)"
}

cluster_down() {
  local port
  for port in $CLUSTER_PORTS; do   # by port: any checkout may have started the node
    redis-cli -h 127.0.0.1 -p "$port" shutdown nosave >/dev/null 2>&1 || true
  done
  echo "redis cluster: stopped"
}

scale_up()   { mariadb_up; replica_up; cluster_up; }
scale_down() { replica_stop; echo "mariadb replica: stopped"; cluster_down; }
