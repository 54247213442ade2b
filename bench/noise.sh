# The noise scenario of bench/run.sh: the same routing tree, grouping and
# silences, written once for Tocsin and once for Alertmanager, so both do
# the same work per alert. See bench/README.md, "Noise control".
#
# The tree: NOISE_TEAMS team routes (team="t00" …), each with three nested
# children using regex matchers, under one entry route (Tocsin) or the root
# route (Alertmanager): NOISE_TEAMS * 4 routes below it (100 by default).
# Siblings are tried in order, so an alert of team tNN is matched against
# NN earlier team routes first, then against its team's children.
#
# The alerts (bench/wrk/noise.lua) carry team = t(k % 25), alertname one of
# four names (k % 4) and shard = s(k % 1000) for the k-th alert a wrk thread
# sends, so every team, child and service gets its share.
#
# Silences: NOISE_SILENCES in all, of which NOISE_MATCHING match bench
# alerts (shard="s000", "s001" …: each holds back 0.1% of them); the others
# match none, in three shapes whose first matcher often matches, so that
# every alert is checked against every silence.
# shellcheck shell=bash

NOISE_TEAMS=${NOISE_TEAMS:-25}
NOISE_SERVICES=${NOISE_SERVICES:-5}
NOISE_SILENCES=${NOISE_SILENCES:-1000}
NOISE_MATCHING=${NOISE_MATCHING:-10}
# Same group_wait for both; short, so that Alertmanager's flush of each new
# group (where it checks silences and inhibitions) falls inside the
# measured run, as Tocsin's silence check does (at intake).
NOISE_GROUP_WAIT=${NOISE_GROUP_WAIT:-1s}
NOISE_GROUP_INTERVAL=${NOISE_GROUP_INTERVAL:-5m}

noise_service() { printf 'noise-%d' $(($1 % NOISE_SERVICES)); }
noise_team() { printf 't%02d' "$1"; }

# The three children of a team route: matchers and the service they go to.
# Printed as "MATCHER_LIST<TAB>SERVICE_OFFSET", matchers in Alertmanager's
# syntax, single-quoted YAML strings.
noise_children() {
	printf '%s\t1\n' "'alertname=~\"Disk.*|Filesystem.*\"'"
	printf '%s\t2\n' "'instance=~\"db-.*\"'"
	printf '%s\t3\n' "'severity=~\"warning|info\"', 'job=~\"bench|node\"'"
}

# noise_tocsin_config PROM_KEY: the Tocsin config of the noise scenario.
noise_tocsin_config() {
	local key=$1 s t matchers off
	echo "# storm: off: thousands of new alerts a second, and Alertmanager has"
	echo "# no storm limit, so neither does this side of the comparison."
	echo "services:"
	for ((s = 0; s < NOISE_SERVICES; s++)); do
		cat <<-EOF
			  - id: $(noise_service "$s")
			    name: Noise $s
			    grouping: { group_by: [alertname, instance], group_wait: $NOISE_GROUP_WAIT, group_interval: $NOISE_GROUP_INTERVAL }
			    storm: off
		EOF
	done
	cat <<-EOF
		integrations:
		  - { kind: prometheus, key: $key, route: bench }
		routes:
		  - id: bench
		    service: $(noise_service 0)
		    routes:
	EOF
	for ((t = 0; t < NOISE_TEAMS; t++)); do
		echo "      - matchers: ['team=\"$(noise_team "$t")\"']"
		echo "        service: $(noise_service "$t")"
		echo "        routes:"
		while IFS=$'\t' read -r matchers off; do
			echo "          - { matchers: [$matchers], service: $(noise_service $((t + off))) }"
		done < <(noise_children)
	done
}

# noise_am_config: Alertmanager's equivalent: receivers named after the
# services (null receivers), the same tree under its root route, the same
# group_by and timing.
noise_am_config() {
	local s t matchers off
	cat <<-EOF
		route:
		  receiver: $(noise_service 0)
		  group_by: [alertname, instance]
		  group_wait: $NOISE_GROUP_WAIT
		  group_interval: $NOISE_GROUP_INTERVAL
		  repeat_interval: 24h
		  routes:
	EOF
	for ((t = 0; t < NOISE_TEAMS; t++)); do
		echo "    - matchers: ['team=\"$(noise_team "$t")\"']"
		echo "      receiver: $(noise_service "$t")"
		echo "      routes:"
		while IFS=$'\t' read -r matchers off; do
			echo "        - { matchers: [$matchers], receiver: $(noise_service $((t + off))) }"
		done < <(noise_children)
	done
	echo "receivers:"
	for ((s = 0; s < NOISE_SERVICES; s++)); do
		echo "  - name: $(noise_service "$s")"
	done
}

