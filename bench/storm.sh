#!/usr/bin/env bash
# Tocsin alert storm benchmark: while one service's storm (10,000 new
# alerts pushed to its Prometheus integration) is worked off, how long new
# incidents on other services wait for their first page (p50/p90/p99/max),
# and how long the storm itself takes to drain. See bench/README.md,
# "Alert storm".
#
# Knobs (environment):
#   ALERTS=10000        alerts in the storm, each a new incident
#   BATCH=1000          alerts per push
#   QUIET_SERVICES=40   other services, taking turns for the probes (each
#                       person gets at most 10 pages in 10 minutes)
#   PROBE_EVERY_MS=250  one new incident on another service this often
#   MAX_PROBES=300      at most this many probes
#   TOCSIN_BIN          the server to measure (default target/release/tocsin,
#                       built first); point it at another build to compare
#   LABEL               name in the output (default: the commit)
#   SKIP_BUILD=1        use the existing release binaries
#   READY_TIMEOUT=60    seconds to wait for the server to become ready
#   BENCH_KEEP=1        keep the temp dir (server log, config)
#   RESULTS_DIR=bench/results   where storm-<date>.txt goes ("" = nowhere)
#   TMPDIR              where the temp dir (and so the database) goes
#
# Exit status: 0 when the storm drained and every probe was paged, 1 when
# not, 2 on setup failure.
set -euo pipefail

ALERTS=${ALERTS:-10000}
BATCH=${BATCH:-1000}
QUIET_SERVICES=${QUIET_SERVICES:-40}
PROBE_EVERY_MS=${PROBE_EVERY_MS:-250}
MAX_PROBES=${MAX_PROBES:-300}
SKIP_BUILD=${SKIP_BUILD:-0}
READY_TIMEOUT=${READY_TIMEOUT:-60}
BENCH_KEEP=${BENCH_KEEP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
RESULTS_DIR=${RESULTS_DIR-$BENCH/results}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
STORM_BIN=$TARGET_DIR/release/tocsin-bench-storm
LABEL=${LABEL:-tocsin $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')}

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

command -v curl >/dev/null 2>&1 || apt_install curl
command -v curl >/dev/null 2>&1 || die "curl not found after install"

if [[ $SKIP_BUILD != 1 ]]; then
	pkgs=(-p tocsin-bench-storm)
	if [[ -z ${TOCSIN_BIN:-} ]]; then pkgs+=(-p tocsin); fi
	log "cargo build --release ${pkgs[*]}"
	(cd "$ROOT" && cargo build --release "${pkgs[@]}") || die "cargo build failed"
fi
TOCSIN_BIN=${TOCSIN_BIN:-$TARGET_DIR/release/tocsin}
[[ -x $STORM_BIN ]] || die "$STORM_BIN missing"
[[ -x $TOCSIN_BIN ]] || die "$TOCSIN_BIN missing"

bench_tmp tocsin-storm
BUSY=$(cpu_busy_pct 2>/dev/null || echo "?")
if [[ $BUSY != "?" ]] && ((BUSY > 20)); then
	log "warning: the CPUs are already ${BUSY}% busy with other work; figures will be skewed"
fi

port=$(free_port)
HOOK_PORT=$(free_port)
base=http://127.0.0.1:$port
"$STORM_BIN" config --hook "http://127.0.0.1:$HOOK_PORT" --quiet-services "$QUIET_SERVICES" >"$TMP/storm.yaml"
token=tcs_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
mkdir -p "$TMP/data"
start_server tocsin get "$base/readyz" -- env TOCSIN_ADMIN_TOKEN="$token" RUST_LOG=warn "$TOCSIN_BIN" serve \
	--listen "127.0.0.1:$port" \
	--data-dir "$TMP/data" \
	--config "$TMP/storm.yaml"
log "temp dir $TMP; ALERTS=$ALERTS BATCH=$BATCH QUIET_SERVICES=$QUIET_SERVICES PROBE_EVERY_MS=$PROBE_EVERY_MS"
rc=0
"$STORM_BIN" run --url "$base" --token "$token" --listen "127.0.0.1:$HOOK_PORT" \
	--alerts "$ALERTS" --batch "$BATCH" --quiet-services "$QUIET_SERVICES" \
	--probe-every-ms "$PROBE_EVERY_MS" --max-probes "$MAX_PROBES" --label "$LABEL" \
	>"$TMP/run.txt" || rc=$?
stop_server tocsin
case $rc in
0) ;;
1) FAILED_RUNS=1 ;;
*) die "the storm run failed (exit $rc)" ;;
esac

{
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "Alert storm, $(date -u +%Y-%m-%dT%H:%M:%SZ): $(nproc) cores (${cpu:-unknown CPU}), loopback, SQLite in $TMP;"
	echo "other CPU use before the run ${BUSY}%; one probe every $PROBE_EVERY_MS ms on $QUIET_SERVICES other services until the storm drained"
	cat "$TMP/run.txt"
} | tee "$TMP/report.txt"
if [[ -n $RESULTS_DIR ]]; then
	mkdir -p "$RESULTS_DIR"
	out=$RESULTS_DIR/storm-$(date -u +%Y%m%dT%H%M%SZ).txt
	cp "$TMP/report.txt" "$out"
	log "wrote $out"
fi
if ((FAILED_RUNS > 0)); then exit 1; fi
