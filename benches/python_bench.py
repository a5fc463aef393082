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
        self.cpu = 0.0
        self.batches: list[np.ndarray] = []

    def predict(self, X: np.ndarray) -> np.ndarray:
        started, cpu = time.perf_counter(), time.thread_time()
        out = self.booster.predict(X, num_threads=1)
        self.seconds += time.perf_counter() - started
        self.cpu += time.thread_time() - cpu
        self.batches.append(X.copy())
        return out


def bench_pymodel(trips: Path) -> None:
    spec = zc.FeatureSpec(lags=[1, 2, 3, 24, 168], same_hour_weeks=4)
    f = zc.features([trips], spec=spec)
    booster = lgb.train({"objective": "poisson", "num_leaves": 63, "learning_rate": 0.05, "verbose": -1,
                         "num_threads": 1}, lgb.Dataset(f.X, f.y), num_boost_round=200)
    timed = TimedBooster(booster)
    python_model = zc.PyModel(timed, spec=spec, name="lgbm")
    native = zc.Model.baseline("four_week_mean", spec)

    def job_seconds(model: zc.PyModel | zc.Model) -> float:
        started = time.perf_counter()
        zc.LiveJob(inputs=[trips], model=model, http=None, workers=2).start().join()
        return time.perf_counter() - started

    # Side by side, best of 3: the same job with the LightGBM PyModel and with a native
    # baseline (which costs next to nothing); the difference is what the Python model costs the
    # job (GIL, buffers, predict), on the rows the stream actually scores.
    with_lgbm, with_baseline = [], []
    for _ in range(3):
        timed.batches.clear()
        timed.seconds = timed.cpu = 0.0
        with_lgbm.append(job_seconds(python_model))
        with_baseline.append(job_seconds(native))
    rows = np.concatenate(timed.batches)
    started, cpu = time.perf_counter(), time.thread_time()
    booster.predict(rows, num_threads=1)
    direct, direct_cpu = time.perf_counter() - started, time.thread_time() - cpu
    n = len(rows)
    in_stream = min(with_lgbm) - min(with_baseline)
    print(f"pymodel: {n} rows in {len(timed.batches)} batches (mean {n / len(timed.batches):.0f} rows), 2 workers")
    print(f"  booster.predict, one batch          {n / direct:12.0f} rows/s")
    print(f"  in the stream (job time over native) {n / in_stream:12.0f} rows/s  ratio {direct / in_stream:.2f}"
          f"  (job {min(with_lgbm):.2f}s vs {min(with_baseline):.2f}s, best of 3)")
    print(f"  wall time inside predict calls      {n / timed.seconds:12.0f} rows/s  ratio {direct / timed.seconds:.2f}"
          f"  (includes waiting for the cores the dataflow uses)")
    print(f"  CPU time inside predict calls       {n / timed.cpu:12.0f} rows/s  ratio {direct_cpu / timed.cpu:.2f}"
          f"  (batch size and call overhead only)")


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
