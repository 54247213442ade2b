#!/usr/bin/env bash
# Tocsin ingest benchmark: throughput and latency of durable ingest, compared
# with an HTTP+JSON floor (bench/floor) and Prometheus Alertmanager, all on
# loopback in one run. See bench/README.md.
#
# Knobs (environment):
#   DURATION=10s       measured length of every load run
#   WARMUP=2s          unmeasured load before every measured run
#   CONNECTIONS=32     wrk connections (keep-alive)
#   THREADS=2          wrk threads
#   TIMEOUT=10s        wrk per-request timeout (a timeout counts as an error)
#   BATCH_SIZE=100     alerts per batch request
#   KEYS=0             0: every alert is new; N: each wrk thread cycles over
#                      N alert identities, so re-sends and new alerts mix
#                      (the same identities in every run against a server)
#   TARGETS=floor,tocsin,alertmanager   which servers to measure
#   NOISE=1            also the noise scenario (routing, grouping, 1,000
#                      silences) for tocsin and alertmanager; 0: skip it
#   NOISE_SILENCES=1000 NOISE_MATCHING=10 NOISE_TEAMS=25 NOISE_SERVICES=5
#                      its silences (how many match bench alerts) and tree
#                      (NOISE_TEAMS * 4 routes); see bench/noise.sh
#   LATENCY=1          also alert -> first page latency (bench/latency.sh) for
#                      tocsin and alertmanager at each of LATENCY_RATES;
#                      0: skip it
#   LATENCY_RATES=20,500  alerts per second (open loop) of those runs
#   LATENCY_SECONDS=10 how long each of them sends (COUNT = rate * seconds)
#   RESULTS_DIR=bench/results   where ingest-<date>.txt goes ("" = nowhere)
#   SKIP_BUILD=1       use the existing release binaries
#   READY_TIMEOUT=60   seconds to wait for each server to become ready
#   NOISY_PCT=10       flag a run when other processes used more than this % of the CPU
#   BENCH_KEEP=1       keep the temp dir (logs, raw wrk output, data)
#   BENCH_RESULTS=FILE also write the results as TSV to FILE (adds the server's
#                      CPU use in % of one core, and other processes' CPU use)
#   TMPDIR             where the temp dir (and so Tocsin's database) goes
#
# Exit status: 0 when every measured run completed without errors, 1 when any
# run saw non-2xx responses or socket errors (the table marks those rows),
# 2 on setup failure (a tool, build or server that did not come up).
set -euo pipefail

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
TIMEOUT=${TIMEOUT:-10s}
BATCH_SIZE=${BATCH_SIZE:-100}
TARGETS=${TARGETS:-floor,tocsin,alertmanager}
SKIP_BUILD=${SKIP_BUILD:-0}
READY_TIMEOUT=${READY_TIMEOUT:-60}
NOISY_PCT=${NOISY_PCT:-10}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_RESULTS=${BENCH_RESULTS:-}
NOISE=${NOISE:-1}
KEYS=${KEYS:-0}
LATENCY=${LATENCY:-1}
LATENCY_RATES=${LATENCY_RATES:-20,500}
LATENCY_SECONDS=${LATENCY_SECONDS:-10}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
RESULTS_DIR=${RESULTS_DIR-$BENCH/results}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
ALERTMANAGER_BIN=${ALERTMANAGER_BIN:-/usr/bin/prometheus-alertmanager}

PD_KEY=benchbenchbenchbenchbenchbench01
PROM_KEY=benchpromkey0123456789
NOISE_KEY=benchnoiseroutedkey0123

# shellcheck source=bench/lib.sh
source "$BENCH/lib.sh"
# shellcheck source=bench/noise.sh
source "$BENCH/noise.sh"

want() { [[ ",$TARGETS," == *",$1,"* ]]; }

for t in ${TARGETS//,/ }; do
	case $t in floor | tocsin | alertmanager) ;; *) die "unknown target '$t' in TARGETS" ;; esac
done
if ((CONNECTIONS < THREADS)); then die "CONNECTIONS ($CONNECTIONS) must be >= THREADS ($THREADS)"; fi

