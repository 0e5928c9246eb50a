# A throwaway Postgres cluster for the scripts, started the way
# tests/support/postgres.rs starts the tests' one: initdb into a directory,
# the server listening only on a Unix socket in it (no TCP port to collide
# with), run as the `postgres` user when the script runs as root (Postgres
# refuses root). Unlike the tests' cluster, fsync and synchronous_commit stay
# ON: the figures taken on it must be durable ones.
#
# Source this file, then:
#   pg_throwaway_start DIR   initdb + start; sets PG_THROWAWAY_URL (database "outpost");
#                            DIR is made the postgres user's under root, so its
#                            parents must let that user through (/tmp does)
#   pg_throwaway_stop DIR    fast shutdown; leaves DIR for the caller to remove
#   bench_database_url DIR   $OUTPOST_BENCH_DATABASE_URL when set (an existing
#                            database; nothing is started), else a throwaway
#                            cluster in DIR; sets BENCH_DATABASE_URL and
#                            PG_THROWAWAY_STARTED (1 when one was started)
#
# OUTPOST_PG_BIN names the directory holding initdb and pg_ctl (default: the
# newest /usr/lib/postgresql/N/bin, else whatever is on PATH).

pg_bin_dir() {
  if [ -n "${OUTPOST_PG_BIN:-}" ]; then
    echo "$OUTPOST_PG_BIN"
    return
  fi
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -n "$newest" ] && [ -x "$newest/initdb" ]; then
    echo "$newest"
  else
    dirname "$(command -v initdb || echo /nonexistent/initdb)"
  fi
}

pg_user() {
  if [ "$(id -u)" -eq 0 ]; then echo postgres; else id -un; fi
}

# Runs a Postgres program as the cluster's user.
pg_as_user() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_throwaway_start() { # $1 = directory (created; must not hold a cluster yet)
  local dir=$1 bin user port
  bin=$(pg_bin_dir)
  [ -x "$bin/initdb" ] || { echo "initdb not found (install postgresql or set OUTPOST_PG_BIN)" >&2; return 1; }
  user=$(pg_user)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$(id -u)" -eq 0 ] && chown "$user:" "$dir"
  pg_as_user "$bin/initdb" -A trust -E UTF8 -U "$user" -D "$dir/data" >"$dir/initdb.log" 2>&1 \
    || { echo "initdb failed; its log:" >&2; tail -5 "$dir/initdb.log" >&2; return 1; }
  # The port only names the socket file; nothing listens on TCP.
  port=$((20000 + RANDOM % 20000))
  pg_as_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses= -c unix_socket_directories=$dir -p $port -c max_connections=200 -c fsync=on -c synchronous_commit=on" \
    start >/dev/null \
    || { echo "postgres did not start; its log:" >&2; tail -5 "$dir/server.log" >&2; return 1; }
  pg_as_user psql -X -q -h "$dir" -p "$port" -U "$user" -d postgres -c "CREATE DATABASE outpost" \
    || return 1
  echo "$port" > "$dir/port"
  PG_THROWAWAY_URL="host=$dir port=$port user=$user dbname=outpost"
}

pg_throwaway_stop() { # $1 = directory given to pg_throwaway_start
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] || return 0
  pg_as_user "$(pg_bin_dir)/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
}

# psql on the bench database (a URL in either form psql takes).
pg_psql() { # $1 = url, rest = psql arguments
  local url=$1
  shift
  pg_as_user psql -X -q -v ON_ERROR_STOP=1 -d "$url" "$@"
}

bench_database_url() { # $1 = directory for a throwaway cluster
  if [ -n "${OUTPOST_BENCH_DATABASE_URL:-}" ]; then
    BENCH_DATABASE_URL=$OUTPOST_BENCH_DATABASE_URL
    PG_THROWAWAY_STARTED=0
  else
    pg_throwaway_start "$1" || return 1
    BENCH_DATABASE_URL=$PG_THROWAWAY_URL
    PG_THROWAWAY_STARTED=1
  fi
}

# CPU seconds (user + system) the cluster's server processes have used so
# far: the postmaster and its children (backends, WAL writer, checkpointer).
# A backend's time leaves with it, so sample while its connection is open.
pg_cluster_cpu_secs() { # $1 = directory given to pg_throwaway_start
  local postmaster
  postmaster=$(head -1 "$1/data/postmaster.pid")
  python3 - "$postmaster" <<'PY'
import os, sys
root = sys.argv[1]
ticks = os.sysconf("SC_CLK_TCK")
total = 0
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    # After the name: state, ppid, ... utime is field 14, stime 15 (1-based).
    if pid == root or fields[1] == root:
        total += int(fields[11]) + int(fields[12])
print(f"{total / ticks:.2f}")
PY
}
