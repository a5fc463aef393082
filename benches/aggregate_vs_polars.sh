#!/usr/bin/env bash
# Side-by-side: zonecast aggregate (1 and 2 workers) vs Polars and DuckDB GROUP BY on the same
# generated 1M-trip CSV, plus zonecast on the same trips as Parquet. Prints events/s, peak RSS
# (GNU time, whole process) and the ratios. Installs Polars and DuckDB into .bench/venv.
# Usage: benches/aggregate_vs_polars.sh [trips]      (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
TRIPS=${1:-1000000}
DIR=.bench
mkdir -p "$DIR"
cargo build --release --quiet
BIN=target/release/zonecast
CSV="$DIR/trips_$TRIPS.csv"
PARQUET="$DIR/trips_$TRIPS.parquet"
[ -f "$CSV" ] || $BIN generate --out "$CSV" --trips "$TRIPS" --days 30 --seed 1
[ -f "$PARQUET" ] || $BIN generate --out "$PARQUET" --trips "$TRIPS" --days 30 --seed 1
if [ ! -x "$DIR/venv/bin/python" ]; then
  python3 -m venv "$DIR/venv"
  "$DIR/venv/bin/pip" install --quiet polars duckdb
fi
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }

# The engines run round-robin, ROUNDS times, and each keeps its best run, so a slow
# moment of this shared machine does not land on one engine only.
ROUNDS=${ROUNDS:-5}
NAMES=("zonecast csv 1 worker" "zonecast csv 2 workers" "zonecast parquet 1 worker" "zonecast parquet 2 workers" "polars csv" "duckdb csv")
CMDS=(
  "$BIN aggregate --input $CSV --out $DIR/out1.csv --quiet --workers 1"
  "$BIN aggregate --input $CSV --out $DIR/out2.csv --quiet --workers 2"
  "$BIN aggregate --input $PARQUET --out $DIR/outp1.csv --quiet --workers 1"
  "$BIN aggregate --input $PARQUET --out $DIR/outp2.csv --quiet --workers 2"
  "$DIR/venv/bin/python benches/groupby_peers.py polars $CSV"
  "$DIR/venv/bin/python benches/groupby_peers.py duckdb $CSV"
)
declare -A BEST RSS
for _ in $(seq "$ROUNDS"); do
  for i in "${!CMDS[@]}"; do
    /usr/bin/time -f "%e %M" -o "$DIR/time.txt" ${CMDS[$i]} > /dev/null 2> "$DIR/stderr.txt"
    read -r secs kb < "$DIR/time.txt"
    if [ -z "${BEST[$i]:-}" ] || awk "BEGIN{exit !($secs < ${BEST[$i]})}"; then BEST[$i]=$secs; RSS[$i]=$kb; fi
  done
done

echo "input: $TRIPS trips, $(du -h "$CSV" | cut -f1) CSV, $(du -h "$PARQUET" | cut -f1) Parquet; best of $ROUNDS interleaved rounds"
printf '%-28s %10s %14s %12s\n' engine seconds events/s "peak RSS MB"
declare -A RATE
for i in "${!CMDS[@]}"; do
  RATE[$i]=$(awk "BEGIN{printf \"%.0f\", $TRIPS / ${BEST[$i]}}")
  printf '%-28s %10s %14s %12s\n' "${NAMES[$i]}" "${BEST[$i]}" "${RATE[$i]}" "$(awk "BEGIN{printf \"%.0f\", ${RSS[$i]}/1024}")"
done
cmp -s "$DIR/out1.csv" "$DIR/out2.csv" && cmp -s "$DIR/out1.csv" "$DIR/outp2.csv" && echo "tables identical: csv 1w = csv 2w = parquet 2w"
awk -v a="${RATE[1]}" -v b="${RATE[4]}" -v c="${RATE[5]}" -v d="${RATE[0]}" -v p="${RATE[3]}" -v q="${RATE[2]}" \
  'BEGIN{printf "ratios: zonecast csv 2w / polars %.2fx, / duckdb %.2fx; csv 2w / 1w %.2fx; parquet 2w / 1w %.2fx\n", a/b, a/c, a/d, p/q}'
echo "(whole-process wall time incl. start-up for every engine; Python interpreter start ~0.05 s)"
