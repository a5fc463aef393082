"""Python package benchmarks, each a ratio measured side by side in one run (no timed asserts):

1. PyModel: rows/s of LightGBM scoring inside the stream (batches as the model operator sends
   them, 2 workers) against ``booster.predict`` on the same rows in one batch.
2. GIL: a busy Python thread's speed while a 2-worker ``zc.aggregate`` ingests, against alone.
3. ``zc.aggregate`` on 1M trips to a DataFrame against ``zonecast aggregate`` (CLI) wall time.

    .venv/bin/python benches/python_bench.py [--trips 1000000] [--workdir .bench/python]
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import zonecast as zc

ROOT = Path(__file__).resolve().parents[1]


class TimedBooster:
    """Times every predict call the stream makes and keeps its rows."""

    def __init__(self, booster: lgb.Booster) -> None:
        self.booster = booster
        self.seconds = 0.0
        self.batches: list[np.ndarray] = []

    def predict(self, X: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        out = self.booster.predict(X, num_threads=1)
        self.seconds += time.perf_counter() - started
        self.batches.append(X.copy())
        return out


def bench_pymodel(trips: Path) -> None:
    spec = zc.FeatureSpec(lags=[1, 2, 3, 24, 168], same_hour_weeks=4)
    f = zc.features([trips], spec=spec)
    booster = lgb.train({"objective": "poisson", "num_leaves": 63, "learning_rate": 0.05, "verbose": -1,
                         "num_threads": 1}, lgb.Dataset(f.X, f.y), num_boost_round=200)
    timed = TimedBooster(booster)
    started = time.perf_counter()
    zc.LiveJob(inputs=[trips], model=zc.PyModel(timed, spec=spec, name="lgbm"), http=None, workers=2).start().join()
    job_with_lgbm = time.perf_counter() - started
    started = time.perf_counter()
    zc.LiveJob(inputs=[trips], model=zc.Model.baseline("four_week_mean", spec), http=None, workers=2).start().join()
    job_with_baseline = time.perf_counter() - started
    rows = np.concatenate(timed.batches)
    started = time.perf_counter()
    booster.predict(rows, num_threads=1)
    direct = time.perf_counter() - started
    n = len(rows)
    # In the stream: the job's extra wall time over a native baseline job is everything the
    # Python model costs (GIL, buffers, predict); the predict calls alone are timed inside.
    in_stream = max(job_with_lgbm - job_with_baseline, timed.seconds)
    print(f"pymodel: {n} rows in {len(timed.batches)} batches (mean {n / len(timed.batches):.0f} rows)")
    print(f"  booster.predict, one batch      {n / direct:12.0f} rows/s")
    print(f"  predict calls inside the stream {n / timed.seconds:12.0f} rows/s  ratio {direct / timed.seconds:.2f}")
    print(f"  job wall time over a baseline   {n / in_stream:12.0f} rows/s  ratio {direct / in_stream:.2f}"
          f"  (job {job_with_lgbm:.2f}s vs {job_with_baseline:.2f}s)")


def busy(seconds: float, counter: list[int]) -> None:
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    counter.append(n)


def bench_gil(trips: Path) -> None:
    alone: list[int] = []
    busy(2.0, alone)
    during: list[int] = []
    thread = threading.Thread(target=busy, args=(2.0, during))
    thread.start()
    runs = 0
    while thread.is_alive():
        zc.aggregate([trips], workers=2)
        runs += 1
    thread.join()
    print(f"gil: busy Python thread {during[0] / 2:.0f}/s during {runs} aggregate runs vs {alone[0] / 2:.0f}/s alone:"
          f" ratio {during[0] / alone[0]:.2f}")


def bench_aggregate(trips: Path, workdir: Path) -> None:
    cli = ROOT / "target" / "release" / "zonecast"
    out = workdir / "cli.csv"
    best_cli, best_py = float("inf"), float("inf")
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([str(cli), "aggregate", "--input", str(trips), "--out", str(out), "--workers", "2", "--quiet"],
                       check=True, capture_output=True)
        best_cli = min(best_cli, time.perf_counter() - started)
        started = time.perf_counter()
        res = zc.aggregate([trips], workers=2)
        best_py = min(best_py, time.perf_counter() - started)
    print(f"aggregate: {res.report['rows_read']} trips -> {len(res.table)} rows: zc.aggregate {best_py:.3f}s,"
          f" CLI {best_cli:.3f}s: ratio {best_py / best_cli:.2f} (best of 3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trips", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench" / "python")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    trips = args.workdir / f"trips-{args.trips}.parquet"
    if not trips.exists():
        zc.generate(trips, trips=args.trips, days=35, seed=1)
    bench_aggregate(trips, args.workdir)
    bench_gil(trips)
    bench_pymodel(trips)


if __name__ == "__main__":
    main()
