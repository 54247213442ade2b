#!/usr/bin/env bash
# Browser tests of the web pages against the real server: builds tocsin (or
# takes TOCSIN_BIN), starts it on a free loopback port with a fresh data
# directory and e2e/tocsin.yaml, sets the test accounts' passwords, seeds
# incidents through the ingestion endpoint, runs `node --test` on
# e2e/tests/*.test.mjs (or the test files given as arguments) in headless
# Chromium, then stops everything it started and removes its files. Exits
# with the tests' status.
#
# TOCSIN_E2E_DATABASE_URL: run the server on this (empty) PostgreSQL
# database instead of a fresh SQLite file.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)

step() { printf '\n==> %s\n' "$*"; }

# A random secret of 2×N hex digits.
secret() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# Succeeds when URL answers 2xx (node: no curl needed).
answers() { node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1"; }

# Waits up to $2 seconds for a line matching $3 in file $1; prints it.
wait_for_line() {
    local file=$1 seconds=$2 pattern=$3 pid=$4 line
    for _ in $(seq 1 $((seconds * 10))); do
        if line=$(grep -m1 -E "$pattern" "$file" 2>/dev/null); then
            printf '%s\n' "$line"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

if [ -z "${TOCSIN_BIN:-}" ]; then
    step "cargo build -p tocsin"
    (cd "$root" && cargo build -p tocsin)
    TOCSIN_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/tocsin"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    step "npm ci"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi

# Pictures of failures are of this run only.
rm -rf screenshots/failures

work=$(mktemp -d "${TMPDIR:-/tmp}/tocsin-e2e.XXXXXX")
server_pid=
receiver_pid=
stop() {
    local status=$?
    if [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null; then
        # SIGTERM drains and flushes; give it 15 s before pulling the plug.
        for _ in $(seq 1 150); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    if [ -n "$receiver_pid" ]; then
        kill -TERM "$receiver_pid" 2>/dev/null || true
        wait "$receiver_pid" 2>/dev/null || true
    fi
    if [ "$status" != 0 ] && [ -s "$work/server.log" ]; then
        printf '\n--- server log (last 50 lines)\n'
        tail -n 50 "$work/server.log"
    fi
    rm -rf "$work"
    exit "$status"
}
trap stop EXIT
trap 'exit 130' INT TERM

step "webhook receiver"
node receiver.mjs >"$work/receiver.out" 2>&1 &
receiver_pid=$!
line=$(wait_for_line "$work/receiver.out" 10 '^receiver listening on [0-9]+$' "$receiver_pid") || {
    cat "$work/receiver.out" >&2
    echo "the webhook receiver did not start" >&2
    exit 1
}
receiver_port=${line##* }
# The contact methods in tocsin.yaml point at 127.0.0.1:47801; use the real port.
sed "s/127\.0\.0\.1:47801/127.0.0.1:$receiver_port/g" tocsin.yaml >"$work/tocsin.yaml"
echo "receiver on 127.0.0.1:$receiver_port"

step "tocsin serve"
admin_token=$(secret 24)
export TOCSIN_E2E_TOKEN=$admin_token
export TOCSIN_E2E_ADMIN_PASSWORD=$(secret 12)
export TOCSIN_E2E_ALICE_PASSWORD=$(secret 12)
export TOCSIN_E2E_VICTOR_PASSWORD=$(secret 12)
serve=(serve --listen 127.0.0.1:0 --data-dir "$work/data" --config "$work/tocsin.yaml")
if [ -n "${TOCSIN_E2E_DATABASE_URL:-}" ]; then
    serve+=(--database-url "$TOCSIN_E2E_DATABASE_URL")
fi
# A TOCSIN_DATABASE_URL from the caller's shell must not point the server elsewhere.
env -u TOCSIN_DATABASE_URL -u TOCSIN_CONFIG -u TOCSIN_DATA_DIR \
    TOCSIN_ADMIN_TOKEN="$admin_token" TOCSIN_ADMIN_PASSWORD="$TOCSIN_E2E_ADMIN_PASSWORD" \
    "$TOCSIN_BIN" "${serve[@]}" >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
line=$(wait_for_line "$work/server.out" 60 '^tocsin listening on http://' "$server_pid") || {
    echo "tocsin did not start" >&2
    exit 1
}
url=${line##* }
for _ in $(seq 1 100); do answers "$url/readyz" && break; sleep 0.1; done
answers "$url/readyz" || { echo "$url/readyz never answered 200" >&2; exit 1; }
export TOCSIN_E2E_URL=$url
export TOCSIN_E2E_RECEIVER="http://127.0.0.1:$receiver_port"
echo "tocsin on $url"

step "passwords for alice and victor"
printf '%s\n' "$TOCSIN_E2E_ALICE_PASSWORD" |
    "$TOCSIN_BIN" users set-password alice --url "$url" --token "$admin_token"
printf '%s\n' "$TOCSIN_E2E_VICTOR_PASSWORD" |
    "$TOCSIN_BIN" users set-password victor --url "$url" --token "$admin_token"

step "seed incidents"
node seed.mjs

step "browser tests"
if [ $# -gt 0 ]; then tests=("$@"); else tests=(tests/*.test.mjs); fi
set +e
node --test --test-reporter=spec "${tests[@]}"
status=$?
set -e
exit "$status"
