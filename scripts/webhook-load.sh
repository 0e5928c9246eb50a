#!/usr/bin/env bash
# Posts EMAIL_REPLY webhooks to the real release daemon with wrk (an external
# load generator) and checks that every reply answered 2xx was stored.
#
#   scripts/webhook-load.sh [--postgres] [SPREAD_SECS] [ROUND_SECS]   (defaults 20 and 8)
#
# Phase 1: SPREAD_SECS of replies over 4,096 leads (wrk -t2 -c64).
# Phase 2: three consecutive ROUND_SECS rounds, every reply into one lead's
#          conversation, against one daemon; the third round's rate must be
#          at least 0.8x the first's.
# Each wrk run reports replies/s and its latency p50 / p99 (wrk --latency).
# A reply answered 202 was queued on disk while the writer was behind;
# after each wrk run the script waits until the queue is applied and
# prints how long that took and how many were answered from the queue.
# After each phase the daemon is stopped (SIGTERM: it flushes what it
# acknowledged) and the stored reply messages are counted from
# `outpost export`. Loopback only; the temp dir is removed on exit.
#
# The store: sled in a temp data dir by default. With
# OUTPOST_BENCH_DATABASE_URL set, the daemon runs on that Postgres database
# (`[store] backend = "postgres"`; both phases share it, the run tags keep
# their replies apart). With --postgres and no URL, a throwaway cluster is
# started (scripts/lib/postgres.sh: Unix socket, fsync on) with a fresh
# database per phase, and stopped at exit.
#
# Needs wrk, curl and python3; builds target/release/outpost if missing.
# Before each phase it waits (polling every 30 s, at most QUIET_WAIT_SECS,
# default 600) for the 1-minute load average to fall to 1.5 or below, and
# prints the load next to each figure.
set -euo pipefail
cd "$(dirname "$0")/.."
postgres=0
if [ "${1:-}" = "--postgres" ]; then
  postgres=1
  shift
