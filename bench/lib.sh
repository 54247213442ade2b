# Shared setup for the benchmark scripts (bench/run.sh, bench/latency.sh):
# logging, package install, a temp dir with cleanup, free loopback ports,
# starting servers and waiting until they are ready, stopping them.
#
# Source it, set READY_TIMEOUT and BENCH_KEEP, then call bench_tmp NAME.
# FAILED_RUNS (incremented by the caller) keeps the temp dir on exit.
# shellcheck shell=bash

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
	printf '[bench] ERROR: %s\n' "$*" >&2
	FAILED_SETUP=1
	exit 2
}

# apt_install PKG...: installs the packages with apt-get (through sudo when
# not root); dies if that fails.
apt_install() {
	(($#)) || return 0
	log "installing $* with apt-get"
	local sudo=()
	if ((EUID != 0)); then sudo=(sudo); fi
	"${sudo[@]}" apt-get update -qq || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" ||
		die "apt-get install $* failed"
}

declare -A PIDS=()
FAILED_SETUP=0
FAILED_RUNS=0
# Said when the temp dir is kept; callers may add to it.
KEEP_NOTE=

# bench_tmp NAME: makes the temp dir $TMP (with $TMP/logs) and removes it on
# exit unless BENCH_KEEP=1 or something failed; stops every server on exit.
bench_tmp() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	mkdir -p "$TMP/logs"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

stop_server() {
	local name=$1 pid=${PIDS[$1]:-}
	[[ -n $pid ]] || return 0
	unset "PIDS[$name]"
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	for name in "${!PIDS[@]}"; do stop_server "$name"; done
	if [[ $BENCH_KEEP == 1 || $rc != 0 || $FAILED_SETUP == 1 || $FAILED_RUNS != 0 ]]; then
		log "kept $TMP (server logs in $TMP/logs$KEEP_NOTE)"
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}

# A loopback port nothing listens on right now (servers that lose a race for
# it fail to start, which the readiness check reports).
declare -A USED_PORTS=()
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 40000))
		[[ -z ${USED_PORTS[$p]:-} ]] || continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			USED_PORTS[$p]=1
			echo "$p"
			return 0
		fi
	done
	die "no free loopback port found"
}

# start_server NAME PROBE_KIND PROBE_URL -- CMD...
# PROBE_KIND is "get" (GET must answer 2xx) or "post" (POST {} must answer 2xx).
start_server() {
	local name=$1 kind=$2 url=$3
	shift 4
	log "starting $name: $*"
	"$@" >"$TMP/logs/$name.log" 2>&1 &
	local pid=$!
	PIDS[$name]=$pid
	local deadline=$((SECONDS + READY_TIMEOUT))
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$TMP/logs/$name.log" >&2 || true
			die "$name exited before becoming ready (log above, full log in $TMP/logs/$name.log)"
		fi
		if [[ $kind == get ]]; then
			curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null && break
		else
			curl -fsS -m 2 -o /dev/null -X POST -H 'Content-Type: application/json' -d '{}' "$url" 2>/dev/null && break
		fi
		if ((SECONDS >= deadline)); then
			tail -n 30 "$TMP/logs/$name.log" >&2 || true
			die "$name not ready at $url after ${READY_TIMEOUT}s (log above)"
		fi
		sleep 0.2
	done
	log "$name ready (pid $pid)"
}

# How busy the machine is with other work (CPU use over one second, before
# any server starts): the benchmark shares the cores with everything else.
cpu_busy_pct() {
	local a b
	a=$(head -n 1 /proc/stat)
	sleep 1
	b=$(head -n 1 /proc/stat)
	awk -v a="$a" -v b="$b" 'BEGIN {
		na = split(a, x); split(b, y); tot = 0; idle = 0
		for (i = 2; i <= na; i++) { d = y[i] - x[i]; tot += d; if (i == 5 || i == 6) idle += d }
		printf "%.0f", (tot > 0 ? 100 * (tot - idle) / tot : 0) }'
}

# Machine-wide CPU: "busy total" in clock ticks since boot (/proc/stat).
# Busy leaves out irq/softirq time: loopback traffic is processed there and
# is charged to no process, so it would otherwise look like "other" work.
cpu_ticks() {
	head -n 1 /proc/stat | awk '{ print $2 + $3 + $4 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }'
}

# CPU ticks (user + system) a process has used so far.
pid_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

# field LINE NAME: the value of NAME=value in a wrk result line.
field() {
	local kv
	for kv in $1; do
		if [[ $kv == "$2="* ]]; then
			echo "${kv#*=}"
			return 0
		fi
	done
	die "wrk result has no $2"
}