# ---------------------------------------------------------------- tools ----
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [[ $NOISE == 1 ]]; then
	command -v jq >/dev/null 2>&1 || need+=(jq)
	if want tocsin; then command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3); fi
fi
if want alertmanager && [[ ! -x $ALERTMANAGER_BIN ]]; then need+=(prometheus-alertmanager); fi
apt_install "${need[@]}"
command -v wrk >/dev/null 2>&1 || die "wrk not found after install"
command -v curl >/dev/null 2>&1 || die "curl not found after install"
if want alertmanager && [[ ! -x $ALERTMANAGER_BIN ]]; then die "$ALERTMANAGER_BIN not found"; fi

# ---------------------------------------------------------------- build ----
FLOOR_BIN=$TARGET_DIR/release/tocsin-bench-floor
TOCSIN_BIN=$TARGET_DIR/release/tocsin
if [[ $SKIP_BUILD != 1 ]]; then
	pkgs=(-p tocsin-bench-floor)
	if want tocsin; then pkgs+=(-p tocsin); fi
	if [[ $LATENCY == 1 ]]; then pkgs+=(-p tocsin-bench-latency); fi
	log "cargo build --release ${pkgs[*]}"
	(cd "$ROOT" && cargo build --release "${pkgs[@]}") || die "cargo build failed"
fi
if want floor && [[ ! -x $FLOOR_BIN ]]; then die "$FLOOR_BIN missing"; fi
if want tocsin && [[ ! -x $TOCSIN_BIN ]]; then die "$TOCSIN_BIN missing (build the tocsin package, or run with TARGETS=floor,alertmanager)"; fi

# ----------------------------------------------------- temp dir, cleanup ----
bench_tmp tocsin-bench
KEEP_NOTE=", raw wrk output in $TMP/wrk"

# smoke NAME URL BODY: one request like the load will send; must answer 2xx.
smoke() {
	local name=$1 url=$2 body=$3 code
	code=$(curl -sS -m 10 -o "$TMP/logs/smoke-$name.out" -w '%{http_code}' \
		-X POST -H 'Content-Type: application/json' --data-binary "$body" "$url") ||
		die "smoke request to $name ($url) failed"
	if [[ $code != 2?? ]]; then
		head -c 1000 "$TMP/logs/smoke-$name.out" >&2 || true
		echo >&2
		die "smoke request to $name ($url) answered HTTP $code (body above)"
	fi
}

pd_body() {
	printf '{"routing_key":"%s","event_action":"trigger","dedup_key":"smoke-%s","payload":{"summary":"bench smoke","source":"bench-host","severity":"critical"}}' "$PD_KEY" "$1"
}

alerts_body() {
	local now ends
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	ends=$(date -u -d '+5 minutes' +%Y-%m-%dT%H:%M:%SZ)
	printf '[{"labels":{"alertname":"BenchSmoke","instance":"smoke-%s-1"},"annotations":{"summary":"smoke"},"startsAt":"%s","endsAt":"%s","generatorURL":"http://prometheus.bench.invalid/graph"},' "$1" "$now" "$ends"
	printf '{"labels":{"alertname":"BenchSmoke","instance":"smoke-%s-2"},"annotations":{"summary":"smoke"},"startsAt":"%s","endsAt":"%s","generatorURL":"http://prometheus.bench.invalid/graph"}]' "$1" "$now" "$ends"
}

# ------------------------------------------------------------ load runs ----
mkdir -p "$TMP/wrk"
declare -A R_RPS=() R_EPS=() R_P50=() R_P99=() R_ERR=() R_OTHER=() R_SCPU=() R_RSS=()
RUN_SEQ=0

