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

# best of 3: "<seconds> <peak_rss_kb>" of a whole command
measure() {
  local best="" rss=""
  for _ in 1 2 3; do
    /usr/bin/time -f "%e %M" -o "$DIR/time.txt" "$@" > /dev/null 2> "$DIR/stderr.txt"
    read -r secs kb < "$DIR/time.txt"
    if [ -z "$best" ] || awk "BEGIN{exit !($secs < $best)}"; then best=$secs; rss=$kb; fi
  done
  echo "$best $rss"
}

echo "input: $TRIPS trips, $(du -h "$CSV" | cut -f1) CSV, $(du -h "$PARQUET" | cut -f1) Parquet"
printf '%-28s %10s %14s %12s\n' engine seconds events/s "peak RSS MB"
declare -A RATE
row() { # name seconds rss_kb
  local rate; rate=$(awk "BEGIN{printf \"%.0f\", $TRIPS / $2}")
  RATE[$1]=$rate
  printf '%-28s %10s %14s %12s\n' "$1" "$2" "$rate" "$(awk "BEGIN{printf \"%.0f\", $3/1024}")"
}
read -r s k < <(measure $BIN aggregate --input "$CSV" --out "$DIR/out1.csv" --quiet --workers 1); row "zonecast csv 1 worker" "$s" "$k"
read -r s k < <(measure $BIN aggregate --input "$CSV" --out "$DIR/out2.csv" --quiet --workers 2); row "zonecast csv 2 workers" "$s" "$k"
read -r s k < <(measure $BIN aggregate --input "$PARQUET" --out "$DIR/outp.csv" --quiet --workers 2); row "zonecast parquet 2 workers" "$s" "$k"
read -r s k < <(measure "$DIR/venv/bin/python" benches/groupby_peers.py polars "$CSV"); row "polars csv" "$s" "$k"
read -r s k < <(measure "$DIR/venv/bin/python" benches/groupby_peers.py duckdb "$CSV"); row "duckdb csv" "$s" "$k"
cmp -s "$DIR/out1.csv" "$DIR/out2.csv" && echo "1- and 2-worker tables identical"
awk -v a="${RATE[zonecast csv 2 workers]}" -v b="${RATE[polars csv]}" -v c="${RATE[duckdb csv]}" -v d="${RATE[zonecast csv 1 worker]}" \
  'BEGIN{printf "ratios: zonecast(2w)/polars %.2fx, zonecast(2w)/duckdb %.2fx, 2 workers/1 worker %.2fx\n", a/b, a/c, a/d}'
echo "(whole-process wall time incl. start-up for every engine; Python interpreter start ~0.05 s)"
