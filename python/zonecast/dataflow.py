"""Flows from engine operators, Bytewax-style: a ``Dataflow`` names its inputs (files, a
socket, DataFrames), then ``hourly`` (the incremental per-zone hourly aggregate), ``features``
and ``score`` (the streaming model operator), and where results go (``subscribe``,
``to_sqlite``, ``serve``). ``run(flow)`` runs it on the engine's live or batch job: every
operator is the Rust one; Python sees one DataFrame of changes per epoch.

    flow = zc.Dataflow("demand")
    trips = flow.files(["jan.parquet"])
    fc = trips.hourly(allowed_lateness="1d").features(zc.FeatureSpec()).score(model)
    fc.subscribe(lambda epoch, changes: print(epoch, len(changes)))
    zc.run(flow, workers=2)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pandas as pd

from .jobs import LiveJob, batch
from .models import AnyModel, Model
from .spec import FeatureSpec

Subscriber = Callable[[int, pd.DataFrame], Any]


class Dataflow:
    """A named flow: one trip input chain and the stages built on it."""

    def __init__(self, name: str = "flow") -> None:
        self.name = name
        self.inputs: list[Any] = []
        self.speed: float | None = None
        self.listen: str | None = None
        self.allowed_lateness: str | None = None
        self.spec: FeatureSpec | None = None
        self.model: AnyModel | None = None
        self.hourly_subscribers: list[Subscriber] = []
        self.forecast_subscribers: list[Subscriber] = []
        self.sqlite: list[str] = []
        self.http: str | None = None

    def files(self, paths: Any, speed: float | None = None) -> Trips:
        """Trip files (CSV or Parquet), replayed in order (paced by ``speed`` if given)."""
        self.inputs.extend([paths] if isinstance(paths, (str, os.PathLike)) else list(paths))
        self.speed = speed
        return Trips(self)

    def memory(self, trips: Any) -> Trips:
        """Trips in a DataFrame, Arrow table or list of dicts."""
        self.inputs.append(trips)
        return Trips(self)

    def socket(self, addr: str) -> Trips:
        """Trips as CSV lines on a TCP socket (after any files); the flow never ends by itself."""
        self.listen = addr
        return Trips(self)

    def __repr__(self) -> str:
        return f"Dataflow({self.name!r}, {len(self.inputs)} inputs)"


class Trips:
    """The flow's trips."""

    def __init__(self, flow: Dataflow) -> None:
        self.flow = flow

    def hourly(self, allowed_lateness: str | None = "1d") -> Hourly:
        """Per-zone hourly aggregates, corrected for late trips within ``allowed_lateness``."""
        self.flow.allowed_lateness = allowed_lateness
        return Hourly(self.flow)


class Hourly:
    """Per-zone hourly aggregates."""

    def __init__(self, flow: Dataflow) -> None:
        self.flow = flow

    def features(self, spec: FeatureSpec | None = None) -> FeatureRows:
        """Feature rows for every changed aggregate (lags, same-hour means, calendar)."""
        self.flow.spec = spec or FeatureSpec()
        return FeatureRows(self.flow)

    def subscribe(self, fn: Subscriber) -> Hourly:
        """Calls ``fn(epoch, changes)`` per epoch: zone, hour, pickups, means and ``diff``."""
        self.flow.hourly_subscribers.append(fn)
        return self


class FeatureRows:
    """Feature rows."""

    def __init__(self, flow: Dataflow) -> None:
        self.flow = flow

    def score(self, model: AnyModel) -> Forecasts:
        """Forecasts by ``model`` (a ``Model`` or ``PyModel`` on the same features)."""
        self.flow.model = model
        return Forecasts(self.flow)


class Forecasts:
    """Forecasts per zone and target hour."""

    def __init__(self, flow: Dataflow) -> None:
        self.flow = flow

    def subscribe(self, fn: Subscriber) -> Forecasts:
        """Calls ``fn(epoch, changes)`` per epoch: zone, target_hour, predicted_pickups,
        model_version, fallback and ``diff`` (a correction is a -1 row and a +1 row)."""
        self.flow.forecast_subscribers.append(fn)
        return self

    def to_sqlite(self, db: str | os.PathLike[str]) -> Forecasts:
        """Writes forecasts and hourly aggregates into a prediction database (a batch run)."""
        self.flow.sqlite.append(os.fspath(db))
        return self

    def serve(self, http: str = "127.0.0.1:0") -> Forecasts:
        """Serves the forecasts over HTTP (the live API and dashboard) until stopped."""
        self.flow.http = http
        return self


def _frame(rows: list[dict[str, Any]], time_column: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if len(frame):
        frame[time_column] = pd.to_datetime(frame[time_column])
    return frame


def run(flow: Dataflow, workers: int = 2, timeout: float = 60.0) -> dict[str, Any]:
    """Runs ``flow`` on ``workers`` worker threads; returns what each output reported."""
    model = flow.model or Model.baseline("four_week_mean", flow.spec or FeatureSpec())
    results: dict[str, Any] = {}
    for db in flow.sqlite:
        results[db] = batch(flow.inputs, model, db, workers=workers,
                            allowed_lateness=flow.allowed_lateness).report
    if not (flow.hourly_subscribers or flow.forecast_subscribers or flow.http):
        return results
    job = LiveJob(inputs=flow.inputs, listen=flow.listen, speed=flow.speed, model=model,
                  http=flow.http, workers=workers, allowed_lateness=flow.allowed_lateness,
                  exit_at_end=flow.http is None and flow.listen is None)
    with job.start() as handle:
        handle.wait_ready(timeout)
        if handle.url:
            print(f"{flow.name}: serving {handle.url}/", flush=True)
        while True:
            finished = handle.is_finished()
            for update in handle.updates(timeout=0.2):
                if update["kind"] == "lagged":
                    continue
                epoch = update["epoch"] if update["epoch"] is not None else -1
                if flow.hourly_subscribers and update["hourly"]:
                    changes = _frame(update["hourly"], "hour")
                    for fn in flow.hourly_subscribers:
                        fn(epoch, changes)
                if flow.forecast_subscribers and update["forecasts"]:
                    changes = _frame(update["forecasts"], "target_hour")
                    for fn in flow.forecast_subscribers:
                        fn(epoch, changes)
            if finished:
                break
        results["live"] = handle.status()
    return results
