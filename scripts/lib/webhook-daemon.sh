# The daemon side of the webhook load scripts (scripts/webhook-load.sh,
# scripts/webhook-callgrind.sh): one config, start, wait for /health, stop,
# and counting the stored replies from `outpost export`. Source it after
# setting:
#   work   a temp dir the caller removes (config, logs, exports)
#   bin    the outpost binary
# and optionally STORE_URL (a Postgres connection URL: the daemon gets
# `[store] backend = "postgres"` reading it from $OUTPOST_DATABASE_URL;
# empty = sled in the data dir).
#
# Sets port, url (the Smartlead webhook URL) and exports
# OUTPOST_WEBHOOK_SECRET for the wrk script. `daemon` holds the running
# daemon's pid (the caller's EXIT trap should kill it when set).

port=$((20000 + RANDOM % 20000))
url="http://127.0.0.1:$port/webhooks/smartlead"
daemon=
export OUTPOST_WEBHOOK_SECRET="load-$RANDOM-$RANDOM"

# One Smartlead account, so that /webhooks/smartlead routes to it; its API is
# a closed loopback port and it polls hourly, so polling never competes.
write_config() {
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
  if [ -n "${STORE_URL:-}" ]; then
    cat >> "$work/config.toml" <<'TOML'

[store]
backend = "postgres"
url_env = "OUTPOST_DATABASE_URL"
TOML
  fi
  chmod 600 "$work/config.toml"
}
write_config

# Runs outpost (or, with a prefix such as valgrind, outpost under it) on the
# config, with the database URL in its environment when there is one.
with_store() {
  if [ -n "${STORE_URL:-}" ]; then
    OUTPOST_DATABASE_URL=$STORE_URL "$@"
  else
    "$@"
  fi
}

# Starts the daemon on data dir $1 (extra words before the binary, e.g.
# valgrind and its options, in DAEMON_PREFIX) and waits until it answers
# /health (at most HEALTH_WAIT_SECS, default 60).
start_daemon() { # $1 = data dir
  local wait_secs=${HEALTH_WAIT_SECS:-60}
  # The daemon (or valgrind, which becomes it) must be this shell's direct
  # child: `$!` of a backgrounded shell function is a subshell, and a signal
  # to it never reaches outpost.
  local store_env=()
  [ -n "${STORE_URL:-}" ] && store_env=(OUTPOST_DATABASE_URL="$STORE_URL")
  # shellcheck disable=SC2086
  env "${store_env[@]}" ${DAEMON_PREFIX:-} \
    "$bin" --config "$work/config.toml" --data-dir "$1" --daemon >>"$work/daemon.log" 2>&1 &
  daemon=$!
  local deadline=$(( $(date +%s) + wait_secs ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    kill -0 "$daemon" 2>/dev/null || { echo "the daemon exited; its log:" >&2; tail -5 "$work/daemon.log" >&2; exit 1; }
    curl -sf -m 2 "http://127.0.0.1:$port/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "the daemon did not answer /health within $wait_secs s" >&2
  exit 1
}

# SIGTERM: the daemon flushes and answers what it holds, then exits.
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

# Prints "TAG COUNT" lines: the inbound reply messages in the store by the
# run tag in their Message-ID (`<reply-TAG-...>`, scripts/webhook-reply.lua).
count_stored() { # $1 = data dir
  with_store "$bin" --config "$work/config.toml" --data-dir "$1" export -o "$work/export.jsonl" 2>/dev/null
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

# CPU seconds (user + system) the daemon has used so far.
daemon_cpu_secs() {
  python3 -c '
import os, sys
fields = open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")", 1)[1].split()
ticks = os.sysconf("SC_CLK_TCK")
print(f"{(int(fields[11]) + int(fields[12])) / ticks:.2f}")' "$daemon"
}
