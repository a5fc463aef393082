#!/usr/bin/env bash
# `zonecast batch` (forecast dataflow + SQLite writes) next to `zonecast aggregate` on the same
# generated 3-month file (~10M trips), interleaved, best of ROUNDS (default 2): wall time, peak
# RSS and the ratio. Usage: benches/batch_vs_aggregate.sh [trips] (default 10000000);
# MODEL=ridge (default), rf or gbdt picks the model the batch scores with.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIPS="${1:-10000000}"; ROUNDS="${ROUNDS:-2}"; MODEL="${MODEL:-ridge}"
DIR=.bench/batch; mkdir -p "$DIR"
cargo build --release --quiet
Z=target/release/zonecast
IN="$DIR/trips_${TRIPS}_90d.parquet"
[ -f "$IN" ] || $Z generate --out "$IN" --trips "$TRIPS" --days 90 --seed 9
M="$DIR/model_$MODEL.bin"
[ -f "$M" ] || $Z train --input "$IN" --model "$MODEL" --out "$M" >/dev/null 2>&1
measure() { # prints "seconds rss_mb"
  /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.2f %.0f\n", $1, $2/1024}'
}
best_agg=999; best_batch=999; rss_agg=0; rss_batch=0
for r in $(seq "$ROUNDS"); do
  read -r s m < <(measure $Z aggregate --input "$IN" --out "$DIR/hourly.csv" --workers 2 --quiet)
  echo "round $r: aggregate ${s}s ${m}MB"
  awk "BEGIN{exit !($s < $best_agg)}" && best_agg=$s && rss_agg=$m
  rm -f "$DIR"/p.sqlite*
  read -r s m < <(measure $Z batch --input "$IN" --model "$M" --db "$DIR/p.sqlite" --workers 2 --quiet)
  echo "round $r: batch     ${s}s ${m}MB"
  awk "BEGIN{exit !($s < $best_batch)}" && best_batch=$s && rss_batch=$m
done
$Z batch --input "$IN" --model "$M" --db "$DIR/p.sqlite" --workers 2 --quiet 2>&1 | grep -E "forecasts|wall" | sed 's/^/re-run (idempotent): /'
echo "trips $TRIPS (90 days), model $MODEL: aggregate best ${best_agg}s (${rss_agg} MB), batch best ${best_batch}s (${rss_batch} MB), batch/aggregate $(awk "BEGIN{printf \"%.2f\", $best_batch/$best_agg}")x"
ls -la "$DIR"/p.sqlite | awk '{print "database size " $5/1e6 " MB"}'
