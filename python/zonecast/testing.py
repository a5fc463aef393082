"""Test helpers: trips written in a test with epoch markers, ``run_forecast`` (the engine's
live job over them, returning the update log and the final state) and ``RecordingModel`` (a
model that records the batches it scores).

    script = TripScript()
    script.add("2024-01-01 08:05", zone=1).add("2024-01-01 08:10", zone=2)
    script.epoch()                                   # later rows go in a later epoch
    script.add("2024-01-01 07:59", zone=1)           # a late trip
    log, final = run_forecast(script, workers=2)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .jobs import LiveJob
from .models import AnyModel
from .spec import FeatureSpec

TRIP_COLUMNS = ["pickup_datetime", "pickup_zone", "trip_distance", "fare_amount", "total_amount"]


def trips(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Trips from ``(pickup, zone[, distance, fare, total])`` tuples (texts stay texts, so a
    bad value is rejected by the engine as it would be in a file)."""
    padded = [tuple(r) + (None,) * (5 - len(r)) for r in rows]
    return pd.DataFrame(padded, columns=TRIP_COLUMNS).astype(object)


@dataclass
class TripScript:
    """Trips in epochs: ``add`` rows, ``epoch()`` to start the next epoch."""

    epochs: list[list[tuple[Any, ...]]] = field(default_factory=lambda: [[]])

    def add(self, pickup: Any, zone: Any, distance: Any = None, fare: Any = None,
            total: Any = None) -> TripScript:
        """Adds one trip to the current epoch."""
        self.epochs[-1].append((pickup, zone, distance, fare, total))
        return self

    def epoch(self) -> TripScript:
        """Starts a new epoch."""
        self.epochs.append([])
        return self

    def frames(self) -> list[pd.DataFrame]:
        """One DataFrame per non-empty epoch."""
        return [trips(rows) for rows in self.epochs if rows]


def run_forecast(script: TripScript, model: AnyModel | None = None, workers: int = 2,
                 allowed_lateness: str = "1d", timeout: float = 30.0) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Pushes each epoch of ``script`` through the live job (waiting until the engine has
    read it before the next), then ends the input. Returns the update log (every update as
    ``LiveRun.updates`` gives it) and the final state: ``forecasts`` and ``hourly``
    DataFrames and ``status``."""
    job = LiveJob(push=True, model=model, http=None, workers=workers,
                  allowed_lateness=allowed_lateness, exit_at_end=True)
    log: list[dict[str, Any]] = []
    with job.start() as run:
        run.wait_ready(timeout)
        pushed = 0
        for frame in script.frames():
            run.push(frame)
            pushed += len(frame)
            deadline = time.monotonic() + timeout
            while run.status().get("rows_read", 0) < pushed:
                log.extend(run.updates(timeout=0.05))
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the job read {run.status().get('rows_read')} of {pushed} rows")
        run.close_input()
        log.extend(run.updates(timeout=timeout))
        status = run.status()
    forecasts: dict[tuple[int, str], dict[str, Any]] = {}
    hourly: dict[tuple[int, str], dict[str, Any]] = {}
    for update in log:
        if update["kind"] == "resync":
            forecasts.clear()
            hourly.clear()
        for f in update.get("forecasts", []):
            key = (f["zone"], f["target_hour"])
            if f["diff"] > 0:
                forecasts[key] = f
            elif forecasts.get(key, {}).get("predicted_pickups") == f["predicted_pickups"]:
                del forecasts[key]
        for h in update.get("hourly", []):
            key = (h["zone"], h["hour"])
            if h["diff"] > 0:
                hourly[key] = h
            elif hourly.get(key, {}).get("pickups") == h["pickups"]:
                del hourly[key]
    final = {
        "forecasts": pd.DataFrame([{k: v for k, v in f.items() if k != "diff"} for f in forecasts.values()]),
        "hourly": pd.DataFrame([{k: v for k, v in h.items() if k != "diff"} for h in hourly.values()]),
        "status": status,
    }
    return log, final


class RecordingModel:
    """A model that records every batch it scores and predicts ``column`` of ``X`` (the first
    feature, ``lag_1h`` with the default spec)."""

    def __init__(self, column: int = 0) -> None:
        self.column = column
        self.batches: list[np.ndarray] = []

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Records ``X`` and returns its ``column``."""
        self.batches.append(np.array(X, copy=True))
        return np.asarray(X[:, self.column], dtype="float64")

    @property
    def rows(self) -> int:
        """Rows scored so far."""
        return sum(len(b) for b in self.batches)

    def spec(self) -> FeatureSpec:
        """The default spec (what ``PyModel`` assumes without one)."""
        return FeatureSpec()
