#!/usr/bin/env bash
# `zonecast batch` (forecast dataflow + SQLite writes) next to `zonecast aggregate` on the same
# generated 3-month file (~10M trips), interleaved, best of ROUNDS (default 2): wall time, peak
# RSS and the ratio. Usage: benches/batch_vs_aggregate.sh [trips] (default 10000000);
# MODEL=ridge (default), rf or gbdt picks the model the batch scores with; BASE=path/to/zonecast
# (another build, e.g. of an earlier commit) runs the same pair with that binary in every round
# too, so both builds are measured side by side under the same machine noise.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIPS="${1:-10000000}"; ROUNDS="${ROUNDS:-2}"; MODEL="${MODEL:-ridge}"; BASE="${BASE:-}"
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
BUILDS=("$Z"); [ -n "$BASE" ] && BUILDS+=("$BASE")
declare -A best_agg best_batch rss_agg rss_batch
for b in "${BUILDS[@]}"; do best_agg[$b]=999; best_batch[$b]=999; done
for r in $(seq "$ROUNDS"); do
  for b in "${BUILDS[@]}"; do
    read -r s m < <(measure "$b" aggregate --input "$IN" --out "$DIR/hourly.csv" --workers 2 --quiet)
    echo "round $r: $b aggregate ${s}s ${m}MB"
    if awk "BEGIN{exit !($s < ${best_agg[$b]})}"; then best_agg[$b]=$s; rss_agg[$b]=$m; fi
    rm -f "$DIR"/p.sqlite*
    read -r s m < <(measure "$b" batch --input "$IN" --model "$M" --db "$DIR/p.sqlite" --workers 2 --quiet)
    echo "round $r: $b batch     ${s}s ${m}MB"
    if awk "BEGIN{exit !($s < ${best_batch[$b]})}"; then best_batch[$b]=$s; rss_batch[$b]=$m; fi
  done
done
$Z batch --input "$IN" --model "$M" --db "$DIR/p.sqlite" --workers 2 --quiet 2>&1 | grep -E "forecasts|wall" | sed 's/^/re-run (idempotent): /'
for b in "${BUILDS[@]}"; do
  echo "$b: trips $TRIPS (90 days), model $MODEL: aggregate best ${best_agg[$b]}s (${rss_agg[$b]} MB), batch best ${best_batch[$b]}s (${rss_batch[$b]} MB), batch/aggregate $(awk "BEGIN{printf \"%.2f\", ${best_batch[$b]}/${best_agg[$b]}}")x"
done
ls -la "$DIR"/p.sqlite | awk '{print "database size " $5/1e6 " MB"}'
