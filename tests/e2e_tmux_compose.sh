#!/usr/bin/env bash
# End to end: the composer in a real terminal (tmux). A reply in `outpost demo`
# opens with the original quoted under an "On …, … wrote:" line; Tab moves to
# Cc, where a bad address is refused before anything is queued; fixed, the
# reply is queued with its Cc and goes out to the sandbox.
#
#   tests/e2e_tmux_compose.sh [path/to/outpost]
set -euo pipefail

BIN="${1:-target/debug/outpost}"
SESSION="outpost-e2e-compose-$$"
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

tmux new-session -d -s "$SESSION" -x 160 -y 45 \
  "env OUTPOST_DATA_DIR='$DATA' NO_COLOR=1 EDITOR=true '$BIN' demo --leads 200; echo OUTPOST-EXITED-\$?; sleep 30"

wait_for "Inbox (" 60
wait_for "●" 120
keys Enter; wait_for "Conversation"
keys r; wait_for "Reply"
# The message answered, quoted under the cursor.
wait_for " wrote:" 20
screen | grep -qE '│> ' || fail "no '> ' quoted line"

# Tab to Cc: a bad address is flagged and refused, nothing queued.
keys Tab
keys -l "ae@acme.io, bob@"
wait_for "✗ not an address"
keys C-s
wait_for "Not sent: Cc: \"bob@\" is not an email address"
keys BSpace BSpace BSpace BSpace BSpace BSpace
# Six keys to take ", bob@" off: wait for the last of them before looking.
i=0
while screen | grep -qF "✗ not an address"; do
  i=$((i + 1))
  [ "$i" -gt 100 ] && fail "the fixed Cc is still flagged"
  sleep 0.1
done
screen | grep -F "Cc:" | grep -qF "bob" && fail "the Cc still holds bob"
# Past Bcc, back to the body, above the quote.
keys Tab Tab
keys -l "Looping in our AE, Tuesday at 10 works."
wait_for "Looping in our AE, Tuesday at 10 works."
keys C-s; wait_for "to undo"
wait_for "Sent " 60
keys q
wait_for "OUTPOST-EXITED-0" 20
sent="$(OUTPOST_DATA_DIR="$DATA" "$BIN" outbox list --state sent --json)"
echo "$sent" | grep -qF "ae@acme.io" || { echo "FAILED: the sent reply has no Cc: $sent"; exit 1; }
echo "$sent" | grep -qF " wrote:" || { echo "FAILED: the sent reply lost its quote: $sent"; exit 1; }
echo "e2e compose: 1 passed, 0 failed"
