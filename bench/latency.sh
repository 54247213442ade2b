#!/usr/bin/env bash
# Tocsin paging latency benchmark: from an alert's commit to the first
# delivery attempt at the paged person's webhook, compared with Prometheus
# Alertmanager's alert-to-webhook latency (group_wait: 0s), in one run on
# loopback. See bench/README.md, "Paging latency".
#
# Knobs (environment):
#   COUNT=500          measured alerts per target (each a new incident / group)
#   RATE=20            alerts per second, open loop
#   WARMUP_ALERTS=10   unmeasured alerts sent first
#   HOOK_TIMEOUT_MS=5000  an alert with no webhook this long after its ingest
#                      response counts as not delivered
#   TARGETS=tocsin,alertmanager   which servers to measure, in this order
#   SKIP_BUILD=1       use the existing release binaries
#   READY_TIMEOUT=60   seconds to wait for each server to become ready
#   BENCH_KEEP=1       keep the temp dir (logs, configs, per-alert CSVs)
#   RESULTS_DIR=bench/results   where latency-<date>.txt goes ("" = nowhere)
#   TMPDIR             where the temp dir (and so Tocsin's database) goes
#
# Exit status: 0 when every measured alert was delivered, 1 when some were
# not (the table says how many), 2 on setup failure.
set -euo pipefail

COUNT=${COUNT:-500}
RATE=${RATE:-20}
WARMUP_ALERTS=${WARMUP_ALERTS:-10}
HOOK_TIMEOUT_MS=${HOOK_TIMEOUT_MS:-5000}
TARGETS=${TARGETS:-tocsin,alertmanager}
SKIP_BUILD=${SKIP_BUILD:-0}
READY_TIMEOUT=${READY_TIMEOUT:-60}
BENCH_KEEP=${BENCH_KEEP:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
RESULTS_DIR=${RESULTS_DIR-$BENCH/results}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
ALERTMANAGER_BIN=${ALERTMANAGER_BIN:-/usr/bin/prometheus-alertmanager}

PD_KEY=latencybenchlatencybench00000001

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"

want() { [[ ",$TARGETS," == *",$1,"* ]]; }
for t in ${TARGETS//,/ }; do
	case $t in tocsin | alertmanager) ;; *) die "unknown target '$t' in TARGETS" ;; esac
done

# ---------------------------------------------------------------- tools ----
need=()
command -v curl >/dev/null 2>&1 || need+=(curl)
if want alertmanager && [[ ! -x $ALERTMANAGER_BIN ]]; then need+=(prometheus-alertmanager); fi
apt_install "${need[@]}"
command -v curl >/dev/null 2>&1 || die "curl not found after install"
if want alertmanager && [[ ! -x $ALERTMANAGER_BIN ]]; then die "$ALERTMANAGER_BIN not found"; fi

# ---------------------------------------------------------------- build ----
LATENCY_BIN=$TARGET_DIR/release/tocsin-bench-latency
TOCSIN_BIN=$TARGET_DIR/release/tocsin
if [[ $SKIP_BUILD != 1 ]]; then
	pkgs=(-p tocsin-bench-latency)
	if want tocsin; then pkgs+=(-p tocsin); fi
	log "cargo build --release ${pkgs[*]}"
	(cd "$ROOT" && cargo build --release "${pkgs[@]}") || die "cargo build failed"
fi
[[ -x $LATENCY_BIN ]] || die "$LATENCY_BIN missing"
if want tocsin && [[ ! -x $TOCSIN_BIN ]]; then
	die "$TOCSIN_BIN missing (build the tocsin package, or run with TARGETS=alertmanager)"
fi

# ------------------------------------------------------------- measure ----
bench_tmp tocsin-latency
KEEP_NOTE=", per-alert CSVs in $TMP/raw"
mkdir -p "$TMP/raw"
RESULTS=$TMP/results.tsv
: >"$RESULTS"
log "temp dir $TMP; COUNT=$COUNT RATE=$RATE/s WARMUP_ALERTS=$WARMUP_ALERTS HOOK_TIMEOUT_MS=$HOOK_TIMEOUT_MS TARGETS=$TARGETS"

