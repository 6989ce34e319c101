# The sell-out stage of scripts/bench (issue 18), sourced by it: restarts the
# API and the workers with the sale's settings on a database of their own,
# runs `loadgen sellout` (all through the public API: the operator's admin
# calls, the crowd's registrations and pre-queue entries, the opening, every
# buyer's visit until the last seat is sold, the checks), and writes the
# "Sell-out" part of docs/BENCHMARKS.md. Uses the bench's variables and
# functions (BENCH_DIR, OUT_DIR, pids, free_port, ...).

# The sale's settings, as an operator of a sell-out would set them (and
# docs/BENCHMARKS.md states): four seats a buyer, holds and waitlist offers
# short enough that abandoned seats come back within the run.
SELLOUT_ENV=(
  MAX_HOLDS_PER_USER=4
  MAX_TICKETS_PER_USER=4
  HOLD_TTL_SECONDS=30
  WAITLIST_OFFER_SECONDS=30
  ACTIVE_TOKEN_TTL_SECONDS=60
  QUEUE_IDLE_TIMEOUT_SECONDS=60
  RATE_LIMIT_PER_IP_PER_MINUTE=0
)
SELLOUT_HOLD_SECS=30
# The room admits this many at once: a tenth of the seats, so each admitted
# buyer finds seats to choose from while the line moves.
SELLOUT_CAPACITY=${BENCH_SELLOUT_CAPACITY:-$((QUICK ? 100 : 1000))}

sellout_summary='{}'
sellout_section="$BENCH_DIR/sellout-section.md"
: >"$sellout_section"

run_sellout() {
  # The stack the earlier stages used goes; the sale gets a fresh one.
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    pids=()
  fi
  SELLOUT_DB="${BENCH_DB}_sale"
  local sale_url="${DATABASE_URL%/*}/$SELLOUT_DB"
  local admin_token
  admin_token="bench-$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
  local sale_env=("${SELLOUT_ENV[@]}" DATABASE_URL="$sale_url" ADMIN_TOKEN="$admin_token"
    KAFKA_TOPIC_PREFIX="${BENCH_ID}sale.")
  env "${sale_env[@]}" "$REPO_ROOT/target/release/workers" migrate >"$BENCH_DIR/sale-migrate.log" 2>&1 ||
    {
      cat "$BENCH_DIR/sale-migrate.log" >&2
      die "workers migrate (sale) failed"
    }
  env "${sale_env[@]}" "$REPO_ROOT/target/release/api" >"$BENCH_DIR/sale-api.log" 2>&1 &
  api_pid=$!
  pids+=("$api_pid")
  worker_pids=()
  local w port=19464
  for ((w = 1; w <= WORKERS; w++)); do
    port=$(free_port "$port")
    env "${sale_env[@]}" WORKER_METRICS_ADDR="127.0.0.1:$port" \
      "$REPO_ROOT/target/release/workers" >"$BENCH_DIR/sale-worker$w.log" 2>&1 &
    worker_pids+=("$!")
    pids+=("$!")
    port=$((port + 1))
  done
  local i
  for ((i = 0; i < 60; i++)); do
    curl -sf "http://$HTTP_ADDR/readyz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  log "sell-out: api pid $api_pid, worker(s) ${worker_pids[*]}, database $SELLOUT_DB"
  local args=(
    --url "http://$HTTP_ADDR"
    --database-url "$sale_url"
    --admin-token "$admin_token"
    --out "$OUT_DIR"
    --capacity "$SELLOUT_CAPACITY"
    --hold-secs "$SELLOUT_HOLD_SECS"
    --clk-tck "$(getconf CLK_TCK)"
    --cpu "api=$api_pid"
    --cpu "workers=$(
      IFS=,
      echo "${worker_pids[*]}"
    )"
    --cpu "postgres=cmdline:$SELLOUT_DB"
    --cpu "broker=$broker_pid"
  )
  ((QUICK)) && args+=(--quick)
  # shellcheck disable=SC2206 # extra options split on purpose
  args+=(${BENCH_SELLOUT_ARGS:-})
  log "loadgen sellout ${args[*]/$admin_token/***}"
  "$REPO_ROOT/target/release/loadgen" sellout "${args[@]}" >"$BENCH_DIR/sellout.out" 2> >(tee "$BENCH_DIR/sellout.log" >&2) &
  loadgen_pid=$!
  wait "$loadgen_pid" || die "loadgen sellout failed (or a check broke; see ${BENCH_DIR#"$REPO_ROOT"/}/sellout.log)"
  sellout_summary=$(tail -n 1 "$BENCH_DIR/sellout.out")
}

# The "Sell-out" part of the doc, between markers of its own so that
# --sellout can rewrite it alone.
write_sellout_section() {
  {
    echo "<!-- sellout:begin: scripts/bench (or scripts/bench --sellout) rewrites from here to sellout:end -->"
    echo
    echo "### Sell-out"
    echo
    echo "Run: $(date -u '+%Y-%m-%d %H:%M UTC'), $1, commit \`$commit\`$dirty; one API instance, $WORKERS worker process(es), Postgres, the broker and the load generator on this machine ($(nproc) cores)."
    echo "Settings: ${SELLOUT_ENV[*]}, room capacity $SELLOUT_CAPACITY."
    echo
    cat "$OUT_DIR/sellout.md"
    echo
    echo "![the sale over time](bench/sellout.png)"
    echo
    echo "Raw data: [sellout.json](bench/sellout.json). How it runs: *The sell-out* above."
    echo
    echo "<!-- sellout:end -->"
  } >"$sellout_section"
}

drop_sellout_db() {
  [[ -n ${SELLOUT_DB:-} ]] || return 0
  psql -q "$ADMIN_URL" -c "drop database if exists \"$SELLOUT_DB\" with (force)" >/dev/null 2>&1 ||
    log "could not drop database $SELLOUT_DB"
}
