#!/usr/bin/env bash
# Two zonecast binaries (e.g. before and after a change) side by side with Polars on the same
# generated CSV: `aggregate` with 1 and 2 workers, round-robin, best of ROUNDS rounds each,
# whole-process wall time as in aggregate_vs_polars.sh. Prints events/s and the ratio to Polars.
# Usage: benches/compare_binaries.sh BIN_A BIN_B [trips]     (default 1000000; ROUNDS=5)
# Uses .bench/trips_N.csv and .bench/venv as aggregate_vs_polars.sh does (and creates them).
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1 B=$2 TRIPS=${3:-1000000} ROUNDS=${ROUNDS:-5}
DIR=.bench
mkdir -p "$DIR"
CSV="$DIR/trips_$TRIPS.csv"
[ -f "$CSV" ] || "$A" generate --out "$CSV" --trips "$TRIPS" --days 30 --seed 1
if [ ! -x "$DIR/venv/bin/python" ]; then
  python3 -m venv "$DIR/venv"
  "$DIR/venv/bin/pip" install --quiet polars duckdb
fi
NAMES=("A 1 worker" "B 1 worker" "A 2 workers" "B 2 workers" "polars")
CMDS=(
  "$A aggregate --input $CSV --out $DIR/cmp_a1.csv --quiet --workers 1"
  "$B aggregate --input $CSV --out $DIR/cmp_b1.csv --quiet --workers 1"
  "$A aggregate --input $CSV --out $DIR/cmp_a2.csv --quiet --workers 2"
  "$B aggregate --input $CSV --out $DIR/cmp_b2.csv --quiet --workers 2"
  "$DIR/venv/bin/python benches/groupby_peers.py polars $CSV"
)
declare -A BEST
for round in $(seq "$ROUNDS"); do
  line="round $round:"
  for i in "${!CMDS[@]}"; do
    start=$(date +%s.%N)
    ${CMDS[$i]} > /dev/null 2> "$DIR/cmp_stderr.txt"
    secs=$(awk "BEGIN{printf \"%.3f\", $(date +%s.%N) - $start}")
    line="$line ${NAMES[$i]} ${secs}s;"
    if [ -z "${BEST[$i]:-}" ] || awk "BEGIN{exit !($secs < ${BEST[$i]})}"; then BEST[$i]=$secs; fi
  done
  echo "$line"
done
cmp -s "$DIR/cmp_a1.csv" "$DIR/cmp_b1.csv" && cmp -s "$DIR/cmp_a2.csv" "$DIR/cmp_b2.csv" \
  && echo "tables identical: A = B at 1 and 2 workers" || echo "TABLES DIFFER between A and B"
echo "A = $A"
echo "B = $B"
echo "input: $TRIPS trips, best of $ROUNDS interleaved rounds"
POLARS=$(awk "BEGIN{printf \"%.0f\", $TRIPS / ${BEST[4]}}")
printf '%-14s %8s %12s %10s\n' engine seconds events/s "/ polars"
for i in "${!CMDS[@]}"; do
  rate=$(awk "BEGIN{printf \"%.0f\", $TRIPS / ${BEST[$i]}}")
  printf '%-14s %8s %12s %10s\n' "${NAMES[$i]}" "${BEST[$i]}" "$rate" "$(awk "BEGIN{printf \"%.3f\", $rate / $POLARS}")"
done