# measure TARGET FORMAT URL [ARGS...]: sends the alerts to one server and
# receives its webhooks on $HOOK_PORT; appends a line to $RESULTS.
declare -A OTHER_CPU=()
measure() {
	local target=$1 format=$2 url=$3 rc=0 c0 c1 s0 s1 b0 b1 server_pid=${PIDS[$1]}
	shift 3
	c0=$(cpu_ticks)
	s0=$(pid_ticks "$server_pid")
	b0=$(children_ticks)
	"$LATENCY_BIN" --target "$target" --format "$format" --url "$url" \
		--listen "127.0.0.1:$HOOK_PORT" --count "$COUNT" --rate "$RATE" --warmup "$WARMUP_ALERTS" \
		--timeout-ms "$HOOK_TIMEOUT_MS" --raw "$TMP/raw/$target.csv" --result "$RESULTS" "$@" \
		>"$TMP/logs/latency-$target.out" || rc=$?
	b1=$(children_ticks)
	s1=$(pid_ticks "$server_pid")
	c1=$(cpu_ticks)
	# Share of the machine's CPU used by anything but this server and the
	# bench binary while it ran (compiles, other services...).
	OTHER_CPU[$target]=$(awk -v c0="$c0" -v c1="$c1" -v s="$((s1 - s0))" -v b="$((b1 - b0))" 'BEGIN {
		split(c0, x, " "); split(c1, y, " "); busy = y[1] - x[1]; tot = y[2] - x[2]
		o = tot > 0 ? 100 * (busy - s - b) / tot : 0
		printf "%.0f", (o < 0 ? 0 : o) }')
	case $rc in
	0) ;;
	1)
		FAILED_RUNS=$((FAILED_RUNS + 1))
		log "!! $target: not every alert was delivered (see the table)"
		;;
	*) die "the latency run against $target failed (exit $rc)" ;;
	esac
}

tocsin_config() { # tocsin_config HOOK_URL
	# The policy's first level pages the user directly, the user's only rule
	# uses the webhook at once, and the per-method rate limit is far above
	# the load so no page is held back into a bundle.
	cat <<-YAML
		users:
		  - id: bench-oncall
		    name: Bench On-Call
		    email: oncall@bench.invalid
		    contact_methods:
		      - { id: bench-hook, kind: webhook, url: "$1" }
		    notification_rules:
		      - { contact_method: bench-hook, after: 0s }
		escalation_policies:
		  - id: bench-policy
		    levels:
		      - { targets: [{ user: bench-oncall }], escalate_after: 5m }
		services:
		  - id: bench
		    name: Bench
		    escalation_policy: bench-policy
		    # 20 new alerts a second, each its own incident that must page:
		    # the default storm limit would page only the first 20 a minute.
		    storm: off
		    integrations:
		      - { kind: pagerduty, key: $PD_KEY }
		notifications:
		  rate_limit: { messages: 10000, window: 1m }
	YAML
}

alertmanager_config() { # alertmanager_config HOOK_URL
	# Every alert is its own group (group_by: ['...']) and a new group is
	# flushed at once (group_wait: 0s); nothing is re-sent during the run.
	cat <<-YAML
		route:
		  receiver: bench-hook
		  group_by: ['...']
		  group_wait: 0s
		  group_interval: 1h
		  repeat_interval: 24h
		receivers:
		  - name: bench-hook
		    webhook_configs:
		      - url: "$1"
		        send_resolved: false
	YAML
}

# CPU ticks used by this shell's finished children (the bench binary), read
# with the `times` builtin: no fork, so it sees this shell's children.
children_ticks() {
	times >"$TMP/times"
	awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] }
		printf "%d", t * 100 }' "$TMP/times"
}

BUSY=$(cpu_busy_pct 2>/dev/null || echo "?")
if [[ $BUSY != "?" ]] && ((BUSY > 20)); then
	log "warning: the CPUs are already ${BUSY}% busy with other work; latencies will be skewed"
fi

