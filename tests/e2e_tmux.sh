#!/usr/bin/env bash
# End to end: `outpost demo` in tmux. Switches through the panes, replies to a
# conversation (the reply reaches the sandbox through the outbox), quits, and
# checks that the terminal was restored (alternate screen off, shell back).
#
#   tests/e2e_tmux.sh [path/to/outpost]
set -euo pipefail

BIN="${1:-target/debug/outpost}"
SESSION="outpost-e2e-$$"
DATA="$(mktemp -d)"
trap 'tmux kill-session -t "$SESSION" 2>/dev/null || true; rm -rf "$DATA"' EXIT

command -v tmux >/dev/null || { echo "tmux is not installed"; exit 1; }
[ -x "$BIN" ] || { echo "no outpost binary at $BIN (cargo build first)"; exit 1; }

screen() { tmux capture-pane -p -t "$SESSION"; }

# Waits until the screen shows TEXT, up to SECS seconds.
wait_for() {
  local text="$1" secs="${2:-20}" i=0
  while ! screen | grep -qF -- "$text"; do
    i=$((i + 1))
    if [ "$i" -gt $((secs * 10)) ]; then
      echo "timed out waiting for: $text"; echo "---- screen ----"; screen; exit 1
    fi
    sleep 0.1
  done
}

keys() { tmux send-keys -t "$SESSION" "$@"; }

tmux new-session -d -s "$SESSION" -x 160 -y 45 \
  "env OUTPOST_DATA_DIR='$DATA' NO_COLOR=1 EDITOR=true '$BIN' demo --leads 200; echo OUTPOST-EXITED-\$?; sleep 30"

wait_for "1 Inbox" 60
wait_for "Inbox (" 60
keys 2; wait_for "Leads "
keys 3; wait_for "Campaigns"
keys 4; wait_for "Sequences ("
keys 1; wait_for "Inbox ("
# Wait for at least one conversation, open it, reply and send.
wait_for "●" 120
keys Enter; wait_for "Conversation"
keys r; wait_for "Reply"
keys -l "Thanks, Tuesday at 10 works for me."
keys C-s; wait_for "to undo"
# The undo window passes; the outbox worker sends it to the sandbox.
wait_for "Sent " 60
# Back to the inbox first, then quit: Escape and q sent together can reach
# the program as one Alt-q, as a terminal reads them.
keys Escape; wait_for "Inbox ("
keys q
wait_for "OUTPOST-EXITED-0" 20
if [ "$(tmux display -p -t "$SESSION" '#{alternate_on}')" != "0" ]; then
  echo "the terminal was left in the alternate screen"; exit 1
fi
echo "e2e: 1 passed, 0 failed"
