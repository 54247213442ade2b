#!/usr/bin/env bash
# Tocsin page render benchmark: the server's own time (Server-Timing) and
# the client's latency for /incidents and /incidents/{id} with 10,000
# incidents holding 100,000 alerts, with one keep-alive client and with
# several at once. Requirement: every page's server p99 under 50 ms. See
# bench/README.md, "Page render".
#
# Usage: bench/pages.sh [--pg]     (--pg: PostgreSQL too, after SQLite)
#
# Knobs (environment):
#   BACKENDS=sqlite     comma-separated: sqlite, postgres (--pg adds postgres)
#   PG_URL=postgres://postgres@127.0.0.1:5432/postgres
#                       server to create the benchmark database on (dropped at the end)
#   INCIDENTS=10000 ALERTS=100000 SERVICES=20    the data set
#   REQUESTS=2000       timed requests per page and level of concurrency
#   WARMUP=50           untimed requests per page first
#   CLIENTS=8           concurrent clients in the second pass
#   SKIP_BUILD=1        use the existing release binaries
#   READY_TIMEOUT=60    seconds to wait for the server to become ready
#   BENCH_KEEP=1        keep the temp dir (server logs, config, plan, raw times, the SQLite
#                       database) and the PostgreSQL database
#   RESULTS_DIR=bench/results   where pages-<date>.txt goes ("" = nowhere)
#   TMPDIR              where the temp dir (and so the SQLite database) goes
#
# Exit status: 0 when every page's server p99 was under 50 ms, 1 when not,
# 2 on setup failure.
set -euo pipefail

BACKENDS=${BACKENDS:-sqlite}
for arg in "$@"; do
	case $arg in
	--pg) BACKENDS=$BACKENDS,postgres ;;
	*)
		echo "usage: $0 [--pg]" >&2
		exit 2
		;;
	esac
