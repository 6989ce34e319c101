#!/usr/bin/env bash
# Shared preparation for scripts/run and scripts/test; source it, then call
# `prepare` (infrastructure + env) and, for running the binaries,
# `build_release` and `migrate_and_seed`.
# Everything here is idempotent: what already runs is reused, never restarted.
set -euo pipefail

# Resolve the repo root from this file, not from $PWD, so the scripts work
# from any directory.
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL_DIR="$REPO_ROOT/.local"

log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
die() {
  printf '[%s] error: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

# Run a command as root: directly when we are root (CI containers), else via
# sudo (a developer's laptop).
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

is_local_host() {
  case "$1" in
    127.0.0.1 | localhost | ::1) return 0 ;;
    *) return 1 ;;
  esac
}

# Prints "HOST PORT" from a host:port string, accepting "[v6]:port".
split_host_port() {
  local hp=$1 default_port=$2 host port
  if [[ $hp == \[* ]]; then
    host=${hp%%]*}
    host=${host#[}
    port=${hp##*]}
    port=${port#:}
  else
    host=${hp%%:*}
    port=${hp#"$host"}
    port=${port#:}
  fi
  printf '%s %s\n' "${host:-127.0.0.1}" "${port:-$default_port}"
}

# True if something accepts TCP connections on HOST PORT within a second.
tcp_open() {
  # shellcheck disable=SC2016 # $1/$2 expand in the inner bash, on purpose
  timeout 1 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" >/dev/null 2>&1
}

prepare_env() {
  cd "$REPO_ROOT" || die "cannot cd to $REPO_ROOT"
  mkdir -p "$LOCAL_DIR"
  # Defaults from SPEC "Configuration"; a value set by the caller wins.
  export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/concert}"
  export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
  export KAFKA_TOPIC_PREFIX="${KAFKA_TOPIC_PREFIX:-concert.}"
  export HTTP_ADDR="${HTTP_ADDR:-127.0.0.1:8080}"
  export WORKER_METRICS_ADDR="${WORKER_METRICS_ADDR:-127.0.0.1:9464}"
}

ensure_token_secret() {
  if [[ -z ${TOKEN_SECRET:-} ]]; then
    local file="$LOCAL_DIR/token_secret"
    if [[ ! -s $file ]]; then
      # One random secret per checkout, kept so tokens survive restarts.
      (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$file")
      log "generated $file"
    fi
    TOKEN_SECRET=$(<"$file")
  fi
  export TOKEN_SECRET
}

# The admin endpoints' token for development (scripts/run): generated once
# into .local/admin_token, like TOKEN_SECRET. A caller's ADMIN_TOKEN wins.
ensure_admin_token() {
  if [[ -z ${ADMIN_TOKEN:-} ]]; then
    local file="$LOCAL_DIR/admin_token"
    if [[ ! -s $file ]]; then
      (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$file")
      log "generated $file"
    fi
    ADMIN_TOKEN=$(<"$file")
    log "admin endpoints on: ADMIN_TOKEN is in $file (ADMIN_TOKEN=\$(cat $file))"
  else
    log "admin endpoints on: ADMIN_TOKEN taken from the environment"
  fi
  export ADMIN_TOKEN
}

# ---------------------------------------------------------------- Postgres

pg_host_port() {
  # postgres://user:pass@host:port/db?opts -> host:port
  local authority=${DATABASE_URL#*://}
  authority=${authority%%/*}
  authority=${authority%%\?*}
  authority=${authority##*@}
  split_host_port "$authority" 5432
}

pg_latest_version() {
  find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null |
    sort -V | tail -n 1
}

ensure_postgres() {
  local host port
  read -r host port < <(pg_host_port)

  if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$host" -p "$port"; then
    log "postgres: reusing $host:$port"
    return
  fi
  is_local_host "$host" ||
    die "postgres at $host:$port (from DATABASE_URL) does not answer; start it or fix DATABASE_URL"

  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [[ -z $(pg_latest_version) ]]; then
    log "postgres: installing the postgresql package"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
  fi

  # Use the cluster on the wanted port; create one if there is none
  # (containers often skip the package's own cluster creation).
  local ver name
  read -r ver name < <(pg_lsclusters -h 2>/dev/null | awk -v p="$port" '$3 == p {print $1, $2; exit}') || true
  if [[ -z ${ver:-} ]]; then
    ver=$(pg_latest_version)
    name=main
    if pg_lsclusters -h 2>/dev/null | awk '{print $2}' | grep -qx main; then
      name=concert # "main" exists on another port; leave it alone
    fi
    log "postgres: creating cluster $ver/$name on port $port"
    as_root pg_createcluster --port "$port" "$ver" "$name"
  fi

  local conf_dir="/etc/postgresql/$ver/$name"
  local hba="$conf_dir/pg_hba.conf"
  # Dev/CI-only machine: password-less TCP for every local user, so
  # DATABASE_URL needs no secret. pg_hba is first-match, so these lines go
  # on top, ahead of the package's scram/peer defaults.
  if ! as_root grep -q '^# concert-dev: trust local TCP' "$hba"; then
    log "postgres: allowing trust auth on 127.0.0.1 and ::1 in $hba"
    as_root sed -i '1i # concert-dev: trust local TCP (dev-only machine)\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi

  if pg_lsclusters -h | awk -v v="$ver" -v n="$name" '$1 == v && $2 == n {print $4}' | grep -q online; then
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" reload
  else
    # Tests run in parallel, each with its own pool; the default 100 is
    # too few. Only set while stopped, i.e. when this script owns the start.
    as_root pg_conftool "$ver" "$name" set max_connections 300
    log "postgres: starting cluster $ver/$name"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start
  fi

  local i
  for ((i = 0; i < 30; i++)); do
    pg_isready -q -h "$host" -p "$port" && {
      log "postgres: ready on $host:$port"
      return
    }
    sleep 1
  done
  die "postgres $ver/$name did not become ready on $host:$port within 30 s; see /var/log/postgresql/postgresql-$ver-$name.log"
}

# ------------------------------------------------------------ Kafka broker

# Apache Kafka in KRaft combined mode (one node: broker and controller), its
# jars fetched once from Maven Central by kafka/pom.xml. The version lives
# in that pom (and in docker-compose.yml).
KAFKA_HOME_DIR="$LOCAL_DIR/kafka"
# The chaos test starts clusters of its own from the same jars.
export KAFKA_LIBS="${KAFKA_LIBS:-$KAFKA_HOME_DIR/libs}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
# The brokers' logging: warnings and errors only.
KAFKA_LOG4J="$REPO_ROOT/kafka/log4j2.properties"

# Debian's packages for java and mvn when either is missing.
ensure_java_maven() {
  local missing=()
  command -v java >/dev/null 2>&1 || missing+=(default-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  ((${#missing[@]} == 0)) && return
  log "kafka: installing ${missing[*]} (apt-get)"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

# Copies the broker's jars into $KAFKA_LIBS unless a previous run did (a
# pom edit fetches them again).
ensure_kafka_libs() {
  local stamp="$KAFKA_LIBS/.pom.sha256" want
  want=$(sha256sum "$REPO_ROOT/kafka/pom.xml" | cut -d' ' -f1)
  if [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
    return
  fi
  ensure_java_maven
  log "kafka: fetching the broker's jars from Maven Central (kafka/pom.xml -> ${KAFKA_LIBS#"$REPO_ROOT"/})"
  rm -rf "$KAFKA_LIBS"
  mvn -q -B -Dstyle.color=never -f "$REPO_ROOT/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIBS" >&2 || die "mvn could not fetch the Kafka jars"
  printf '%s\n' "$want" >"$stamp"
}

# The broker's JVM: a 1 GiB heap is plenty for one dev/test node on a
# 2-core 24 GiB machine (Kafka's own scripts default to 1 GiB too), and
# leaves the page cache to the log.
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms1g -Xmx1g}"

# Writes DIR/server.properties for one combined
# node (broker and controller) on HOST:PORT, its controller on CPORT, its
# log under DIR/data.
write_kafka_config() {
  local dir=$1 host=$2 port=$3 cport=$4
  cat >"$dir/server.properties" <<PROPS
# Written by scripts/common.sh; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$host:$cport
listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$cport
advertised.listeners=PLAINTEXT://$host:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
# Topics are made by \`workers migrate\` with the intended partitions; a
# typo in a topic name must fail, not create a topic.
auto.create.topics.enable=false
# A group's first member starts at once instead of waiting 3 s for others.
group.initial.rebalance.delay.ms=0
# The workers speak the KIP-848 group protocol, whose session timeout is
# the broker's: a worker that dies is evicted after 10 s (Kafka's default is
# 45 s) and heartbeats every second, as the classic protocol's client
# settings in workers/src/consumer/mod.rs ask.
group.consumer.session.timeout.ms=10000
group.consumer.min.session.timeout.ms=6000
group.consumer.heartbeat.interval.ms=1000
group.consumer.min.heartbeat.interval.ms=1000
# One node: internal topics cannot have more replicas than that.
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
# Tests make a topic per test: keep each small on disk.
log.segment.bytes=16777216
log.retention.hours=24
PROPS
}

# Starts one combined Kafka node with its state in DIR (formatted on first
# use) on HOST:PORT, controller on CPORT; waits until it listens. The pid
# goes to DIR/kafka.pid (and KAFKA_NODE_PID), the log to DIR/kafka.log.
# scripts/bench uses it for a broker of its own.
start_kafka_node() {
  local dir=$1 host=$2 port=$3 cport=$4
  ensure_kafka_libs
  mkdir -p "$dir/data"
  write_kafka_config "$dir" "$host" "$port" "$cport"
  if [[ ! -f $dir/data/meta.properties ]]; then
    local cluster_id
    cluster_id=$(java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
      kafka.tools.StorageTool random-uuid)
    log "kafka: formatting storage in ${dir#"$REPO_ROOT"/}/data (cluster $cluster_id)"
    java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
      >>"$dir/kafka.log" 2>&1 ||
      die "formatting Kafka's storage failed (see $dir/kafka.log)"
  fi

  log "kafka: starting Apache Kafka on $host:$port (controller :$cport, data and log: ${dir#"$REPO_ROOT"/}/)"
  # setsid + nohup: the broker outlives this script and its Ctrl-C, so
  # later runs reuse it.
  # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is a list of JVM flags
  (
    exec setsid nohup java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -Djava.awt.headless=true \
      -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
      kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 </dev/null
  ) &
  KAFKA_NODE_PID=$!
  echo "$KAFKA_NODE_PID" >"$dir/kafka.pid"

  local i
  for ((i = 0; i < 120; i++)); do
    tcp_open "$host" "$port" && {
      log "kafka: ready on $host:$port (pid $KAFKA_NODE_PID)"
      return
    }
    kill -0 "$KAFKA_NODE_PID" 2>/dev/null || break
    sleep 0.5
  done
  tail -n 30 "$dir/kafka.log" >&2 || true
  die "Kafka did not start listening on $host:$port (see $dir/kafka.log)"
}

# The development broker: reuses whatever answers on KAFKA_BROKERS, else
# starts the node in .local/kafka when KAFKA_BROKERS is on this machine.
ensure_broker() {
  local host port
  # Only the first bootstrap address matters for the "is it up" check.
  read -r host port < <(split_host_port "${KAFKA_BROKERS%%,*}" 9092)

  # The chaos test needs the jars even where a broker is already running.
  ensure_kafka_libs

  if tcp_open "$host" "$port"; then
    log "kafka: reusing the broker on $host:$port"
    return
  fi
  is_local_host "$host" ||
    die "Kafka broker at $host:$port (from KAFKA_BROKERS) does not answer; start it or fix KAFKA_BROKERS"
  start_kafka_node "$KAFKA_HOME_DIR" "$host" "$port" "$KAFKA_CONTROLLER_PORT"
}

# -------------------------------------------------------------- binaries

build_release() {
  log "building target/release/{api,workers}"
  cargo build --release --bin api --bin workers
}

# `workers migrate` creates the database if missing, applies migrations and
# creates the topics; `workers seed` only fills an empty database.
migrate_and_seed() {
  "$REPO_ROOT/target/release/workers" migrate
  "$REPO_ROOT/target/release/workers" seed
}

# Infrastructure and environment; enough for the test suite.
prepare() {
  prepare_env
  ensure_token_secret
  ensure_postgres
  ensure_broker
}

# The integration tests make a database per test (test_<32 hex>); those of
# earlier runs are dropped before a new run so they do not pile up on a
# developer's disk. One still in use (another suite running) is left alone.
drop_test_databases() {
  local admin="${DATABASE_URL%/*}/postgres" db
  { psql -Atq "$admin" -c "select datname from pg_database where datname ~ '^test_[0-9a-f]{32}$'" 2>/dev/null || true; } |
    while read -r db; do
      psql -q "$admin" -c "drop database if exists \"$db\"" >/dev/null 2>&1 || true
    done
}

# ------------------------------------------------- a throwaway stack

# A free TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

STACK_PIDS=()
STACK_DATABASE=

# Starts `$1/api` and `$1/workers` on a database and topic prefix of their
# own (named after $2), migrated and seeded, with the API on $STACK_URL and
# logs in $3 (default .local/<name>-<id>/). Variables already exported
# (QUEUE_ACTIVE_CAPACITY, ...) pass through. Call stop_stack when done (an
# EXIT trap is best): it stops both and drops the database.
start_stack() {
  local bin_dir=$1 name=$2 run_id
  run_id=$(od -An -tx1 -N5 /dev/urandom | tr -d ' \n')
  STACK_DATABASE="${name}_$run_id"
  export DATABASE_URL="${DATABASE_URL%/*}/$STACK_DATABASE"
  export KAFKA_TOPIC_PREFIX="$name.$run_id."
  HTTP_ADDR="127.0.0.1:$(free_port)"
  WORKER_METRICS_ADDR="127.0.0.1:$(free_port)"
  while [[ $WORKER_METRICS_ADDR == "$HTTP_ADDR" ]]; do WORKER_METRICS_ADDR="127.0.0.1:$(free_port)"; done
  export HTTP_ADDR WORKER_METRICS_ADDR
  STACK_URL="http://$HTTP_ADDR"
  STACK_LOGS=${3:-"$LOCAL_DIR/$name-$run_id"}
  mkdir -p "$STACK_LOGS"
  log "stack: database $STACK_DATABASE, topic prefix $KAFKA_TOPIC_PREFIX, api on $STACK_URL"
  "$bin_dir/workers" migrate >"$STACK_LOGS/migrate.log" 2>&1 || die "workers migrate failed (see $STACK_LOGS/migrate.log)"
  "$bin_dir/workers" seed >>"$STACK_LOGS/migrate.log" 2>&1 || die "workers seed failed (see $STACK_LOGS/migrate.log)"
  "$bin_dir/api" >"$STACK_LOGS/api.log" 2>&1 &
  STACK_PIDS+=($!)
  "$bin_dir/workers" >"$STACK_LOGS/workers.log" 2>&1 &
  STACK_PIDS+=($!)
  local i
  for ((i = 0; i < 60; i++)); do
    curl -fsS "$STACK_URL/readyz" >/dev/null 2>&1 && return
    sleep 0.5
  done
  tail -n 20 "$STACK_LOGS/api.log" >&2 || true
  die "the API did not become ready on $STACK_URL"
}

stop_stack() {
  local pid
  for pid in "${STACK_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STACK_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  STACK_PIDS=()
  if [[ -n $STACK_DATABASE ]]; then
    psql -q "${DATABASE_URL%/*}/postgres" -c "drop database if exists $STACK_DATABASE with (force)" >/dev/null 2>&1 ||
      log "could not drop database $STACK_DATABASE"
    STACK_DATABASE=
  fi
}