# wrk_once OUTFILE DURATION SCRIPT URL ARGS...: runs wrk, prints the WRKRESULT line.
wrk_once() {
	local out=$1 dur=$2 script=$3 url=$4
	shift 4
	if ! wrk -t "$THREADS" -c "$CONNECTIONS" -d "$dur" --timeout "$TIMEOUT" --latency \
		-s "$script" "$url" -- "$@" >"$out" 2>&1; then
		cat "$out" >&2
		die "wrk failed against $url"
	fi
	# CPU time wrk used (this subshell's only waited-for child so far), in
	# clock ticks like /proc/stat, appended to the result line.
	local wrk_ticks
	times >"$out.times" # a builtin: no fork, so it sees this shell's children
	wrk_ticks=$(awk 'NR == 2 {
		t = 0
		for (i = 1; i <= 2; i++) { split($i, p, /[ms]/); t += p[1] * 60 + p[2] }
		printf "%d", t * 100 }' "$out.times")
	local result
	result=$(grep '^WRKRESULT ' "$out" | tail -n 1) || {
		cat "$out" >&2
		die "no WRKRESULT line in wrk output ($out)"
	}
	echo "$result wrk_ticks=${wrk_ticks:-0}"
}

# measure SCENARIO TARGET EVENTS_PER_REQUEST SCRIPT URL [ARGS...]
measure() {
	local scenario=$1 target=$2 per_req=$3 script=$4 url=$5
	shift 5
	local key="$scenario|$target" slug
	slug=$(echo "$scenario-$target" | tr -c 'a-zA-Z0-9\n' '-')
	RUN_SEQ=$((RUN_SEQ + 1))
	log "warm-up  $scenario -> $target ($WARMUP)"
	local warm
	warm=$(wrk_once "$TMP/wrk/$slug.warmup.txt" "$WARMUP" "$script" "$url" "w$RUN_SEQ" "$@")
	local werr
	werr=$(($(field "$warm" status_errors) + $(field "$warm" connect_errors) + $(field "$warm" read_errors) + $(field "$warm" write_errors) + $(field "$warm" timeouts)))
	if ((werr > 0)); then log "warning: warm-up against $target had $werr errors ($TMP/wrk/$slug.warmup.txt)"; fi

	log "measure  $scenario -> $target ($DURATION, $CONNECTIONS connections, $THREADS threads)"
	local line c0 c1 s0 s1 server_pid=${PIDS[$target]}
	c0=$(cpu_ticks)
	s0=$(pid_ticks "$server_pid")
	line=$(wrk_once "$TMP/wrk/$slug.txt" "$DURATION" "$script" "$url" "m$RUN_SEQ" "$@")
	s1=$(pid_ticks "$server_pid")
	c1=$(cpu_ticks)
	# Resident memory at the end of the measured run (the server's own
	# process: Tocsin, Alertmanager or the floor), in MiB.
	R_RSS[$key]=$(awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$server_pid/status" 2>/dev/null || echo "?")
	# Share of the machine's CPU used by anything but this server and wrk
	# during the measured run (compiles, other services...).
	R_OTHER[$key]=$(awk -v c0="$c0" -v c1="$c1" -v s="$((s1 - s0))" -v w="$(field "$line" wrk_ticks)" 'BEGIN {
		split(c0, a, " "); split(c1, b, " "); busy = b[1] - a[1]; tot = b[2] - a[2]
		o = tot > 0 ? 100 * (busy - s - w) / tot : 0
		printf "%.0f", (o < 0 ? 0 : o) }')
	# Server CPU during the run, in percent of one core (TSV only).
	R_SCPU[$key]=$(awk -v c0="$c0" -v c1="$c1" -v s="$((s1 - s0))" -v n="$(nproc)" 'BEGIN {
		split(c0, a, " "); split(c1, b, " "); tot = b[2] - a[2]
		printf "%.0f", (tot > 0 ? 100 * n * s / tot : 0) }')
	local requests duration status connect read write timeouts p50 p99
	requests=$(field "$line" requests)
	duration=$(field "$line" duration_us)
	status=$(field "$line" status_errors)
	connect=$(field "$line" connect_errors)
	read=$(field "$line" read_errors)
	write=$(field "$line" write_errors)
	timeouts=$(field "$line" timeouts)
	p50=$(field "$line" p50_us)
	p99=$(field "$line" p99_us)
	# Only successful (non-error) responses count towards throughput.
	R_RPS[$key]=$(awk -v r="$requests" -v s="$status" -v d="$duration" 'BEGIN { printf "%.1f", (r - s) / (d / 1e6) }')
	R_EPS[$key]=$(awk -v x="${R_RPS[$key]}" -v n="$per_req" 'BEGIN { printf "%.1f", x * n }')
	R_P50[$key]=$(awk -v x="$p50" 'BEGIN { printf "%.2f", x / 1000 }')
	R_P99[$key]=$(awk -v x="$p99" 'BEGIN { printf "%.2f", x / 1000 }')
	local errs=""
	((status == 0)) || errs+=" non2xx=$status"
	((connect == 0)) || errs+=" connect=$connect"
	((read == 0)) || errs+=" read=$read"
	((write == 0)) || errs+=" write=$write"
	((timeouts == 0)) || errs+=" timeout=$timeouts"
	if [[ -n $errs ]]; then
		R_ERR[$key]="ERRORS:$errs of $requests responses"
		FAILED_RUNS=$((FAILED_RUNS + 1))
		log "!! $scenario -> $target had errors:$errs ($TMP/wrk/$slug.txt)"
	else
		R_ERR[$key]=""
	fi
}

SINGLE="single PD event"
SINGLE_AM="single event (1-alert)"
BATCHN="${BATCH_SIZE}-alert batch"
PD_LUA=$BENCH/wrk/pd.lua
ALERTS_LUA=$BENCH/wrk/alerts.lua
NOISE_LUA=$BENCH/wrk/noise.lua
NOISE1="noise 1-alert"
NOISEN="noise ${BATCH_SIZE}-alert batch"
# What the noise runs held back, for the report.
NOISE_AM_SILENCED="not run"
NOISE_TOCSIN_HELD="not run"
NOISE_TOCSIN_SAMPLE="not run"
NOISE_OK=1

BUSY=$(cpu_busy_pct 2>/dev/null || echo "?")
if [[ $BUSY != "?" ]] && ((BUSY > 20)); then
	log "warning: the CPUs are already ${BUSY}% busy with other work; the numbers will be skewed"
fi
log "temp dir $TMP; DURATION=$DURATION WARMUP=$WARMUP CONNECTIONS=$CONNECTIONS THREADS=$THREADS TARGETS=$TARGETS"

# Servers are measured one after another, and each is stopped once its runs
# are done, so no server's background work overlaps another's measurement.
if want floor; then
	port=$(free_port)
	base=http://127.0.0.1:$port
	start_server floor post "$base/v2/enqueue" -- "$FLOOR_BIN" "127.0.0.1:$port"
	smoke floor-pd "$base/v2/enqueue" "$(pd_body floor)"
	smoke floor-alerts "$base/api/v2/alerts" "$(alerts_body floor)"
	measure "$SINGLE" floor 1 "$PD_LUA" "$base/v2/enqueue" "$PD_KEY" "$KEYS"
	measure "$BATCHN" floor "$BATCH_SIZE" "$ALERTS_LUA" "$base/api/v2/alerts" "$BATCH_SIZE" "$KEYS"
	stop_server floor
fi

if want alertmanager; then
	port=$(free_port)
	base=http://127.0.0.1:$port
	mkdir -p "$TMP/alertmanager"
	cat >"$TMP/alertmanager/alertmanager.yml" <<'EOF'
route:
  receiver: 'null'
receivers:
  - name: 'null'
EOF
	start_server alertmanager get "$base/-/ready" -- "$ALERTMANAGER_BIN" \
		--config.file="$TMP/alertmanager/alertmanager.yml" \
		--storage.path="$TMP/alertmanager/data" \
		--web.listen-address="127.0.0.1:$port" \
		--cluster.listen-address= \
		--log.level=warn
	smoke alertmanager "$base/api/v2/alerts" "$(alerts_body am)"
	measure "$SINGLE_AM" alertmanager 1 "$ALERTS_LUA" "$base/api/v2/alerts" 1 "$KEYS"
	measure "$BATCHN" alertmanager "$BATCH_SIZE" "$ALERTS_LUA" "$base/api/v2/alerts" "$BATCH_SIZE" "$KEYS"
	stop_server alertmanager
fi

# Noise scenario, Alertmanager: the same 100 routes, group_by and silences
# as Tocsin's (bench/noise.sh), in a fresh instance.
if [[ $NOISE == 1 ]] && want alertmanager; then
	port=$(free_port)
	base=http://127.0.0.1:$port
	mkdir -p "$TMP/alertmanager-noise"
	noise_am_config >"$TMP/alertmanager-noise/alertmanager.yml"
	start_server alertmanager get "$base/-/ready" -- "$ALERTMANAGER_BIN" \
		--config.file="$TMP/alertmanager-noise/alertmanager.yml" \
		--storage.path="$TMP/alertmanager-noise/data" \
		--web.listen-address="127.0.0.1:$port" \
		--cluster.listen-address= \
		--log.level=warn
	noise_post_silences alertmanager "$base/api/v2/silences"
	smoke alertmanager-noise "$base/api/v2/alerts" "$(alerts_body am-noise)"
	measure "$NOISE1" alertmanager 1 "$NOISE_LUA" "$base/api/v2/alerts" 1 "$NOISE_TEAMS"
	measure "$NOISEN" alertmanager "$BATCH_SIZE" "$NOISE_LUA" "$base/api/v2/alerts" "$BATCH_SIZE" "$NOISE_TEAMS"
	# Alertmanager works out silences when it flushes a group and when it
	# lists alerts; how many bench alerts it holds as silenced.
	NOISE_AM_SILENCED=$(curl -fsS -m 60 -G "$base/api/v2/alerts" --data-urlencode 'active=false' \
		--data-urlencode 'silenced=true' --data-urlencode 'inhibited=false' --data-urlencode 'unprocessed=false' \
		--data-urlencode 'filter=job="bench"' |
		jq -r --arg m "$(printf 's%03d' "$NOISE_MATCHING")" '[.[] | select(.status.state == "suppressed")]
			| "\(length) bench alerts silenced, \(map(select(.labels.shard >= $m)) | length) of them on other shards"') ||
		NOISE_AM_SILENCED="could not be read"
	stop_server alertmanager
fi

if want tocsin; then
	port=$(free_port)
	base=http://127.0.0.1:$port
	mkdir -p "$TMP/tocsin/data"
	cat >"$TMP/tocsin/bench.yaml" <<EOF
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
	token=tcs_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
	prom_url=$base/integrations/prometheus/$PROM_KEY/api/v2/alerts
	start_server tocsin get "$base/readyz" -- env TOCSIN_ADMIN_TOKEN="$token" "$TOCSIN_BIN" serve \
		--listen "127.0.0.1:$port" \
		--data-dir "$TMP/tocsin/data" \
		--config "$TMP/tocsin/bench.yaml"
	smoke tocsin-pd "$base/v2/enqueue" "$(pd_body tocsin)"
	smoke tocsin-prometheus "$prom_url" "$(alerts_body tocsin)"
	measure "$SINGLE" tocsin 1 "$PD_LUA" "$base/v2/enqueue" "$PD_KEY" "$KEYS"
	measure "$BATCHN" tocsin "$BATCH_SIZE" "$ALERTS_LUA" "$prom_url" "$BATCH_SIZE" "$KEYS"
	stop_server tocsin
fi

# Noise scenario, Tocsin: routed Prometheus integration, 100 routes,
# grouping and 1,000 silences (bench/noise.sh), in a fresh data dir.
if [[ $NOISE == 1 ]] && want tocsin; then
	port=$(free_port)
	base=http://127.0.0.1:$port
	mkdir -p "$TMP/tocsin-noise/data"
	noise_tocsin_config "$NOISE_KEY" >"$TMP/tocsin-noise/noise.yaml"
	token=tcs_$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
	noise_url=$base/integrations/prometheus/$NOISE_KEY/api/v2/alerts
	start_server tocsin get "$base/readyz" -- env TOCSIN_ADMIN_TOKEN="$token" "$TOCSIN_BIN" serve \
		--listen "127.0.0.1:$port" \
		--data-dir "$TMP/tocsin-noise/data" \
		--config "$TMP/tocsin-noise/noise.yaml"
	noise_post_silences tocsin "$base/api/v2/silences" "$token"
	smoke tocsin-noise "$noise_url" "$(alerts_body tocsin-noise)"
	measure "$NOISE1" tocsin 1 "$NOISE_LUA" "$noise_url" 1 "$NOISE_TEAMS"
	measure "$NOISEN" tocsin "$BATCH_SIZE" "$NOISE_LUA" "$noise_url" "$BATCH_SIZE" "$NOISE_TEAMS"
	# The newest alerts through the API: each held back for a silence
	# exactly when its shard is one the matching silences name.
	NOISE_TOCSIN_SAMPLE=$(noise_api_sample "$base" "$token") || NOISE_OK=0
	stop_server tocsin
	NOISE_TOCSIN_HELD=$(noise_db_totals "$TMP/tocsin-noise/data/tocsin.db") || NOISE_OK=0
fi

# Paging latency: bench/latency.sh at each rate, its report kept for ours.
# Its "sent" column (webhook arrival - alert sent) is the comparison: the
# alert's whole way to a person's webhook on both sides.
declare -A LATENCY_REPORT=()
if [[ $LATENCY == 1 ]] && want tocsin && want alertmanager; then
	for rate in ${LATENCY_RATES//,/ }; do
		count=$((rate * LATENCY_SECONDS))
		log "paging latency at $rate/s ($count alerts per target; bench/latency.sh)"
		if ! LATENCY_REPORT[$rate]=$(COUNT=$count RATE=$rate SKIP_BUILD=1 RESULTS_DIR= TARGETS=tocsin,alertmanager \
			"$BENCH/latency.sh" 2>"$TMP/logs/latency-$rate.log"); then
			log "!! paging latency at $rate/s: some alerts were not delivered or the run failed ($TMP/logs/latency-$rate.log)"
			FAILED_RUNS=$((FAILED_RUNS + 1))
		fi
	done
fi

# latency_line RATE: the first-page p99 of both sides at RATE, from its report.
latency_line() {
	awk -v rate="$1" '
		$1 == "tocsin" { t = $12 } $1 == "alertmanager" { a = $12 }
		END {
			if (t == "" || a == "") { printf "paging latency at %s/s: not measured\n", rate; exit }
			verdict = (t != "-" && a != "-" && t + 0 <= a + 0) ? "met" : "NOT met"
			printf "first page p99 at %s/s (alert sent -> webhook arrived): tocsin %s ms, alertmanager %s ms (target: tocsin <= alertmanager): %s\n", rate, t, a, verdict
		}' <<<"${LATENCY_REPORT[$1]:-}"
}

# --------------------------------------------------------------- report ----
row() { # row SCENARIO TARGET
	local key="$1|$2"
	if [[ -z ${R_RPS[$key]:-} ]]; then
		printf '%-24s %-13s %9s %10s %8s %8s %7s  (not run)\n' "$1" "$2" - - - - -
		return
	fi
	local note=""
	if ((${R_OTHER[$key]:-0} > NOISY_PCT)); then
		note="  (noisy: other processes used ${R_OTHER[$key]}% of the CPU during this run)"
	fi
	printf '%-24s %-13s %9.0f %10.0f %8s %8s %7s%s%s\n' "$1" "$2" "${R_RPS[$key]}" "${R_EPS[$key]}" \
		"${R_P50[$key]}" "${R_P99[$key]}" "${R_RSS[$key]}" "${R_ERR[$key]:+  !! ${R_ERR[$key]}}" "$note"
	if [[ -n $BENCH_RESULTS ]]; then
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "${R_RPS[$key]}" "${R_EPS[$key]}" \
			"${R_P50[$key]}" "${R_P99[$key]}" "${R_RSS[$key]}" "${R_SCPU[$key]}" "${R_OTHER[$key]}" "${R_ERR[$key]:-ok}" >>"$BENCH_RESULTS"
	fi
}

# ratio A_KEY B_KEY: events/s of A over B, "n/a" if either is missing, and
# marked INVALID if either run had errors.
ratio() {
	local a=${R_EPS[$1]:-} b=${R_EPS[$2]:-}
	if [[ -z $a || -z $b ]]; then
		echo "n/a"
		return
	fi
	local r
	r=$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }')
	if [[ -n ${R_ERR[$1]} || -n ${R_ERR[$2]} ]]; then r="$r (INVALID: errors)"; fi
	echo "$r"
}

if [[ -n $BENCH_RESULTS ]]; then
	printf 'scenario\ttarget\treq_per_s\tevents_per_s\tp50_ms\tp99_ms\trss_mib\tserver_cpu_pct_of_core\tother_cpu_pct\tstatus\n' >"$BENCH_RESULTS"
fi
report() {
	echo
	echo "Tocsin ingest benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), tocsin $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'): $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), wrk $THREADS threads x $CONNECTIONS connections, $(if ((KEYS > 0)); then echo "$KEYS cycling alert identities per thread"; else echo "every alert new"; fi), ${DURATION} per run (+${WARMUP} warm-up), loopback; other CPU use before the run ${BUSY}%"
	printf '%-24s %-13s %9s %10s %8s %8s %7s\n' scenario target req/s events/s "p50 ms" "p99 ms" "rss MiB"
	row "$SINGLE" floor
	row "$SINGLE" tocsin
	row "$SINGLE_AM" alertmanager
	row "$BATCHN" floor
	row "$BATCHN" tocsin
	row "$BATCHN" alertmanager
	if [[ $NOISE == 1 ]]; then
		row "$NOISE1" tocsin
		row "$NOISE1" alertmanager
		row "$NOISEN" tocsin
		row "$NOISEN" alertmanager
	fi
	echo "ratios: single tocsin/alertmanager = $(ratio "$SINGLE|tocsin" "$SINGLE_AM|alertmanager") (target >= 2)," \
		"tocsin/floor = $(ratio "$SINGLE|tocsin" "$SINGLE|floor") (target >= 0.40);" \
		"batch tocsin/alertmanager alerts/s = $(ratio "$BATCHN|tocsin" "$BATCHN|alertmanager") (target >= 2)"
	if [[ $NOISE == 1 ]]; then
		echo "noise ($((NOISE_TEAMS * 4)) routes, group_by [alertname, instance], group_wait $NOISE_GROUP_WAIT, $NOISE_SILENCES silences of which $NOISE_MATCHING match):" \
			"1-alert tocsin/alertmanager = $(ratio "$NOISE1|tocsin" "$NOISE1|alertmanager")," \
			"batch tocsin/alertmanager alerts/s = $(ratio "$NOISEN|tocsin" "$NOISEN|alertmanager");" \
			"batch with noise / without: tocsin $(ratio "$NOISEN|tocsin" "$BATCHN|tocsin"), alertmanager $(ratio "$NOISEN|alertmanager" "$BATCHN|alertmanager")"
		echo "noise held back, tocsin (API): $NOISE_TOCSIN_SAMPLE"
		echo "noise held back, tocsin (database): $NOISE_TOCSIN_HELD"
		echo "noise silenced, alertmanager (API): $NOISE_AM_SILENCED"
	fi
	if [[ $LATENCY == 1 ]]; then
		for rate in ${LATENCY_RATES//,/ }; do latency_line "$rate"; done
		for rate in ${LATENCY_RATES//,/ }; do
			echo
			grep -v '^$' <<<"${LATENCY_REPORT[$rate]:-paging latency at $rate/s: not measured}"
		done
	fi
}
report | tee "$TMP/report.txt"
if [[ -n $RESULTS_DIR ]]; then
	mkdir -p "$RESULTS_DIR"
	out=$RESULTS_DIR/ingest-$(date -u +%Y%m%dT%H%M%SZ).txt
	cp "$TMP/report.txt" "$out"
	log "wrote $out"
fi
if ((NOISE_OK == 0)); then
	echo "!! the noise run did not hold back exactly the silenced alerts (above)" >&2
	FAILED_RUNS=$((FAILED_RUNS + 1))
fi
if ((FAILED_RUNS > 0)); then
	echo "!! $FAILED_RUNS measured run(s) had errors: their rows count only successful responses; the comparison is not valid." >&2
	exit 1
fi
