#!/usr/bin/env bash
# Starts or stops a private Postgres cluster for benchmarks (scripts/lib/postgres.sh):
# initdb into DIR, the server on a Unix socket in DIR, fsync on.
#
#   scripts/postgres-throwaway.sh start DIR   prints the database URL (database "outpost")
#   scripts/postgres-throwaway.sh stop DIR    stops the server and removes DIR
#   scripts/postgres-throwaway.sh run -- COMMAND...
#       starts one in a temp dir, runs COMMAND with OUTPOST_BENCH_DATABASE_URL
#       set to it, then stops it and removes the dir (also when COMMAND fails)
#
# Example: scripts/postgres-throwaway.sh run -- cargo bench --bench scheduler
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/lib/postgres.sh
. "$here/lib/postgres.sh"
usage() { echo "usage: $0 start DIR | stop DIR | run -- COMMAND..." >&2; exit 2; }
case "${1:-}" in
  start)
    dir=${2:?$(usage)}
    [ ! -e "$dir/data" ] || { echo "$dir already holds a cluster" >&2; exit 1; }
    pg_throwaway_start "$dir"
    echo "$PG_THROWAWAY_URL"
    ;;
  stop)
    dir=${2:?$(usage)}
    [ -d "$dir/data" ] || { echo "$dir holds no cluster" >&2; exit 1; }
    pg_throwaway_stop "$dir"
    rm -rf "$dir"
    ;;
  run)
    shift
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || usage
    dir=$(mktemp -d /tmp/outpost-benchpg-XXXXXX)
    trap 'pg_throwaway_stop "$dir"; rm -rf "$dir"' EXIT
    pg_throwaway_start "$dir"
    OUTPOST_BENCH_DATABASE_URL=$PG_THROWAWAY_URL "$@"
    ;;
  *) usage ;;
esac