# Each server runs alone: started, measured, stopped.
for target in ${TARGETS//,/ }; do
	port=$(free_port)
	HOOK_PORT=$(free_port)
	base=http://127.0.0.1:$port
	hook=http://127.0.0.1:$HOOK_PORT/hook/$target
	mkdir -p "$TMP/$target"
	case $target in
	tocsin)
		tocsin_config "$hook" >"$TMP/tocsin/latency.yaml"
		token=tcs_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
		mkdir -p "$TMP/tocsin/data"
		start_server tocsin get "$base/readyz" -- env TOCSIN_ADMIN_TOKEN="$token" "$TOCSIN_BIN" serve \
			--listen "127.0.0.1:$port" \
			--data-dir "$TMP/tocsin/data" \
			--config "$TMP/tocsin/latency.yaml"
		measure tocsin pagerduty "$base/v2/enqueue" --routing-key "$PD_KEY"
		stop_server tocsin
		;;
	alertmanager)
		alertmanager_config "$hook" >"$TMP/alertmanager/alertmanager.yml"
		start_server alertmanager get "$base/-/ready" -- "$ALERTMANAGER_BIN" \
			--config.file="$TMP/alertmanager/alertmanager.yml" \
			--storage.path="$TMP/alertmanager/data" \
			--web.listen-address="127.0.0.1:$port" \
			--cluster.listen-address= \
			--log.level=warn
		measure alertmanager alertmanager "$base/api/v2/alerts"
		stop_server alertmanager
		;;
	esac
done

# --------------------------------------------------------------- report ----
versions="tocsin $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
if want alertmanager; then
	versions+=", alertmanager $("$ALERTMANAGER_BIN" --version 2>&1 | awk 'NR == 1 { print $3 }')"
fi
report() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "Paging latency, $(date -u +%Y-%m-%dT%H:%M:%SZ): $(nproc) cores (${cpu:-unknown CPU}), loopback; $versions;"
	echo "other CPU use before the run ${BUSY}%"
	echo "$COUNT alerts per target at $RATE/s (open loop), each a new incident / alert group, after $WARMUP_ALERTS unmeasured ones;"
	echo "not delivered = no webhook within $HOOK_TIMEOUT_MS ms of the ingest response. Times in ms:"
	echo "commit = webhook arrival - ingest response; sent = webhook arrival - request sent; ingest = response - request sent;"
	echo "other% = CPU share used by other processes during the target's run"
	printf '%-13s %5s %9s | %8s %8s %8s %8s | %8s %8s %8s %8s | %8s %8s | %6s\n' target n delivered \
		"commit50" p90 p99 max "sent p50" p90 p99 max "ingest50" p99 "other%"
	local target n delivered c50 c90 c99 cmax s50 s90 s99 smax a50 a99 errors late dups unmatched
	while IFS=$'\t' read -r target n delivered c50 c90 c99 cmax s50 s90 s99 smax a50 a99 errors late dups unmatched; do
		local note=""
		((delivered > 0)) || note+="  !! 0 delivered: no webhook arrived"
		((errors == 0)) || note+="  !! $errors rejected by the server"
		((late == 0)) || note+="  !! $late arrived after the timeout"
		((dups == 0)) || note+="  ($dups extra webhooks)"
		((unmatched == 0)) || note+="  ($unmatched unmatched webhooks)"
		if ((${OTHER_CPU[$target]:-0} > 10)); then
			note+="  (noisy: other processes used ${OTHER_CPU[$target]}% of the CPU during this run)"
		fi
		printf '%-13s %5s %9s | %8s %8s %8s %8s | %8s %8s %8s %8s | %8s %8s | %6s%s\n' "$target" "$n" "$delivered" \
			"$c50" "$c90" "$c99" "$cmax" "$s50" "$s90" "$s99" "$smax" "$a50" "$a99" "${OTHER_CPU[$target]:-?}" "$note"
	done <"$RESULTS"
	echo "('-': the percentile falls on an alert that was not delivered, which counts as infinitely late)"
	awk -F'\t' '$1 == "tocsin" {
		verdict = ($6 != "-" && $6 + 0 <= 100) ? "met" : "NOT met"
		printf "requirement: tocsin commit-to-first-delivery p99 <= 100 ms: %s (p99 %s ms)\n", verdict, $6 }' "$RESULTS"
}
echo
report | tee "$TMP/report.txt"
if [[ -n $RESULTS_DIR ]]; then
	mkdir -p "$RESULTS_DIR"
	out=$RESULTS_DIR/latency-$(date -u +%Y%m%dT%H%M%SZ).txt
	cp "$TMP/report.txt" "$out"
	log "wrote $out"
fi
if ((FAILED_RUNS > 0)); then exit 1; fi
