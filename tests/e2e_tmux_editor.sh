#!/usr/bin/env bash
# End to end: the composer's `$EDITOR` round trip in a real terminal (tmux).
# The editor (`sh -c …`, split as a shell would) keeps a copy of the file it
# is given (the reply with its quoted original) and appends a line; back in the
# TUI the whole screen must be drawn again (tabs, status bar, the composer's
# text, not only the cells that changed) and the appended line must stand on
# its own. Then Ctrl-L repaints a screen scribbled over behind outpost's back,
# and quitting during the send's undo window sends it before leaving.
#
#   tests/e2e_tmux_editor.sh [path/to/outpost]
set -euo pipefail

BIN="${1:-target/debug/outpost}"
SESSION="outpost-e2e-editor-$$"
DATA="$(mktemp -d)"
LAUNCH="$(mktemp -d)"
trap 'tmux kill-session -t "$SESSION" 2>/dev/null || true; rm -rf "$DATA" "$LAUNCH"' EXIT

command -v tmux >/dev/null || { echo "tmux is not installed"; exit 1; }
[ -x "$BIN" ] || { echo "no outpost binary at $BIN (cargo build first)"; exit 1; }

screen() { tmux capture-pane -p -t "$SESSION"; }
fail() { echo "FAILED: $1"; echo "---- screen ----"; screen; exit 1; }

# Waits until the screen no longer shows TEXT, up to SECS seconds.
wait_gone() {
  local text="$1" secs="${2:-10}" i=0
  while screen | grep -qF -- "$text"; do
    i=$((i + 1))
    [ "$i" -gt $((secs * 10)) ] && fail "timed out waiting for this to go: $text"
    sleep 0.1
  done
}

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

# The editor appends a line to the file it is given, as `sh -c` with the
# file as $1 (VISUAL unset, so EDITOR decides).
cat > "$LAUNCH/run.sh" <<LAUNCH
unset VISUAL
export EDITOR="sh -c 'cp \"\\\$1\" $LAUNCH/seen.txt; echo appended by the editor >> \"\\\$1\"' sh"
exec env OUTPOST_DATA_DIR='$DATA' NO_COLOR=1 '$BIN' demo --leads 200
LAUNCH
tmux new-session -d -s "$SESSION" -x 160 -y 45 \
  "bash '$LAUNCH/run.sh'; echo OUTPOST-EXITED-\$?; sleep 30"

wait_for "Inbox (" 60
wait_for "●" 120
keys Enter; wait_for "Conversation"
keys r; wait_for "Reply"
keys -l "Tuesday at 10 works for me."
wait_for "Tuesday at 10 works for me."
keys C-e
wait_for "appended by the editor" 20
# The editor got the same text as the composer: the quoted original too.
grep -qF " wrote:" "$LAUNCH/seen.txt" || fail "the editor's file has no quote line: $(cat "$LAUNCH/seen.txt")"
grep -q '^> ' "$LAUNCH/seen.txt" || fail "the editor's file has no '> ' lines"
# Everything is back, not only the cells that changed.
for text in "1 Inbox" "Reply" "To: " "Tuesday at 10 works for me."; do
  screen | grep -qF -- "$text" || fail "after the editor, the screen lacks: $text"
done
screen | grep -F "appended by the editor" | grep -qvF "works for me." \
  || fail "the appended line was joined to the last one"
screen | grep -F "works for me." | grep -qvF "appended" \
  || fail "the typed line was joined to the appended one"
# The status bar (bottom line) is drawn too.
[ -n "$(screen | tail -n 1 | tr -d ' ')" ] || fail "the status bar is blank"

# Ctrl-L: a full repaint of a screen damaged behind outpost's back.
printf '\033[2J' > "$(tmux display -p -t "$SESSION" '#{pane_tty}')"
wait_gone "1 Inbox"
keys C-l
wait_for "1 Inbox" 10
wait_for "appended by the editor" 5

# Send it, and quit inside the undo window: the first q asks, the second
# sends it now, then quits.
keys C-s; wait_for "to undo"
keys q; wait_for "1 send in its undo window"
keys q
wait_for "OUTPOST-EXITED-0" 30
sent="$(OUTPOST_DATA_DIR="$DATA" "$BIN" outbox list --state sent --json)"
echo "$sent" | grep -qF "appended by the editor" \
  || { echo "FAILED: the reply was not sent before quitting: $sent"; exit 1; }
echo "e2e editor: 1 passed, 0 failed"
