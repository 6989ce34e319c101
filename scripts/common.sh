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

TANSU_VERSION=0.6.0

find_tansu() {
  if command -v tansu >/dev/null 2>&1; then
    command -v tansu
  elif [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/tansu ]]; then
    printf '%s\n' "${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
  else
    return 1
  fi
}

ensure_broker() {
  local host port
  # Only the first bootstrap address matters for the "is it up" check.
  read -r host port < <(split_host_port "${KAFKA_BROKERS%%,*}" 9092)

  # tansu 0.6's storage task can die on a panic (seen under heavy produce
  # load) while the listener stays up and answers every request with an
  # error: a broker of ours that logged a panic is restarted, not reused.
  if [[ -f $LOCAL_DIR/tansu.pid ]] && grep -q "panicked at" "$LOCAL_DIR/tansu.log" 2>/dev/null; then
    local stale
    stale=$(<"$LOCAL_DIR/tansu.pid")
    log "broker: tansu (pid $stale) logged a panic; restarting it"
    kill "$stale" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$stale" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$stale" 2>/dev/null || true
    mv "$LOCAL_DIR/tansu.log" "$LOCAL_DIR/tansu.log.panicked"
    for _ in $(seq 1 50); do
      tcp_open "$host" "$port" || break
      sleep 0.2
    done
  fi

  if tcp_open "$host" "$port"; then
    log "broker: reusing $host:$port"
    return
  fi
  is_local_host "$host" ||
    die "Kafka broker at $host:$port (from KAFKA_BROKERS) does not answer; start it or fix KAFKA_BROKERS"

  local tansu
  if ! tansu=$(find_tansu); then
    # Tansu: a single-binary Kafka-API broker, no JVM or ZooKeeper needed.
    log "broker: installing tansu $TANSU_VERSION with cargo (takes ~10 minutes, once)"
    cargo install "tansu@$TANSU_VERSION" --locked --features libsql,dynostore
    tansu=$(find_tansu) || die "tansu installed but not found on PATH or in ~/.cargo/bin"
  fi

  # tansu 0.6 resolves the sqlite:// path against its working directory
  # (even "sqlite:///abs/path" becomes "$PWD/abs/path") and does not create
  # missing directories: so start it inside an existing data dir with a
  # bare file name.
  local data_dir="$LOCAL_DIR/tansu"
  mkdir -p "$data_dir"
  local url="tcp://$host:$port"
  log "broker: starting tansu on $host:$port (data: .local/tansu/, log: .local/tansu.log)"
  # setsid + nohup: the broker outlives this script and its Ctrl-C, so
  # later runs reuse it.
  (
    cd "$data_dir"
    exec setsid nohup "$tansu" broker \
      --listener-url "$url" \
      --advertised-listener-url "$url" \
      --storage-engine "sqlite://tansu.db" \
      >>"$LOCAL_DIR/tansu.log" 2>&1 </dev/null
  ) &
  echo $! >"$LOCAL_DIR/tansu.pid"

  local i pid
  pid=$(<"$LOCAL_DIR/tansu.pid")
  for ((i = 0; i < 30; i++)); do
    tcp_open "$host" "$port" && {
      log "broker: ready on $host:$port (pid $pid)"
      return
    }
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  tail -n 30 "$LOCAL_DIR/tansu.log" >&2 || true
  die "tansu did not start listening on $host:$port (see .local/tansu.log)"
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
