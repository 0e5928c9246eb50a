#!/usr/bin/env bash
# Crash harness: a large run of tests/sequences_crash.rs. An `outpost sandbox`
# process stays up while `outpost send --until-idle` is SIGKILLed at random
# moments; at the end the sandbox's sent log must hold every step of every
# lead exactly once.
#
#   scripts/crash-harness.sh [LEADS] [KILLS]     (default 1000 leads, 200 kills)
set -euo pipefail
cd "$(dirname "$0")/.."
export OUTPOST_CRASH_LEADS="${1:-1000}"
export OUTPOST_CRASH_KILLS="${2:-200}"
echo "crash harness: ${OUTPOST_CRASH_LEADS} leads x 3 steps, ${OUTPOST_CRASH_KILLS} kills" >&2
exec cargo test --test sequences_crash -- --nocapture
