#!/usr/bin/env bash
# Counts the CPU instructions the release daemon spends per EMAIL_REPLY
# webhook, under callgrind: a figure that does not depend on how busy the
# machine is, so a change can be compared before and after on shared cores.
#
#   scripts/webhook-callgrind.sh [MODE] [SECS] [WARM_SECS]   (defaults: spread 20 40)
#
# MODE is the wrk script's: "spread" (4,096 leads) or "one" (one lead's
# conversation). The daemon starts under callgrind with instrumentation off;
# wrk (-t1 -c64, outside valgrind) posts replies for WARM_SECS seconds
# first, uninstrumented (so that the leads exist, as in a long run: under
# valgrind 40 s posts more than 4,096), then for SECS seconds with
# instrumentation on, and the counts are dumped. Prints the
# instructions per reply in all, and per writer stage (inclusive counts of
# the writer's functions). Needs valgrind (callgrind_control), wrk, curl and
# a release build with symbols:
#
#   CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
#     cargo build --release --bin outpost
#
# Loopback only; the temp dir is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-spread}
secs=${2:-20}
warm_secs=${3:-40}
bin=${OUTPOST_BIN:-${CARGO_TARGET_DIR:-target}/release/outpost}
[ -x "$bin" ] || { echo "build $bin first (see the header)" >&2; exit 1; }
for tool in valgrind callgrind_control callgrind_annotate wrk curl; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 1; }
done
work=$(mktemp -d)
cleanup() {
  [ -n "${daemon:-}" ] && kill -9 "$daemon" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# With OUTPOST_BENCH_DATABASE_URL the daemon runs on that Postgres database
# (the counts are then the daemon's alone, not the database server's).
STORE_URL=${OUTPOST_BENCH_DATABASE_URL:-}
# shellcheck source=scripts/lib/webhook-daemon.sh
. scripts/lib/webhook-daemon.sh
DAEMON_PREFIX="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$work/cg.out" \
  HEALTH_WAIT_SECS=300 start_daemon "$work/data"
if [ "$warm_secs" -gt 0 ]; then
  wrk -t1 -c64 -d"${warm_secs}"s --timeout 60s -s scripts/webhook-reply.lua "$url" -- "$mode" warm \
    > "$work/wrk-warm.txt"
fi
callgrind_control -i on "$daemon" >/dev/null 2>&1
wrk -t1 -c64 -d"${secs}"s --timeout 60s -s scripts/webhook-reply.lua \
  "$url" -- "$mode" cg > "$work/wrk.txt"
# Let the last answers leave, then dump while the daemon is idle.
sleep 2
callgrind_control -d "$daemon" >/dev/null 2>&1
callgrind_control -i off "$daemon" >/dev/null 2>&1
requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$work/wrk.txt")
non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: \([0-9]*\)/\1/p' "$work/wrk.txt")
dump=$(ls "$work"/cg.out.* | sort | tail -1)
callgrind_annotate --inclusive=yes "$dump" > "$work/annotate.txt" 2>/dev/null
total=$(grep -m1 'PROGRAM TOTALS' "$work/annotate.txt" | awk '{ gsub(",", "", $1); print $1 }')
# Each stage's inclusive count, by its function's name.
stage() { grep -m1 "$1" "$work/annotate.txt" | awk '{ gsub(",", "", $1); print $1 }'; }
per() { python3 -c 'import sys; print(f"{int(sys.argv[1] or 0) / max(int(sys.argv[2]), 1):,.0f}")' "${1:-0}" "$2"; }
warmed=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$work/wrk-warm.txt" 2>/dev/null || echo 0)
echo "mode $mode, $secs s after ${warmed:-0} replies uninstrumented: $requests replies (${non2xx:-0} non-2xx)"
echo "instructions per reply: all $(per "$total" "$requests")"
for fn in "ingest::store_batch" "ingest::write_records" "store::Store::flush_async" "webhooks::handle"; do
  echo "  $fn: $(per "$(stage "$fn")" "$requests")"
done
if [ -n "${CALLGRIND_KEEP:-}" ]; then
  cp "$dump" "$CALLGRIND_KEEP"
  echo "callgrind output kept in $CALLGRIND_KEEP"
fi