fi
[ -n "${OUTPOST_BENCH_DATABASE_URL:-}" ] && postgres=1
spread_secs=${1:-20}
round_secs=${2:-8}
quiet_wait=${QUIET_WAIT_SECS:-600}
bin=${CARGO_TARGET_DIR:-target}/release/outpost
[ -x "$bin" ] || cargo build --release --quiet
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 1; }
work=$(mktemp -d)
pg_dir=$(mktemp -d /tmp/outpost-benchpg-XXXXXX)  # outside $work: the postgres user must reach it
cleanup() {
  [ -n "${daemon:-}" ] && kill -9 "$daemon" 2>/dev/null || true
  [ "${PG_THROWAWAY_STARTED:-0}" = 1 ] && pg_throwaway_stop "$pg_dir"
  rm -rf "$pg_dir"
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=scripts/lib/webhook-daemon.sh
. scripts/lib/webhook-daemon.sh
# shellcheck source=scripts/lib/postgres.sh
. scripts/lib/postgres.sh
if [ "$postgres" = 1 ]; then
  bench_database_url "$pg_dir"
  if [ "$PG_THROWAWAY_STARTED" = 1 ]; then
    store_name="postgres (throwaway cluster, Unix socket, fsync on)"
  else
    store_name="postgres (OUTPOST_BENCH_DATABASE_URL)"
  fi
else
  store_name="sled"
fi
# Distinct per invocation, so a reused database never dedupes a run's replies.
run_id=$(printf '%04x%04x' "$RANDOM" "$RANDOM")

# The store for one phase: a fresh database on the throwaway cluster, the
# given database otherwise, nothing (sled in the data dir) without Postgres.
phase_store() { # $1 = phase name
  if [ "$postgres" = 0 ]; then
    STORE_URL=
  elif [ "$PG_THROWAWAY_STARTED" = 1 ]; then
    pg_psql "$BENCH_DATABASE_URL" -c "CREATE DATABASE $1"
    STORE_URL=${BENCH_DATABASE_URL/dbname=outpost/dbname=$1}
  else
    STORE_URL=$BENCH_DATABASE_URL
  fi
  write_config
}

load1() { cut -d' ' -f1 /proc/loadavg; }

# "daemon_secs cluster_secs": CPU used so far by the daemon and by the
# throwaway cluster's server processes (0 when there is none).
cpu_now() {
  local cluster=0
  [ "${PG_THROWAWAY_STARTED:-0}" = 1 ] && cluster=$(pg_cluster_cpu_secs "$pg_dir")
  echo "$(daemon_cpu_secs) $cluster"
}

per_reply_cpu() { # $1 = cpu_now before, $2 = after, $3 = replies; prints CPU ms per reply
  python3 -c '
import sys
before, after, n = sys.argv[1].split(), sys.argv[2].split(), max(int(sys.argv[3]), 1)
daemon, cluster = ((float(a) - float(b)) * 1e3 / n for a, b in zip(after, before))
print(f"CPU per reply: daemon {daemon:.2f} ms" + (f", postgres server {cluster:.2f} ms" if cluster else ""))' "$1" "$2" "$3"
}

wait_quiet() {
  local waited=0
  while awk -v l="$(load1)" 'BEGIN { exit !(l > 1.5) }' && [ "$waited" -lt "$quiet_wait" ]; do
    echo "  load average $(load1) > 1.5; waiting (${waited} s so far)"
    sleep 30
    waited=$((waited + 30))
  done
}

run_wrk() { # $1 = seconds, $2 = mode, $3 = run tag; prints "requests non2xx rate errors p50 p99"
  wrk -t2 -c64 -d"$1"s --timeout 30s --latency -s scripts/webhook-reply.lua "$url" -- "$2" "$3" > "$work/wrk-$3.txt"
  python3 - "$work/wrk-$3.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
requests = int(re.search(r"(\d+) requests in", text).group(1))
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
non2xx = int(m.group(1)) if m else 0
errors = re.search(r"Socket errors: (.*)", text)
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
def percentile(p):
    value, unit = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % p, text, re.M).groups()
    return f"{float(value) * {'us': 0.001, 'ms': 1.0, 's': 1000.0}[unit]:.1f}ms"
print(requests, non2xx, f"{rate:.0f}", (errors.group(1).replace(" ", "_") if errors else "none"),
      percentile(50), percentile(99))
PY
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

queued() { # "now total": deliveries queued and not yet applied, and answered from the queue so far
  curl -sf -m 10 "http://127.0.0.1:$port/metrics" | python3 -c '
import re, sys
text = sys.stdin.read()
get = lambda name: int(re.search(r"^%s (\d+)$" % name, text, re.M).group(1))
print(get("outpost_ingest_queued"), get("outpost_ingest_queued_total"))'
}

drain() { # $1 = queued total before the run; waits until the queue is applied, prints what it took
  local t0 now total
  t0=$(date +%s.%N)
  read -r now total < <(queued)
  while [ "$now" -gt 0 ]; do
    sleep 0.2
    read -r now total < <(queued)
  done
  python3 -c "import sys, time; print(f'answered 202 from the queue: {int(sys.argv[2]) - int(sys.argv[1])}; applied everything {time.time() - float(sys.argv[3]):.1f} s after wrk stopped')" "$1" "$total" "$t0"
}

check() { # $1 = label, $2 = requests, $3 = non2xx, $4 = stored
  local acked=$(( $2 - $3 ))
  local lost=$(( acked > $4 ? acked - $4 : 0 ))
  echo "$1: answered 2xx $acked, stored $4, lost $lost (stored beyond 2xx: $(( $4 > acked ? $4 - acked : 0 )), in flight when wrk stopped)"
  [ "$lost" -eq 0 ] || failed=1
}

failed=0
started=$(date +%s)

echo "store: $store_name"
echo "phase 1: EMAIL_REPLY over 4,096 leads, ${spread_secs} s, wrk -t2 -c64"
wait_quiet
phase_store spread
start_daemon "$work/spread"
load=$(load1)
before=$(stages)
cpu_before=$(cpu_now)
read -r _ queued_before < <(queued)
read -r requests non2xx rate errors p50 p99 < <(run_wrk "$spread_secs" spread "${run_id}s1")
echo "  ${rate} replies/s, latency p50 ${p50} p99 ${p99}; ${requests} requests, ${non2xx} non-2xx, socket errors ${errors}; load before ${load}"
echo "  $(drain "$queued_before")"
echo "  $(per_reply "$before" "$(stages)" "$requests")"
echo "  $(per_reply_cpu "$cpu_before" "$(cpu_now)" "$requests") (taking and applying)"
stop_daemon
stored=$(count_stored "$work/spread" | awk -v t="${run_id}s1" '$1 == t { print $2 }')
check "  phase 1" "$requests" "$non2xx" "${stored:-0}"

echo "phase 2: EMAIL_REPLY into one lead's conversation, 3 x ${round_secs} s, wrk -t2 -c64"
wait_quiet
phase_store one
start_daemon "$work/one"
declare -a rates acked_by_round
for round in 1 2 3; do
  load=$(load1)
  before=$(stages)
  cpu_before=$(cpu_now)
  read -r _ queued_before < <(queued)
  read -r requests non2xx rate errors p50 p99 < <(run_wrk "$round_secs" one "${run_id}o$round")
  rates[$round]=$rate
  acked_by_round[$round]="$requests $non2xx"
  echo "  round $round: ${rate} replies/s, latency p50 ${p50} p99 ${p99}; ${requests} requests, ${non2xx} non-2xx, socket errors ${errors}; load before ${load}"
  # Each round starts with nothing queued, so it meets the conversation
  # as the previous rounds left it, applied.
  echo "    $(drain "$queued_before")"
  echo "    $(per_reply "$before" "$(stages)" "$requests")"
  echo "    $(per_reply_cpu "$cpu_before" "$(cpu_now)" "$requests") (taking and applying)"
done
stop_daemon
count_stored "$work/one" > "$work/one-counts"
for round in 1 2 3; do
  stored=$(awk -v t="${run_id}o$round" '$1 == t { print $2 }' "$work/one-counts")
  # shellcheck disable=SC2086
  check "  round $round" ${acked_by_round[$round]} "${stored:-0}"
done
ratio=$(python3 -c "import sys; print(f'{float(sys.argv[2]) / float(sys.argv[1]):.2f}')" "${rates[1]}" "${rates[3]}")
echo "  round 3 / round 1 = ${ratio} (target >= 0.80)"
awk -v r="$ratio" 'BEGIN { exit !(r >= 0.8) }' || failed=1
echo "done in $(( $(date +%s) - started )) s"
exit "$failed"
