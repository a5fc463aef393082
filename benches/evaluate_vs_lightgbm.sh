#!/usr/bin/env bash
# Accuracy side by side: zonecast's default model (gbdt, symmetric trees), its leaf-wise gbdt, its
# random forest and LightGBM on the same features and the same train/validation split, with the
# three baselines, on
#   1. the real yellow-taxi hourly counts of January 2022 (../shared/data; 31 days, so lags
#      1-24,168 and a one-week same-hour mean; the last week is validation), and
#   2. three months of generated trips with the default spec (lags 1-24,168,336,504,672 and the
#      four-week mean; the last week is validation) — this run also times training.
# Then the same with the trend features, and with the zone encoding.
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

# The leaf-wise gbdt runs with LightGBM's settings (learning rate 0.05, 63 leaves, 1000 rounds).
LEAF_WISE=(--model gbdt --trees leaf-wise --learning-rate 0.05 --rounds 1000 --max-leaves 63)
JAN=(--input "$DATA/yellow_zone_hourly_2022-01.parquet" --hourly --zone-col pickup_location_id
  --hour-col pickup_hour --count-col rides --lags 1-24,168 --same-hour-weeks 1 --validation-hours 168)

echo "== January 2022 yellow hourly counts (real), lags 1-24,168 + 1-week mean, last week held out"
echo "-- zonecast default model (gbdt, symmetric trees)"
/usr/bin/time -f "default train wall %e s, peak RSS %M KB" $BIN train "${JAN[@]}" \
  --out "$DIR/jan2022.model" --export-features "$DIR/jan2022" 2>&1 | grep -E "best round|^  |wall"
"$DIR/venv/bin/python" benches/lightgbm_compare.py "$DIR/jan2022"
echo "-- zonecast leaf-wise gbdt on the same features and split"
/usr/bin/time -f "leaf-wise train wall %e s, peak RSS %M KB" $BIN train "${JAN[@]}" "${LEAF_WISE[@]}" \
  --out "$DIR/jan2022.leafwise" 2>&1 | grep -E "best round|^  model|wall"
echo "-- zonecast random forest on the same features and split"
/usr/bin/time -f "forest train wall %e s, peak RSS %M KB" $BIN train "${JAN[@]}" --model rf \
  --out "$DIR/jan2022.rf" 2>&1 | grep -E "^  model|wall"

echo "== 3 months of generated trips (260 zones), default spec, last week held out"
[ -f "$DIR/trips_90d.parquet" ] || $BIN generate --out "$DIR/trips_90d.parquet" --trips 3000000 --days 90 --seed 3
echo "-- zonecast default model (gbdt, symmetric trees)"
/usr/bin/time -f "default train wall %e s, peak RSS %M KB" $BIN train --input "$DIR/trips_90d.parquet" \
  --out "$DIR/90d.model" --export-features "$DIR/90d" 2>&1 | grep -E "best round|^  |wall"
"$DIR/venv/bin/python" benches/lightgbm_compare.py "$DIR/90d"
echo "-- zonecast leaf-wise gbdt on the same features and split"
/usr/bin/time -f "leaf-wise train wall %e s, peak RSS %M KB" $BIN train --input "$DIR/trips_90d.parquet" \
  "${LEAF_WISE[@]}" --out "$DIR/90d.leafwise" 2>&1 | grep -E "best round|^  model|wall"
echo "-- zonecast random forest on the same features and split"
/usr/bin/time -f "forest train wall %e s, peak RSS %M KB" $BIN train --input "$DIR/trips_90d.parquet" \
  --model rf --out "$DIR/90d.rf" 2>&1 | grep -E "^  model|wall"

echo "== the same two comparisons with the trend features (--trends)"
$BIN train "${JAN[@]}" --trends --out "$DIR/jan2022_trends.gbdt" --export-features "$DIR/jan2022_trends" \
  2>&1 | grep -E "best round|^  model"
"$DIR/venv/bin/python" benches/lightgbm_compare.py "$DIR/jan2022_trends"
/usr/bin/time -f "default train wall %e s, peak RSS %M KB" $BIN train --input "$DIR/trips_90d.parquet" --trends \
  --out "$DIR/90d_trends.gbdt" --export-features "$DIR/90d_trends" 2>&1 | grep -E "best round|^  model|wall"
"$DIR/venv/bin/python" benches/lightgbm_compare.py "$DIR/90d_trends"

echo "== the zone's identity as a feature (--zone-encoding; LightGBM gets the same encoding)"
$BIN train "${JAN[@]}" --zone-encoding --out "$DIR/jan2022_zones.gbdt" 2>&1 | grep -E "best round|^  model"
"$DIR/venv/bin/python" benches/lightgbm_compare.py "$DIR/jan2022" --zone-encoding
/usr/bin/time -f "default train wall %e s, peak RSS %M KB" $BIN train --input "$DIR/trips_90d.parquet" --zone-encoding \
  --out "$DIR/90d_zones.gbdt" 2>&1 | grep -E "best round|^  model|wall"
"$DIR/venv/bin/python" benches/lightgbm_compare.py "$DIR/90d" --zone-encoding
