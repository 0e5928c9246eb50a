#!/usr/bin/env bash
# Posts EMAIL_REPLY webhooks to the real release daemon with wrk (an external
# load generator) and checks that every reply answered 2xx was stored.
#
#   scripts/webhook-load.sh [SPREAD_SECS] [ROUND_SECS]     (defaults 20 and 8)
#
# Phase 1: SPREAD_SECS of replies over 4,096 leads (wrk -t2 -c64).
# Phase 2: three consecutive ROUND_SECS rounds, every reply into one lead's
#          conversation, against one daemon; the third round's rate must be
#          at least 0.8x the first's.
# After each phase the daemon is stopped (SIGTERM: it flushes what it
# acknowledged) and the stored reply messages are counted from
# `outpost export`. Loopback only; the temp dir is removed on exit.
#
# Needs wrk, curl and python3; builds target/release/outpost if missing.
# Before each phase it waits (polling every 30 s, at most QUIET_WAIT_SECS,
# default 600) for the 1-minute load average to fall to 1.5 or below, and
# prints the load next to each figure.
set -euo pipefail
cd "$(dirname "$0")/.."
spread_secs=${1:-20}
round_secs=${2:-8}
quiet_wait=${QUIET_WAIT_SECS:-600}
bin=${CARGO_TARGET_DIR:-target}/release/outpost
[ -x "$bin" ] || cargo build --release --quiet
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
work=$(mktemp -d)
daemon=
cleanup() {
  [ -n "$daemon" ] && kill -9 "$daemon" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$((20000 + RANDOM % 20000))
export OUTPOST_WEBHOOK_SECRET="load-$RANDOM-$RANDOM"
# One Smartlead account, so that /webhooks/smartlead routes to it; its API is
# a closed loopback port and it polls hourly, so polling never competes.
cat > "$work/config.toml" <<TOML
[accounts.acme-smartlead]
provider = "smartlead"
api_key = "unused"
base_url = "http://127.0.0.1:9/api/v1"
poll_interval_secs = 3600

[daemon]
listen = "127.0.0.1:$port"
webhook_secret = "$OUTPOST_WEBHOOK_SECRET"
TOML
chmod 600 "$work/config.toml"
url="http://127.0.0.1:$port/webhooks/smartlead"

load1() { cut -d' ' -f1 /proc/loadavg; }

wait_quiet() {
  local waited=0
  while awk -v l="$(load1)" 'BEGIN { exit !(l > 1.5) }' && [ "$waited" -lt "$quiet_wait" ]; do
    echo "  load average $(load1) > 1.5; waiting (${waited} s so far)"
    sleep 30
    waited=$((waited + 30))
  done
}

start_daemon() { # $1 = data dir
  "$bin" --config "$work/config.toml" --data-dir "$1" --daemon >>"$work/daemon.log" 2>&1 &
  daemon=$!
  for _ in $(seq 1 600); do
    kill -0 "$daemon" 2>/dev/null || { echo "the daemon exited; its log:" >&2; tail -5 "$work/daemon.log" >&2; exit 1; }
    curl -sf -m 2 "http://127.0.0.1:$port/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "the daemon did not answer /health within 60 s" >&2
  exit 1
}

stop_daemon() {
  kill -TERM "$daemon"
  local deadline=$(( $(date +%s) + 120 ))
  while kill -0 "$daemon" 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "the daemon did not stop within 120 s" >&2; exit 1; }
    sleep 0.2
  done
  wait "$daemon" || true
  daemon=
}

run_wrk() { # $1 = seconds, $2 = mode, $3 = run tag; prints "requests non2xx rate"
  wrk -t2 -c64 -d"$1"s --timeout 30s -s scripts/webhook-reply.lua "$url" -- "$2" "$3" > "$work/wrk-$3.txt"
  python3 - "$work/wrk-$3.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
requests = int(re.search(r"(\d+) requests in", text).group(1))
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
non2xx = int(m.group(1)) if m else 0
errors = re.search(r"Socket errors: (.*)", text)
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
print(requests, non2xx, f"{rate:.0f}", (errors.group(1).replace(" ", "_") if errors else "none"))
PY
}

