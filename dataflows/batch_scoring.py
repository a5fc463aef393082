"""Hourly batch scoring: train a native model, score a trip file into SQLite (idempotent; run
it from cron with new files and ``since_last_run=True``), then report from the database with
pandas.

    python dataflows/batch_scoring.py                       # generated data
    python dataflows/batch_scoring.py --trips jan.parquet --db predictions.sqlite

Copy this file and change the model or the report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import zonecast as zc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trips", type=Path, help="trip file (default: 35 generated days)")
    parser.add_argument("--db", type=Path, default=Path("predictions.sqlite"))
    parser.add_argument("--model", default="gbdt", help="gbdt, rf, ridge or a baseline")
    args = parser.parse_args()

    trips = args.trips
    if trips is None:
        trips = Path("zonecast-batch-trips.parquet")
        if not trips.exists():
            zc.generate(trips, trips=200_000, days=35, seed=2)

    spec = zc.FeatureSpec(lags=[1, 2, 3, 24, 168], same_hour_weeks=4)
    model = zc.train([trips], model=args.model, spec=spec)
    print(model)
    print(model.validation.round(3))

    out = zc.batch([trips], model=model, db=args.db, since_last_run=True, workers=2)
    print(f"run {out.run_id}: {out.report['forecasts']} forecasts "
          f"({out.report['forecasts_changed']} new or changed), {out.report['rows_read']} trips read")

    forecasts = zc.read_forecasts(args.db)
    busiest = (forecasts.groupby("zone")["predicted_pickups"].sum().sort_values(ascending=False).head(10))
    print("zones with the most forecast pickups:")
    print(busiest.round(1).to_string())
    by_hour = forecasts.groupby(forecasts["target_hour"].dt.hour)["predicted_pickups"].mean()
    print("mean forecast by hour of day:")
    print(by_hour.round(2).to_string())


if __name__ == "__main__":
    main()
