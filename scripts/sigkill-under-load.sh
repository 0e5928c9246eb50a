#!/usr/bin/env bash
# Kills the daemon with SIGKILL in the middle of webhook load, restarts on the
# same data dir, and checks that every webhook answered 2xx is in the store.
#
#   scripts/sigkill-under-load.sh [ROUNDS]        (default 3 rounds)
#
# Needs curl and python3. Uses target/debug/outpost (built if missing).
#
# The daemon is started as a direct child of this script (not through a shell
# function: `$!` would then be a subshell, and SIGKILL would leave the real
# daemon running with the data-dir lock and the port), and each round waits
# for *that* process to answer /health before the load starts.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
bin=${CARGO_TARGET_DIR:-target}/debug/outpost
[ -x "$bin" ] || cargo build --quiet
work=$(mktemp -d)
trap 'kill -9 ${daemon:-0} 2>/dev/null || true; rm -rf "$work"' EXIT
started=$(date +%s)
# The daemon's config (one unreachable Smartlead account, the webhook
# secret, a random loopback port) is the load scripts' own.
. scripts/lib/webhook-daemon.sh
secret=$OUTPOST_WEBHOOK_SECRET
args=(--config "$work/config.toml" --data-dir "$work/data")

wait_ready() { # $1 = daemon pid; fails if it exits or is not serving within 60 s
  for _ in $(seq 1 600); do
    kill -0 "$1" 2>/dev/null || { echo "the daemon exited; its log:" >&2; tail -5 "$work/daemon.log" >&2; exit 1; }
    curl -sf -m 2 "http://127.0.0.1:$port/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "the daemon did not answer /health within 60 s" >&2
  exit 1
}

post() { # $1 = request number; prints the lead email when answered 2xx
  local email="lead$1@kill.example"
  local body="{\"event_type\":\"EMAIL_OPEN\",\"campaign_id\":1,\"sl_email_lead_id\":\"$1\",\"sl_lead_email\":\"$email\",\"stats_id\":\"s-$1\",\"event_timestamp\":\"2025-06-04T08:02:31Z\",\"secret_key\":\"$secret\"}"
  local code
  code=$(curl -s -o /dev/null -m 5 -w '%{http_code}' -H 'content-type: application/json' \
    --data "$body" "http://127.0.0.1:$port/webhooks/smartlead" || true)
  [ "$code" = 200 ] && echo "$email"
  return 0
}

: > "$work/acked"
next=0
for round in $(seq 1 "$rounds"); do
  t0=$(date +%s.%N)
  "$bin" "${args[@]}" --daemon >>"$work/daemon.log" 2>&1 &
  daemon=$!
  wait_ready "$daemon"
  ready_secs=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$(date +%s.%N)")
  end=$(( $(date +%s) + 4 ))
  for worker in $(seq 0 7); do
    ( n=$((next + worker)); while [ "$(date +%s)" -lt "$end" ]; do post $n; n=$((n + 8)); done ) >> "$work/acked" &
  done
  sleep 3
  kill -9 "$daemon"
  wait # the daemon and the load workers (they stop on their own a second later)
  next=$((next + 1000000))
  echo "round $round: ready in ${ready_secs} s; SIGKILL after 3 s of load; $(wc -l < "$work/acked") acknowledged so far"
done

"$bin" "${args[@]}" leads --json > "$work/leads.json"
python3 - "$work/acked" "$work/leads.json" <<'PY'
import json, sys
acked = {l.strip() for l in open(sys.argv[1]) if l.strip()}
leads = json.load(open(sys.argv[2]))
rows = leads if isinstance(leads, list) else leads.get("leads", [])
stored = {r["email"] for r in rows if r.get("last_event") == "email_opened"}
lost = sorted(acked - stored)
print(f"acknowledged {len(acked)}, stored {len(acked & stored)}, lost {len(lost)}")
if lost:
    print("lost:", lost[:10])
    sys.exit(1)
PY
echo "$rounds rounds in $(( $(date +%s) - started )) s"
