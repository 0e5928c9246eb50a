#!/usr/bin/env bash
# The first full screen of a TUI attached to a replica: `outpost --daemon` on
# the large bench cache's data (100k leads, 1M events, 20k threads), and
# `outpost --remote URL --token-file FILE` exec'd in a pty and timed by
# scripts/first-frame.py, the way scripts/first-frame-vs-neomutt.sh times
# the TUI on its own data dir.
#
#   scripts/first-frame-remote.sh [--postgres] BENCH_DIR [RUNS]   (RUNS default 7)
#
# BENCH_DIR is made by `OUTPOST_BENCH_DIR=BENCH_DIR cargo bench --bench tui`.
# sled (the default): the daemon runs on BENCH_DIR's data dir itself.
# --postgres: the daemon runs with `[store] backend = "postgres"` on
# OUTPOST_BENCH_DATABASE_URL, or on a throwaway cluster (scripts/lib/postgres.sh,
# fsync on) stopped at exit; a database without leads is filled first with
# `outpost export` of BENCH_DIR and `outpost import` (timed, not part of the
# figure; a reused database is not filled again).
#
# The daemon's one Smartlead account cannot be reached (its sync fails
# quietly); the token is the daemon's own `api.token`. Loopback only; the
# temp dir is removed on exit. Needs python3 with pyte, curl and a release
# build (OUTPOST_BIN names another binary).
set -euo pipefail
cd "$(dirname "$0")/.."
postgres=0
if [ "${1:-}" = "--postgres" ]; then
  postgres=1
  shift
fi
bench_dir=${1:?usage: $0 [--postgres] BENCH_DIR [RUNS]}
runs=${2:-7}
bin=${OUTPOST_BIN:-${CARGO_TARGET_DIR:-target}/release/outpost}
[ -x "$bin" ] || { echo "build $bin first (cargo build --release)" >&2; exit 1; }
bench_data=$(find "$bench_dir" -maxdepth 2 -name cache -type d -printf '%h\n' | head -1)
[ -n "$bench_data" ] || { echo "no bench cache under $bench_dir (OUTPOST_BENCH_DIR=$bench_dir cargo bench --bench tui)" >&2; exit 1; }
work=$(mktemp -d)
pg_dir=$(mktemp -d /tmp/outpost-benchpg-XXXXXX)  # outside $work: the postgres user must reach it
daemon=
cleanup() {
  if [ -n "$daemon" ]; then
    kill -TERM "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
  fi
  [ "${PG_THROWAWAY_STARTED:-0}" = 1 ] && pg_throwaway_stop "$pg_dir"
  rm -rf "$pg_dir"
  rm -rf "$work"
}
trap cleanup EXIT
# shellcheck source=scripts/lib/postgres.sh
. scripts/lib/postgres.sh
load1() { cut -d' ' -f1 /proc/loadavg; }

port=$((20000 + RANDOM % 20000))
cat > "$work/daemon.toml" <<TOML
[accounts.bench]
provider = "smartlead"
api_key = "unused"
base_url = "http://127.0.0.1:9/api/v1"
poll_interval_secs = 3600

[daemon]
listen = "127.0.0.1:$port"
TOML
chmod 600 "$work/daemon.toml"
# The export reads the sled bench cache: the config without [store].
cp -p "$work/daemon.toml" "$work/sled.toml"
store_env=()
if [ "$postgres" = 1 ]; then
  bench_database_url "$pg_dir"
  cat >> "$work/daemon.toml" <<'TOML'

[store]
backend = "postgres"
url_env = "OUTPOST_DATABASE_URL"
TOML
  store_env=(OUTPOST_DATABASE_URL="$BENCH_DATABASE_URL")
  data_dir=$work/replica
  # Two queries: a statement naming kv does not parse before kv exists.
  has_leads=f
  if [ "$(pg_psql "$BENCH_DATABASE_URL" -tA -c "SELECT to_regclass('kv') IS NOT NULL")" = t ]; then
    has_leads=$(pg_psql "$BENCH_DATABASE_URL" -tA -c "SELECT EXISTS (SELECT 1 FROM kv WHERE tree = 'leads')")
  fi
  if [ "$has_leads" != t ]; then
    echo "filling the database from $bench_data (load average $(load1))"
    started=$(date +%s.%N)
    "$bin" --config "$work/sled.toml" --data-dir "$bench_data" export -o "$work/all.jsonl" 2>"$work/export.log" \
      || { cat "$work/export.log" >&2; exit 1; }
    exported=$(date +%s.%N)
    env "${store_env[@]}" "$bin" --config "$work/daemon.toml" --data-dir "$data_dir" import "$work/all.jsonl" \
      >"$work/import.log" 2>&1 || { tail -5 "$work/import.log" >&2; exit 1; }
    imported=$(date +%s.%N)
    echo "  export $(wc -l < "$work/all.jsonl") records in $(python3 -c "print(f'{$exported - $started:.1f}')") s," \
      "import in $(python3 -c "print(f'{$imported - $exported:.1f}')") s (load average $(load1))"
    rm -f "$work/all.jsonl"
  fi
  echo "== TUI attached to a daemon on Postgres ($([ "$PG_THROWAWAY_STARTED" = 1 ] && echo "throwaway cluster, fsync on" || echo "OUTPOST_BENCH_DATABASE_URL"))"
else
  data_dir=$bench_data
  echo "== TUI attached to a daemon on sled ($data_dir)"
fi

# The daemon as this shell's direct child (so $! is outpost itself).
env "${store_env[@]}" "$bin" --config "$work/daemon.toml" --data-dir "$data_dir" --daemon \
  >"$work/daemon.log" 2>&1 &
daemon=$!
deadline=$(( $(date +%s) + 300 ))
until curl -sf -m 2 "http://127.0.0.1:$port/health" >/dev/null; do
  kill -0 "$daemon" 2>/dev/null || { echo "the daemon exited; its log:" >&2; tail -5 "$work/daemon.log" >&2; exit 1; }
  [ "$(date +%s)" -lt "$deadline" ] || { echo "the daemon did not answer /health within 300 s" >&2; exit 1; }
  sleep 0.1
done

# The client: no account and a data dir of its own that it never opens (the
# data is the daemon's).
cat > "$work/client.toml" <<TOML
data_dir = "$work/client"
TOML
chmod 600 "$work/client.toml"
echo "load average before the runs: $(load1)"
# Full: the inbox rows are drawn (their subjects), not only the frame.
python3 scripts/first-frame.py --runs "$runs" --until "Inbox (" --until "q quit" \
  --until "Re: Quick question" --min-lines 30 --timeout 60 \
  -- "$bin" --config "$work/client.toml" --remote "http://127.0.0.1:$port" \
  --token-file "$data_dir/api.token"
echo "load average after the runs: $(load1)"
