#!/usr/bin/env bash
# The full reliability soak: the tests CI runs, at full size, one at a time so their figures are not
# skewed by each other. See docs/reliability.md for what each one proves.
#
#   scripts/soak.sh                 # 20,000 jobs through the kill/stall test, then the others
#   PGTIDE_CHAOS_JOBS=50000 scripts/soak.sh
#
# Needs what `.ci/run` installs: PostgreSQL server binaries, psql and pgbouncer.
set -euo pipefail
cd "$(dirname "$0")/.."
export PGTIDE_CHAOS_JOBS="${PGTIDE_CHAOS_JOBS:-20000}"
cargo test --test it -- chaos_workers:: pg_restart:: notify:: maintenance:: bloat:: pooler:: properties:: \
    --nocapture --test-threads 1 2>&1 \
    | grep -E '^(chaos|restarts|half-open|leader|bloat):|^test |test result'
