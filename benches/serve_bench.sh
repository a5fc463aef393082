#!/usr/bin/env bash
# Serving benchmarks of `zonecast run`'s job, in one go (figures printed, nothing asserted):
#  1. freshness: trips over the socket at 1k, 10k and 50k events/s -> changed forecast on
#     /v1/stream (p50/p99/max ms);
#  2. load: keep-alive GET /v1/predictions/{zone} from 32 connections for LOAD_SECS (default
#     60) while a generated stream is ingested (requests/s, errors, latency).
# Usage: benches/serve_bench.sh            (FRESHNESS_SECS=10 LOAD_SECS=60 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
export FRESHNESS_SECS="${FRESHNESS_SECS:-10}" LOAD_SECS="${LOAD_SECS:-60}"
cargo build --release --benches --quiet
echo "== machine: $(nproc) cores, $(uname -r)"
cargo bench --quiet --bench freshness -- 1000 10000 50000
echo
cargo bench --quiet --bench http_load
