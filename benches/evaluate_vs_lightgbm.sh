#!/usr/bin/env bash
# Accuracy side by side: zonecast's default model (random forest), its gbdt and LightGBM on the same
# features and the same train/validation split, with the three baselines, on
#   1. the real yellow-taxi hourly counts of January 2022 (../shared/data; 31 days, so lags
#      1-24,168 and a one-week same-hour mean; the last week is validation), and
#   2. three months of generated trips with the default spec (lags 1-24,168,336,504,672 and the
#      four-week mean; the last week is validation) — this run also times training.
# Installs LightGBM into .bench/venv. Usage: benches/evaluate_vs_lightgbm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${ZONECAST_DATA:-../shared/data}
DIR=.bench
mkdir -p "$DIR"
cargo build --release --quiet
BIN=target/release/zonecast
if [ ! -x "$DIR/venv/bin/python" ]; then python3 -m venv "$DIR/venv"; fi
"$DIR/venv/bin/python" -c "import lightgbm, numpy" 2>/dev/null || "$DIR/venv/bin/pip" install --quiet lightgbm numpy

echo "== January 2022 yellow hourly counts (real), lags 1-24,168 + 1-week mean, last week held out"
$BIN train --input "$DATA/yellow_zone_hourly_2022-01.parquet" --hourly --zone-col pickup_location_id \
  --hour-col pickup_hour --count-col rides --lags 1-24,168 --same-hour-weeks 1 --validation-hours 168 \
  --out "$DIR/jan2022.model" --export-features "$DIR/jan2022"
"$DIR/venv/bin/python" benches/lightgbm_compare.py "$DIR/jan2022"
echo "-- zonecast gbdt on the same features and split"
/usr/bin/time -f "gbdt train wall %e s, peak RSS %M KB" $BIN train --input "$DATA/yellow_zone_hourly_2022-01.parquet" --hourly \
  --zone-col pickup_location_id --hour-col pickup_hour --count-col rides --lags 1-24,168 --same-hour-weeks 1 \
  --validation-hours 168 --model gbdt --out "$DIR/jan2022.gbdt" 2>&1 | grep -E "best round|^  |wall"

echo "== 3 months of generated trips (260 zones), default spec, last week held out"
[ -f "$DIR/trips_90d.parquet" ] || $BIN generate --out "$DIR/trips_90d.parquet" --trips 3000000 --days 90 --seed 3
/usr/bin/time -f "train wall %e s, peak RSS %M KB" $BIN train --input "$DIR/trips_90d.parquet" \
  --out "$DIR/90d.model" --export-features "$DIR/90d"
"$DIR/venv/bin/python" benches/lightgbm_compare.py "$DIR/90d"
echo "-- zonecast gbdt on the same features and split"
/usr/bin/time -f "gbdt train wall %e s, peak RSS %M KB" $BIN train --input "$DIR/trips_90d.parquet" --model gbdt \
  --out "$DIR/90d.gbdt" 2>&1 | grep -E "best round|^  |wall"

echo "== the same two comparisons with the trend features (--trends)"
$BIN train --input "$DATA/yellow_zone_hourly_2022-01.parquet" --hourly --zone-col pickup_location_id \
  --hour-col pickup_hour --count-col rides --lags 1-24,168 --same-hour-weeks 1 --validation-hours 168 \
  --trends --model gbdt --out "$DIR/jan2022_trends.gbdt" --export-features "$DIR/jan2022_trends" 2>&1 | grep -E "best round|^  "
"$DIR/venv/bin/python" benches/lightgbm_compare.py "$DIR/jan2022_trends"
/usr/bin/time -f "gbdt train wall %e s, peak RSS %M KB" $BIN train --input "$DIR/trips_90d.parquet" --trends --model gbdt \
  --out "$DIR/90d_trends.gbdt" --export-features "$DIR/90d_trends" 2>&1 | grep -E "best round|^  |wall"
"$DIR/venv/bin/python" benches/lightgbm_compare.py "$DIR/90d_trends"
