#!/usr/bin/env bash
# End to end: several conversations selected with space in a real terminal
# (tmux), archived with one `e`, and brought back with one `u`; the inbox
# title counts them out and back in, and after quitting the data dir shows
# nothing archived.
#
#   tests/e2e_tmux_bulk.sh [path/to/outpost]
set -euo pipefail

BIN="${1:-target/debug/outpost}"
SESSION="outpost-e2e-bulk-$$"
DATA="$(mktemp -d)"
trap 'tmux kill-session -t "$SESSION" 2>/dev/null || true; rm -rf "$DATA"' EXIT

command -v tmux >/dev/null || { echo "tmux is not installed"; exit 1; }
[ -x "$BIN" ] || { echo "no outpost binary at $BIN (cargo build first)"; exit 1; }

screen() { tmux capture-pane -p -t "$SESSION"; }
fail() { echo "FAILED: $1"; echo "---- screen ----"; screen; exit 1; }

# Waits until the screen shows TEXT, up to SECS seconds.
wait_for() {
  local text="$1" secs="${2:-20}" i=0
  while ! screen | grep -qF -- "$text"; do
    i=$((i + 1))
    [ "$i" -gt $((secs * 10)) ] && fail "timed out waiting for: $text"
    sleep 0.1
  done
}

keys() { tmux send-keys -t "$SESSION" "$@"; }

# The number in the inbox title, "Inbox (123 · 45 unread)".
inbox_count() { screen | grep -oE 'Inbox \([0-9]+' | head -n 1 | grep -oE '[0-9]+'; }

tmux new-session -d -s "$SESSION" -x 160 -y 45 \
  "env OUTPOST_DATA_DIR='$DATA' NO_COLOR=1 '$BIN' demo --leads 200; echo OUTPOST-EXITED-\$?; sleep 30"

wait_for "Inbox (" 60
wait_for "●" 120
# Let the first sync finish, so the count stands still.
wait_for "✓" 120
before="$(inbox_count)"
[ -n "$before" ] || fail "no count in the inbox title"

keys Space; wait_for "1 selected"
keys Space; wait_for "2 selected"
keys Space; wait_for "3 selected"
[ "$(screen | grep -cE '^│✓')" -eq 3 ] || fail "the selected rows are not marked"
keys e
wait_for "Archive: 3 changed" 20
wait_for "Inbox ($((before - 3))" 10
screen | grep -qF "selected" && fail "the selection outlived the change"

keys u
wait_for "Undone archive: 3 restored" 20
wait_for "Inbox ($before" 10

keys q
wait_for "OUTPOST-EXITED-0" 30
archived="$("$BIN" --data-dir "$DATA" inbox --archived --json)"
[ "$archived" = "[]" ] || { echo "FAILED: still archived after the undo: $archived"; exit 1; }
echo "e2e bulk: 1 passed, 0 failed"