done
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
INCIDENTS=${INCIDENTS:-10000}
ALERTS=${ALERTS:-100000}
SERVICES=${SERVICES:-20}
REQUESTS=${REQUESTS:-2000}
WARMUP=${WARMUP:-50}
CLIENTS=${CLIENTS:-8}
SKIP_BUILD=${SKIP_BUILD:-0}
READY_TIMEOUT=${READY_TIMEOUT:-60}
BENCH_KEEP=${BENCH_KEEP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
RESULTS_DIR=${RESULTS_DIR-$BENCH/results}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
TOCSIN_BIN=$TARGET_DIR/release/tocsin
PAGES_BIN=$TARGET_DIR/release/tocsin-bench-pages
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
if [[ ,$BACKENDS, == *,postgres,* ]]; then
	command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
fi
apt_install "${need[@]}"
if [[ ,$BACKENDS, == *,postgres,* ]]; then
	psql "$PG_URL" -qAtc 'SELECT 1' >/dev/null || die "PostgreSQL at PG_URL is not reachable"
fi

if [[ $SKIP_BUILD != 1 ]]; then
	log "cargo build --release -p tocsin -p tocsin-bench-pages"
	(cd "$ROOT" && cargo build --release -p tocsin -p tocsin-bench-pages) || die "cargo build failed"
fi
[[ -x $TOCSIN_BIN ]] || die "$TOCSIN_BIN missing"
[[ -x $PAGES_BIN ]] || die "$PAGES_BIN missing"

bench_tmp tocsin-pages
DATABASES=()
on_exit() {
	local rc=$? db
	for name in "${!PIDS[@]}"; do stop_server "$name"; done
	for db in "${DATABASES[@]}"; do
		if [[ $BENCH_KEEP == 1 ]]; then
			log "kept database $db on $PG_URL"
		else
			psql "$PG_URL" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
		fi
	done
	(exit "$rc")
	cleanup
}
trap on_exit EXIT

BUSY=$(cpu_busy_pct 2>/dev/null || echo "?")
if [[ $BUSY != "?" ]] && ((BUSY > 20)); then
	log "warning: the CPUs are already ${BUSY}% busy with other work; figures will be skewed"
fi

# The admin token doubles as the admin's password (at least 32 characters).
SECRET=tcs_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
PORT=$(free_port)
HOOK_PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
"$PAGES_BIN" config --hook "http://127.0.0.1:$HOOK_PORT" --services "$SERVICES" >"$TMP/pages.yaml"

# serve NAME DATA_DIR [DATABASE_URL]: starts the server on PORT.
serve() {
	local name=$1 dir=$2 db=${3:-}
	local flags=(--listen "127.0.0.1:$PORT" --data-dir "$dir" --config "$TMP/pages.yaml")
	if [[ -n $db ]]; then flags+=(--database-url "$db"); fi
	# In the environment, not the logged command line.
	TOCSIN_ADMIN_TOKEN=$SECRET TOCSIN_ADMIN_PASSWORD=$SECRET RUST_LOG=warn \
		start_server "$name" get "$BASE/readyz" -- "$TOCSIN_BIN" serve "${flags[@]}"
}

# run_backend BACKEND: seeds a fresh database, reshapes it, measures; the
# table goes to $TMP/BACKEND.txt.
run_backend() {
	local backend=$1 dir=$TMP/$1 db_url= location
	mkdir -p "$dir"
	if [[ $backend == postgres ]]; then
		local db
		db=tocsin_pages_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
		psql "$PG_URL" -qAtc "CREATE DATABASE $db" >/dev/null || die "cannot create database $db"
		DATABASES+=("$db")
		db_url=${PG_URL%/*}/$db
		location=$db_url
	else
		location=$dir/tocsin.db
	fi
	local started=$SECONDS
	serve "$backend-seed" "$dir" "$db_url"
	"$PAGES_BIN" seed --url "$BASE" --token "$SECRET" --listen "127.0.0.1:$HOOK_PORT" --plan "$TMP/$backend-plan.tsv" \
		--incidents "$INCIDENTS" --alerts "$ALERTS" --services "$SERVICES" ||
		die "seeding $backend failed"
	stop_server "$backend-seed"
	"$PAGES_BIN" reshape --database "$location" --plan "$TMP/$backend-plan.tsv" || die "reshaping $backend failed"
	log "$backend: data set ready in $((SECONDS - started)) s"
	serve "$backend" "$dir" "$db_url"
	local rc=0
	"$PAGES_BIN" measure --url "$BASE" --password "$SECRET" --plan "$TMP/$backend-plan.tsv" \
		--requests "$REQUESTS" --warmup "$WARMUP" --clients "$CLIENTS" --raw "$TMP/$backend-raw.tsv" \
		>"$TMP/$backend.txt" || rc=$?
	stop_server "$backend"
	case $rc in
	0) ;;
	1) FAILED_RUNS=$((FAILED_RUNS + 1)) ;;
	*) die "measuring $backend failed (exit $rc)" ;;
	esac
}

IFS=, read -r -a backends <<<"$BACKENDS"
for backend in "${backends[@]}"; do
	case $backend in
	sqlite | postgres) run_backend "$backend" ;;
	*) die "BACKENDS: unknown backend $backend (sqlite, postgres)" ;;
	esac
done

{
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "Page render, $(date -u +%Y-%m-%dT%H:%M:%SZ): tocsin $COMMIT, $(nproc) cores (${cpu:-unknown CPU}), loopback;"
	echo "other CPU use before the run ${BUSY}%; 1 then $CLIENTS keep-alive clients"
	for backend in "${backends[@]}"; do
		echo
		if [[ $backend == postgres ]]; then echo "PostgreSQL ($PG_URL):"; else echo "SQLite (in $TMP):"; fi
		cat "$TMP/$backend.txt"
	done
} | tee "$TMP/report.txt"
if [[ -n $RESULTS_DIR ]]; then
	mkdir -p "$RESULTS_DIR"
	out=$RESULTS_DIR/pages-$(date -u +%Y%m%dT%H%M%SZ).txt
	cp "$TMP/report.txt" "$out"
	log "wrote $out"
fi
if ((FAILED_RUNS > 0)); then exit 1; fi