# noise_silences: one silence body (API v2 JSON) per line, active for 2h.
noise_silences() {
	local now ends i m
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	ends=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)
	for ((i = 0; i < NOISE_SILENCES; i++)); do
		if ((i < NOISE_MATCHING)); then
			printf -v m '{"name":"job","value":"bench","isRegex":false,"isEqual":true},{"name":"shard","value":"s%03d","isRegex":false,"isEqual":true}' "$i"
		else
			case $((i % 3)) in
			0) printf -v m '{"name":"team","value":"t%02d","isRegex":false,"isEqual":true},{"name":"instance","value":"db-%d-.*","isRegex":true,"isEqual":true}' $((i % NOISE_TEAMS)) "$i" ;;
			1) printf -v m '{"name":"alertname","value":"DiskFull","isRegex":false,"isEqual":true},{"name":"job","value":"mysql-%d","isRegex":false,"isEqual":true}' "$i" ;;
			2) printf -v m '{"name":"severity","value":"critical|page","isRegex":true,"isEqual":true},{"name":"cluster","value":"c%d","isRegex":false,"isEqual":true}' "$i" ;;
			esac
		fi
		printf '{"matchers":[%s],"startsAt":"%s","endsAt":"%s","createdBy":"bench","comment":"noise bench %d"}\n' "$m" "$now" "$ends" "$i"
	done
}

# noise_post_silences NAME URL [TOKEN]: posts every silence, one after
# another over one keep-alive connection (one curl process); dies unless
# each answers 2xx.
noise_post_silences() {
	local name=$1 url=$2 token=${3:-} dir=$TMP/silences-$1 i=0 line
	mkdir -p "$dir"
	{
		while IFS= read -r line; do
			printf '%s' "$line" >"$dir/$i.json"
			((i == 0)) || echo next
			echo "url = \"$url\""
			echo 'header = "Content-Type: application/json"'
			if [[ -n $token ]]; then echo "header = \"Authorization: Bearer $token\""; fi
			echo "data-binary = \"@$dir/$i.json\""
			echo 'output = "/dev/null"'
			# curl's config unescapes \\ to \, and -w then reads \n as a newline.
			printf '%s\n' 'write-out = "%{http_code}\\n"'
			i=$((i + 1))
		done < <(noise_silences)
	} >"$dir/curl.conf"
	local codes started=$SECONDS
	codes=$(curl -sS -m 600 -K "$dir/curl.conf" | sort | uniq -c | tr -s ' ')
	if [[ $codes != " $NOISE_SILENCES 200" && $codes != " $NOISE_SILENCES 201" ]]; then
		die "creating $NOISE_SILENCES silences on $name: answers (count code):$codes"
	fi
	log "$name: $NOISE_SILENCES silences created in $((SECONDS - started)) s ($NOISE_MATCHING match bench alerts)"
}

# noise_api_sample BASE TOKEN: reads the newest bench alerts (4 pages of
# 500) through /api/v1/alerts and checks that each is held back for a
# silence exactly when its shard is one a matching silence names. Prints
# one line; fails on any mismatch.
noise_api_sample() {
	local base=$1 token=$2 cursor='' page out=$TMP/logs/noise-alerts.jsonl
	: >"$out"
	for _ in 1 2 3 4; do
		page=$(curl -fsS -m 30 -G -H "Authorization: Bearer $token" "$base/api/v1/alerts" \
			--data-urlencode limit=500 ${cursor:+--data-urlencode "cursor=$cursor"}) || return 1
		jq -c '.items[] | select(.labels.job == "bench")
			| {shard: .labels.shard, silenced: (.held_back | map(.kind) | index("silenced") != null)}' \
			<<<"$page" >>"$out"
		cursor=$(jq -r '.next_cursor // empty' <<<"$page")
		[[ -n $cursor ]] || break
	done
	jq -rs --arg m "$(printf 's%03d' "$NOISE_MATCHING")" '
		(map(select(.silenced)) | length) as $held
		| (map(select(.shard < $m)) | length) as $want
		| (map(select(.silenced != (.shard < $m))) | length) as $bad
		| "\($held) of the newest \(length) held back by a silence (expected \($want)), \($bad) mismatched"
		+ (if $bad > 0 then " !! MISMATCH" else "" end)' "$out"
	jq -se --arg m "$(printf 's%03d' "$NOISE_MATCHING")" 'all(.silenced == (.shard < $m))' "$out" >/dev/null
}

# noise_db_totals DB: the same check over every bench alert of the run, read
# from the stopped server's SQLite database. Prints one line; fails on any
# mismatch.
noise_db_totals() {
	local db=$1 m line
	m=$(printf 's%03d' "$NOISE_MATCHING")
	line=$(sqlite3 -separator ' ' "file:$db?mode=ro" "
		WITH a AS (
			SELECT json_extract(labels, '\$.shard') < '$m' AS want,
			       COALESCE(held_back LIKE '%\"kind\":\"silenced\"%', 0) AS held
			FROM alerts WHERE json_extract(labels, '\$.job') = 'bench')
		SELECT COUNT(*), COALESCE(SUM(held), 0), COALESCE(SUM(want), 0), COALESCE(SUM(held <> want), 0) FROM a") || return 1
	local total held want bad
	read -r total held want bad <<<"$line"
	local note=
	((bad == 0)) || note=" !! MISMATCH"
	echo "$held of all $total bench alerts held back by a silence (expected $want, $(awk -v h="$held" -v t="$total" 'BEGIN { printf "%.2f", (t > 0 ? 100 * h / t : 0) }')%), $bad mismatched$note"
	((bad == 0 && total > 0))
}
