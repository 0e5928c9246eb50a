#!/usr/bin/env bash
# End to end: the snooze picker in a real terminal (tmux). `s` on the first
# conversation opens the quick times in the rep's zone; the arrows pick one,
# Enter snoozes; the row leaves the inbox, and a CLI beside the running TUI
# (through the TUI's door) lists it as snoozed until next Monday 9:00.
#
#   tests/e2e_tmux_snooze.sh [path/to/outpost]
set -euo pipefail

BIN="${1:-target/debug/outpost}"
SESSION="outpost-e2e-snooze-$$"
DATA="$(mktemp -d)"
trap 'tmux kill-session -t "$SESSION" 2>/dev/null || true; rm -rf "$DATA"' EXIT

command -v tmux >/dev/null || { echo "tmux is not installed"; exit 1; }
[ -x "$BIN" ] || { echo "no outpost binary at $BIN (cargo build first)"; exit 1; }

screen() { tmux capture-pane -p -t "$SESSION"; }
fail() { echo "FAILED: $1"; echo "---- screen ----"; screen; exit 1; }
wait_for() {
  local text="$1" secs="${2:-20}" i=0
  while ! screen | grep -qF -- "$text"; do
    i=$((i + 1))
    [ "$i" -gt $((secs * 10)) ] && fail "timed out waiting for: $text"
    sleep 0.1
  done
}
keys() { tmux send-keys -t "$SESSION" "$@"; }
cli() { OUTPOST_DATA_DIR="$DATA" "$BIN" "$@"; }

tmux new-session -d -s "$SESSION" -x 160 -y 45 \
  "OUTPOST_DATA_DIR='$DATA' NO_COLOR=1 TZ=UTC '$BIN' demo --leads 200; echo OUTPOST-EXITED-\$?; sleep 30"

wait_for "Inbox (" 60
wait_for "●" 120
# Both syncs done, so no new row lands on top between the two looks.
wait_for "demo-gmail ✓" 120
wait_for "demo-smartlead ✓" 120
# $OUTPOST_DATA_DIR put the demo's config beside its cache, so the CLI
# beside it finds its accounts.
[ -f "$DATA/config.toml" ] || fail "the demo wrote no config.toml into \$OUTPOST_DATA_DIR"
cli inbox --limit 1 2>&1 >/dev/null | grep -qF "no config file" \
  && fail "the CLI beside the demo found no config"
# The TUI's first row is the CLI's first row: ask the CLI beside it.
first="$(cli inbox --json --limit 1)"
key="$(echo "$first" | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p' | head -n 1)"
[ -n "$key" ] || fail "no conversation key in: $first"

keys s; wait_for "Snooze until"
for text in "Later today" "Tomorrow morning" "Next Monday"; do
  screen | grep -qF -- "$text" || fail "the picker lacks: $text"
done
# The fifth choice, with the arrow keys.
keys Down Down Down Down Enter
wait_for "Snoozed"

snoozed="$(cli inbox --snoozed --json)"
echo "$snoozed" | grep -qF "$key" || fail "the CLI does not list $key as snoozed: $snoozed"
echo "$snoozed" | grep -qE '"snoozed_until": *"[0-9-]+T09:00:00' \
  || fail "not snoozed until 9:00 on Monday: $snoozed"
cli inbox --json | grep -qF "\"$key\"" && fail "$key is still in the inbox"

keys q
wait_for "OUTPOST-EXITED-0" 30
echo "e2e snooze: 1 passed, 0 failed"
