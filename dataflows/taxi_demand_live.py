"""Taxi demand, live: train LightGBM on zonecast's features, then serve its forecasts from a
replayed trip file followed by a socket that keeps taking trips.

    python dataflows/taxi_demand_live.py                      # generated data, serves until Ctrl-C
    python dataflows/taxi_demand_live.py --trips jan.parquet --speed 3600
    zonecast replay more.csv --to 127.0.0.1:PORT              # then send more trips

Copy this file and change the model, the features or the inputs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import lightgbm as lgb
import zonecast as zc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trips", type=Path, help="trip file (default: 35 generated days)")
    parser.add_argument("--train-until", default=None,
                        help="train on target hours before this (default: 3 days before the end)")
    parser.add_argument("--speed", type=float, default=None, help="replay pace: event-time seconds per wall second")
    parser.add_argument("--http", default="127.0.0.1:0")
    parser.add_argument("--listen", default="127.0.0.1:0", help="socket for more trips after the file")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: until Ctrl-C)")
    args = parser.parse_args()

    trips = args.trips
    if trips is None:
        trips = Path("zonecast-demo-trips.parquet")
        if not trips.exists():
            zc.generate(trips, trips=300_000, days=35, seed=1)
    spec = zc.FeatureSpec(lags=[1, 2, 3, 24, 168], same_hour_weeks=4)

    # 1. Features computed by the engine, exactly as the stream computes them.
    history = zc.aggregate([trips]).table
    until = args.train_until or (history["hour"].max() - zc_days(3)).strftime("%Y-%m-%d %H:%M:%S")
    train = zc.features([trips], spec=spec, end=until)
    print(f"training LightGBM on {len(train)} rows x {len(train.names)} features (before {until})")
    booster = lgb.train(
        {"objective": "poisson", "learning_rate": 0.05, "num_leaves": 31, "verbose": -1, "num_threads": 1},
        lgb.Dataset(train.X, train.y, feature_name=train.names),
        num_boost_round=200,
    )

    # 2. The model scores inside the stream; the GIL is taken only for predict().
    model = zc.PyModel(booster, spec=spec, name="lgbm-v1", max_batch_rows=8192)
    job = zc.LiveJob(inputs=[trips], listen=args.listen, speed=args.speed, model=model,
                     http=args.http, workers=2, allowed_lateness="1d")
    with job.start() as run:
        run.wait_ready(timeout=60)
        print(f"serving forecasts: {run.url}/  (curl {run.url}/v1/predictions)")
        print(f"more trips:        zonecast replay FILE --to {run.socket_address}")
        started = time.monotonic()
        try:
            for event in run.events(timeout=1.0):
                if event["event"] == "forecast" and event["zone"] == 132:
                    print(f"JFK {event['target_hour']}: {event['predicted_pickups']:.1f} pickups")
                if args.seconds is not None and time.monotonic() - started > args.seconds:
                    break
            while args.seconds is None or time.monotonic() - started < args.seconds:
                list(run.events(timeout=1.0))
        except KeyboardInterrupt:
            print("stopping")
        status = run.status()
        print(f"read {status.get('rows_read', 0)} trips, {status.get('late', 0)} late, "
              f"{status.get('rejected', 0)} rejected; model errors {status.get('model_errors', 0)}")
        print(run.evaluation().get("mae"), "MAE over the last final hours")


def zc_days(n: int):  # noqa: ANN201 - a pandas Timedelta
    import pandas as pd

    return pd.Timedelta(days=n)


if __name__ == "__main__":
    main()