count_stored() { # $1 = data dir; prints "TAG COUNT" lines: inbound messages by run tag
  "$bin" --config "$work/config.toml" --data-dir "$1" export -o "$work/export.jsonl" 2>/dev/null
  python3 - "$work/export.jsonl" <<'PY'
import json, re, sys
counts = {}
for line in open(sys.argv[1]):
    if not line.startswith('{"kind":"message"'):
        continue
    record = json.loads(line)["record"]
    m = re.match(r"<reply-([^-]+)-", record.get("message_id") or "")
    if record.get("direction") == "inbound" and m:
        counts[m.group(1)] = counts.get(m.group(1), 0) + 1
for tag, n in sorted(counts.items()):
    print(tag, n)
PY
  rm -f "$work/export.jsonl"
}

stages() { # the writer's seconds so far per stage: "events payload_records leads"
  curl -sf -m 10 "http://127.0.0.1:$port/metrics" | python3 -c '
import re, sys
text = sys.stdin.read()
get = lambda stage: float(re.search(r"outpost_ingest_stage_seconds_total\{stage=\"%s\"\} ([\d.]+)" % stage, text).group(1))
print(get("events"), get("payload_records"), get("leads"))'
}

per_reply() { # $1 = stages before, $2 = stages after, $3 = replies; prints µs per reply per stage
  python3 -c '
import sys
before, after, n = sys.argv[1].split(), sys.argv[2].split(), max(int(sys.argv[3]), 1)
us = [(float(a) - float(b)) * 1e6 / n for a, b in zip(after, before)]
print(f"writer time per reply: events stage {us[0]:.0f} us, payload records {us[1]:.0f} us, leads {us[2]:.0f} us")' "$1" "$2" "$3"
}

check() { # $1 = label, $2 = requests, $3 = non2xx, $4 = stored
  local acked=$(( $2 - $3 ))
  local lost=$(( acked > $4 ? acked - $4 : 0 ))
  echo "$1: answered 2xx $acked, stored $4, lost $lost (stored beyond 2xx: $(( $4 > acked ? $4 - acked : 0 )), in flight when wrk stopped)"
  [ "$lost" -eq 0 ] || failed=1
}

failed=0
started=$(date +%s)

echo "phase 1: EMAIL_REPLY over 4,096 leads, ${spread_secs} s, wrk -t2 -c64"
wait_quiet
start_daemon "$work/spread"
load=$(load1)
before=$(stages)
read -r requests non2xx rate errors < <(run_wrk "$spread_secs" spread s1)
echo "  ${rate} replies/s; ${requests} requests, ${non2xx} non-2xx, socket errors ${errors}; load before ${load}"
echo "  $(per_reply "$before" "$(stages)" "$requests")"
stop_daemon
stored=$(count_stored "$work/spread" | awk '$1 == "s1" { print $2 }')
check "  phase 1" "$requests" "$non2xx" "${stored:-0}"

echo "phase 2: EMAIL_REPLY into one lead's conversation, 3 x ${round_secs} s, wrk -t2 -c64"
wait_quiet
start_daemon "$work/one"
declare -a rates acked_by_round
for round in 1 2 3; do
  load=$(load1)
  before=$(stages)
  read -r requests non2xx rate errors < <(run_wrk "$round_secs" one "o$round")
  rates[$round]=$rate
  acked_by_round[$round]="$requests $non2xx"
  echo "  round $round: ${rate} replies/s; ${requests} requests, ${non2xx} non-2xx, socket errors ${errors}; load before ${load}"
  echo "    $(per_reply "$before" "$(stages)" "$requests")"
done
stop_daemon
count_stored "$work/one" > "$work/one-counts"
for round in 1 2 3; do
  stored=$(awk -v t="o$round" '$1 == t { print $2 }' "$work/one-counts")
  # shellcheck disable=SC2086
  check "  round $round" ${acked_by_round[$round]} "${stored:-0}"
done
ratio=$(python3 -c "import sys; print(f'{float(sys.argv[2]) / float(sys.argv[1]):.2f}')" "${rates[1]}" "${rates[3]}")
echo "  round 3 / round 1 = ${ratio} (target >= 0.80)"
awk -v r="$ratio" 'BEGIN { exit !(r >= 0.8) }' || failed=1
echo "done in $(( $(date +%s) - started )) s"
exit "$failed"
