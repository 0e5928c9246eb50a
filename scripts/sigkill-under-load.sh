#!/usr/bin/env bash
# Kills the daemon with SIGKILL in the middle of webhook load, restarts on the
# same data dir, and checks that every webhook answered 2xx is in the store.
#
#   scripts/sigkill-under-load.sh [ROUNDS]        (default 3 rounds)
#
# Needs curl and python3. Uses target/debug/outpost (built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
bin=${CARGO_TARGET_DIR:-target}/debug/outpost
[ -x "$bin" ] || cargo build --quiet
work=$(mktemp -d)
trap 'kill -9 ${daemon:-0} 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
secret=sigkill-secret
cat > "$work/config.toml" <<TOML
[accounts.acme-smartlead]
provider = "smartlead"
api_key = "unused"
base_url = "http://127.0.0.1:9/api/v1"
poll_interval_secs = 3600

[daemon]
listen = "127.0.0.1:$port"
webhook_secret = "$secret"
TOML
chmod 600 "$work/config.toml"
run() { "$bin" --config "$work/config.toml" --data-dir "$work/data" "$@"; }

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
  run --daemon 2>>"$work/daemon.log" &
  daemon=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  end=$(( $(date +%s) + 4 ))
  for worker in $(seq 0 7); do
    ( n=$((next + worker)); while [ "$(date +%s)" -lt "$end" ]; do post $n; n=$((n + 8)); done ) >> "$work/acked" &
  done
  sleep 3
  kill -9 "$daemon"
  wait # the daemon and the load workers (they stop on their own a second later)
  next=$((next + 1000000))
  echo "round $round: SIGKILL after 3 s of load; $(wc -l < "$work/acked") acknowledged so far"
done

run leads --json > "$work/leads.json"
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
