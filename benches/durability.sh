#!/usr/bin/env bash
# What durability (--state-dir) costs, side by side in one run: socket ingest with and without
# the write-ahead log, checkpoint size and time on the green month and 3 generated months, and
# per-trip freshness at 50k rows/s with and without checkpoints.
# Usage: bash benches/durability.sh   (FRESHNESS_SECS, DURABILITY_ROWS to change the lengths)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --bench durability
echo
echo "== freshness at 50k rows/s, without --state-dir"
FRESHNESS_PARTS=trip cargo bench --bench freshness -- 50000 | grep -v '^$'
echo "== freshness at 50k rows/s, with --state-dir"
FRESHNESS_STATE_DIR=1 FRESHNESS_PARTS=trip cargo bench --bench freshness -- 50000 | grep -v '^$'
