#!/usr/bin/env bash
# The first full screen of the real outpost binary against neomutt's, both
# exec'd in a pty of the same size and timed the same way
# (scripts/first-frame.py). outpost opens the large bench cache (100k leads,
# 1M events, 20k threads; made by `OUTPOST_BENCH_DIR=DIR cargo bench --bench
# tui`); neomutt opens a 20k-message Maildir with a warm header cache.
#
#   scripts/first-frame-vs-neomutt.sh BENCH_DIR [RUNS]
#
# Needs: neomutt, python3 with pyte, a release build (cargo build --release;
# OUTPOST_BIN names another binary).
set -euo pipefail
cd "$(dirname "$0")/.."
bench_dir=${1:?usage: $0 BENCH_DIR [RUNS]}
runs=${2:-7}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# outpost: the bench cache, one Smartlead account that cannot be reached (the
# inbox is the cache's; sync fails quietly in the status bar).
data_dir=$(find "$bench_dir" -maxdepth 2 -name cache -type d -printf '%h\n' | head -1)
cat > "$work/outpost.toml" <<TOML
data_dir = "$data_dir"
[accounts.bench]
provider = "smartlead"
api_key = "unused"
base_url = "http://127.0.0.1:9/api/v1"
poll_interval_secs = 3600
TOML
chmod 600 "$work/outpost.toml"
echo "== outpost (release) on $data_dir"
# Full: the inbox rows are drawn (their subjects), not only the frame.
python3 scripts/first-frame.py --runs "$runs" --until "Inbox (" --until "q quit" \
  --until "Re: Quick question" --min-lines 30 \
  -- "${OUTPOST_BIN:-target/release/outpost}" --config "$work/outpost.toml"

# neomutt: 20k messages in a Maildir, header cache warmed by one open first.
maildir="$work/Maildir"
python3 - "$maildir" <<'PY'
import os, sys, random, email.utils, time
root = sys.argv[1]
for d in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(root, d), exist_ok=True)
rng = random.Random(7)
now = time.time()
for n in range(20000):
    when = now - rng.randint(0, 365 * 86400)
    name = f"Lead {n}"
    body = "Thanks for reaching out. Could you send over pricing for a team of 12?\n" * 3
    text = (
        f"From: {name} <lead{n}@company{n % 997}.example>\n"
        f"To: Sam Carter <sam@acme.example>\n"
        f"Subject: Re: Quick question about Company {n % 997}\n"
        f"Date: {email.utils.formatdate(when)}\n"
        f"Message-ID: <{n}.{int(when)}@company{n % 997}.example>\n"
        f"\n{body}"
    )
    flags = "S" if n % 3 else ""
    with open(os.path.join(root, "cur", f"{int(when)}.{n}.bench:2,{flags}"), "w") as f:
        f.write(text)
PY
cat > "$work/muttrc" <<RC
set folder = "$maildir"
set spoolfile = "$maildir"
set mbox_type = Maildir
set header_cache = "$work/hcache"
set sort = reverse-date
set mail_check_stats = no
RC
neomutt -n -F "$work/muttrc" -f "$maildir" -e 'push q' >/dev/null 2>&1 </dev/null || true
python3 scripts/first-frame.py --runs 1 --until "Lead" --min-lines 30 --timeout 120 \
  -- neomutt -n -F "$work/muttrc" -f "$maildir" >/dev/null
echo "== neomutt, 20k-message Maildir, warm header cache"
# Full: the index rows are drawn (their senders and subjects).
python3 scripts/first-frame.py --runs "$runs" --until "Lead " --until "Re: Quick question" \
  --min-lines 30 --timeout 60 \
  -- neomutt -n -F "$work/muttrc" -f "$maildir"
