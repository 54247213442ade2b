#!/usr/bin/env bash
# Two-node ingest benchmark: durable ingest throughput of one Tocsin node on
# PostgreSQL, then of two nodes sharing one PostgreSQL database with the load
# split across both, each on a fresh database. See bench/README.md.
#
# Knobs (environment):
#   PG_URL=postgres://postgres@127.0.0.1:5432/postgres
#                      server to create the two benchmark databases on (dropped at the end)
#   DURATION=10s       measured length of every load run
#   WARMUP=2s          unmeasured load before every measured run
#   CONNECTIONS=32     wrk connections in all (split between the nodes)
#   TIMEOUT=10s        wrk per-request timeout (a timeout counts as an error)
#   BATCH_SIZE=100     alerts per batch request
#   SKIP_BUILD=1       use the existing release binary
#   READY_TIMEOUT=60   seconds to wait for each node to become ready
#   BENCH_KEEP=1       keep the temp dir (node logs, raw wrk output)
#
# Exit status: 0 when every run completed without errors, 1 when a run saw
# errors, 2 on setup failure.
set -euo pipefail

PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-32}
TIMEOUT=${TIMEOUT:-10s}
BATCH_SIZE=${BATCH_SIZE:-100}
SKIP_BUILD=${SKIP_BUILD:-0}
READY_TIMEOUT=${READY_TIMEOUT:-60}
BENCH_KEEP=${BENCH_KEEP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
TOCSIN_BIN=$TARGET_DIR/release/tocsin
PD_KEY=benchbenchbenchbenchbenchbench01
PROM_KEY=benchpromkey0123456789

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
apt_install "${need[@]}"
((CONNECTIONS >= 2)) || die "CONNECTIONS must be at least 2 (one per node)"
psql "$PG_URL" -qAtc 'SELECT 1' >/dev/null || die "PostgreSQL at PG_URL is not reachable"

if [[ $SKIP_BUILD != 1 ]]; then
	log "cargo build --release -p tocsin"
	(cd "$ROOT" && cargo build --release -p tocsin) || die "cargo build failed"
fi
[[ -x $TOCSIN_BIN ]] || die "$TOCSIN_BIN missing"

bench_tmp tocsin-nodes
DATABASES=()
drop_databases() {
	local db
	for db in "${DATABASES[@]}"; do
		psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	done
}
on_exit() {
	local rc=$?
	for name in "${!PIDS[@]}"; do stop_server "$name"; done
	drop_databases
	(exit "$rc")
	cleanup
}
trap on_exit EXIT

# fresh_database: creates an empty database; its URL is left in DB_URL.
fresh_database() {
	local db
	db=tocsin_bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
	psql "$PG_URL" -qAtc "CREATE DATABASE $db" >/dev/null || die "cannot create database $db"
	DATABASES+=("$db")
	DB_URL=${PG_URL%/*}/$db
}

cat >"$TMP/bench.yaml" <<EOF
services:
  - id: bench
    name: Bench
    # Every alert here is new, thousands a second: the default storm limit
    # would collapse them into one incident instead of measuring intake.
    storm: off
    integrations:
      - { kind: pagerduty, key: $PD_KEY }
      - { kind: prometheus, key: $PROM_KEY }
EOF
TOKEN=tcs_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')

# start_node NAME DATABASE_URL: starts a node; its base URL goes to BASE[NAME].
start_node() {
	local name=$1 url=$2 port
	port=$(free_port)
	mkdir -p "$TMP/$name"
	start_server "$name" get "http://127.0.0.1:$port/readyz" -- env TOCSIN_ADMIN_TOKEN="$TOKEN" \
		"$TOCSIN_BIN" serve \
		--listen "127.0.0.1:$port" --data-dir "$TMP/$name" --database-url "$url" --config "$TMP/bench.yaml"
	BASE[$name]=http://127.0.0.1:$port
}
declare -A BASE=()

# load TAG DURATION SCRIPT PER_REQUEST NODE...: wrk against every node at
# once (CONNECTIONS split evenly, one thread each); prints "events/s errors
# p50_ms p99_ms" (the slowest node's percentiles).
load() {
	local tag=$1 dur=$2 script=$3 per=$4
	shift 4
	local n=$# conns=$((CONNECTIONS / $#)) pids=() node i=0
	for node in "$@"; do
		local path=/v2/enqueue
		local args=("$tag-$i" "$PD_KEY")
		if [[ $script == *alerts.lua ]]; then
			path=/integrations/prometheus/$PROM_KEY/api/v2/alerts
			args=("$tag-$i" "$BATCH_SIZE")
		fi
		wrk -t 1 -c "$conns" -d "$dur" --timeout "$TIMEOUT" --latency -s "$script" "${BASE[$node]}$path" -- \
			"${args[@]}" >"$TMP/wrk-$tag-$i.txt" 2>&1 &
		pids+=($!)
		i=$((i + 1))
	done
	for pid in "${pids[@]}"; do wait "$pid" || die "wrk failed (see $TMP/wrk-$tag-*.txt)"; done
	local ok=0 errors=0 secs=0 p50=0 p99=0 line
	for ((i = 0; i < n; i++)); do
		line=$(grep '^WRKRESULT ' "$TMP/wrk-$tag-$i.txt") || die "no result in $TMP/wrk-$tag-$i.txt"
		local req st d e
		req=$(field "$line" requests)
		st=$(field "$line" status_errors)
		d=$(field "$line" duration_us)
		e=$((st + $(field "$line" connect_errors) + $(field "$line" read_errors) + $(field "$line" write_errors) + $(field "$line" timeouts)))
		ok=$((ok + req - st))
		errors=$((errors + e))
		secs=$(awk -v a="$secs" -v b="$d" 'BEGIN { print (b / 1e6 > a) ? b / 1e6 : a }')
		p50=$(awk -v a="$p50" -v b="$(field "$line" p50_us)" 'BEGIN { print (b > a) ? b : a }')
		p99=$(awk -v a="$p99" -v b="$(field "$line" p99_us)" 'BEGIN { print (b > a) ? b : a }')
	done
	awk -v ok="$ok" -v s="$secs" -v per="$per" -v e="$errors" -v p50="$p50" -v p99="$p99" \
		'BEGIN { printf "%.0f %d %.2f %.2f\n", ok * per / s, e, p50 / 1000, p99 / 1000 }'
}

declare -A RESULT=()
ERRORS=0
# measure SETUP SCENARIO SCRIPT PER_REQUEST NODE...
measure() {
	local setup=$1 scenario=$2 script=$3 per=$4
	shift 4
	local tag
	tag=$(echo "$setup-$scenario" | tr -c 'a-zA-Z0-9\n' '-')
	log "warm-up  $scenario on $setup ($WARMUP)"
	load "w-$tag" "$WARMUP" "$script" "$per" "$@" >/dev/null
	log "measure  $scenario on $setup ($DURATION, $CONNECTIONS connections)"
	RESULT["$setup|$scenario"]=$(load "m-$tag" "$DURATION" "$script" "$per" "$@")
	local errs
	errs=$(echo "${RESULT["$setup|$scenario"]}" | awk '{ print $2 }')
	if ((errs > 0)); then ERRORS=$((ERRORS + 1)); fi
}

SINGLE="single PD event"
BATCHN="$BATCH_SIZE-alert batch"

# One node.
fresh_database
start_node one "$DB_URL"
measure "1 node" "$SINGLE" "$BENCH/wrk/pd.lua" 1 one
measure "1 node" "$BATCHN" "$BENCH/wrk/alerts.lua" "$BATCH_SIZE" one
stop_server one

# Two nodes on one fresh database, the load split between them.
fresh_database
start_node a "$DB_URL"
start_node b "$DB_URL"
measure "2 nodes" "$SINGLE" "$BENCH/wrk/pd.lua" 1 a b
measure "2 nodes" "$BATCHN" "$BENCH/wrk/alerts.lua" "$BATCH_SIZE" a b
verify=$(curl -fsS -H "Authorization: Bearer $TOKEN" "${BASE[a]}/api/v1/audit/verify" | tr -d '\n' | grep -o '"ok":[a-z]*' || true)
stop_server a
stop_server b

echo
echo "Tocsin two-node ingest benchmark (PostgreSQL): $(nproc) cores, wrk ${CONNECTIONS} connections in all, ${DURATION} per run (+${WARMUP} warm-up), loopback"
printf '%-20s %-10s %10s %8s %8s %7s\n' scenario setup events/s "p50 ms" "p99 ms" errors
for scenario in "$SINGLE" "$BATCHN"; do
	for setup in "1 node" "2 nodes"; do
		read -r eps errs p50 p99 <<<"${RESULT["$setup|$scenario"]}"
		printf '%-20s %-10s %10s %8s %8s %7s\n' "$scenario" "$setup" "$eps" "$p50" "$p99" "$errs"
	done
done
echo "audit chains after the two-node runs: ${verify:-unknown}"
((ERRORS == 0)) || exit 1
