"""Jobs with handles: ``LiveJob`` (trips -> forecasts served live), ``batch`` (trips ->
forecasts in SQLite), ``serve`` (SQLite -> the same HTTP API). Settings in; a started run out
(``LiveRun``) whose waits release the GIL and answer Ctrl-C, or a finished run's record.

A run stops its job when it leaves a ``with`` block, when it is garbage-collected and at
interpreter exit.
"""

from __future__ import annotations

import atexit
import json
import os
import sqlite3
import time
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from . import _zonecast
from ._inputs import column_overrides, hour_of, native_inputs, trip_batch
from .models import AnyModel, Model

_RUNNING: weakref.WeakSet[LiveRun] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for run in list(_RUNNING):
        try:
            run.stop()
            run._native.join()
        except BaseException:  # noqa: BLE001 - best effort at exit
            pass


class LiveRun:
    """A started job: readiness, addresses, the served state and its events."""

    def __init__(self, native: _zonecast.Run) -> None:
        self._native = native
        self.http_address: str | None = None
        self.socket_address: str | None = None
        _RUNNING.add(self)

    def __enter__(self) -> LiveRun:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        self.stop()
        if kind is None:
            self.join()
        else:
            try:
                self._native.join()
            except Exception:  # noqa: BLE001 - the with-block's own exception wins
                pass

    def wait_ready(self, timeout: float = 30.0) -> LiveRun:
        """Waits until the job serves (its sockets are bound); raises the job's error if it
        failed first, or ``JobError`` after ``timeout`` seconds."""
        self.http_address, self.socket_address = self._native.wait_ready(float(timeout))
        return self

    @property
    def url(self) -> str | None:
        """``http://host:port`` of the HTTP API and dashboard (after ``wait_ready``)."""
        return None if self.http_address is None else f"http://{self.http_address}"

    def predictions(self) -> pd.DataFrame:
        """The current forecast of every zone: one row per zone, the ``/v1/predictions`` fields."""
        rows = json.loads(self._native.predictions_json())
        frame = pd.DataFrame(rows, columns=[
            "zone", "zone_name", "borough", "target_hour", "predicted_pickups", "model_version",
            "fallback", "as_of", "updated_at", "revision", "last_actual"])
        for column in ("target_hour", "as_of"):
            frame[column] = pd.to_datetime(frame[column])
        return frame

    def history(self, zone: int, hours: int = 48) -> pd.DataFrame:
        """A zone's last ``hours`` hours: actual pickups so far and the forecast served."""
        rows = json.loads(self._native.history_json(int(zone), int(hours)))
        frame = pd.DataFrame(rows, columns=["hour", "actual_pickups", "final", "forecast",
                                            "model_version", "revision"])
        frame["hour"] = pd.to_datetime(frame["hour"])
        return frame

    def status(self) -> dict[str, Any]:
        """Counters: epoch, watermark, rows read, accepted, rejected (by reason), late,
        ``input_finished``; with a ``PyModel``, ``model_errors``."""
        return json.loads(self._native.status_json())  # type: ignore[no-any-return]

    def evaluation(self) -> dict[str, Any]:
        """The online MAE over the last final hours next to the baselines (``/v1/evaluation``)."""
        return json.loads(self._native.evaluation_json())  # type: ignore[no-any-return]

    def updates(self, timeout: float = 5.0) -> Iterator[dict[str, Any]]:
        """Every update as it comes: ``{"kind": "resync"|"epoch"|"lagged", "forecasts": [...],
        "hourly": [...], "status": {...}}`` with a ``diff`` on each change. Epochs without
        changes are skipped; ends after ``timeout`` seconds without an update, or when the job
        has ended and everything was received."""
        deadline = time.monotonic() + timeout
        while True:
            update = self._native.next_update(max(0.0, deadline - time.monotonic()))
            if update is None:
                return
            parsed = json.loads(update)
            if parsed["kind"] == "epoch" and not parsed["forecasts"] and not parsed["hourly"]:
                if time.monotonic() >= deadline:
                    return
                continue
            yield parsed
            deadline = time.monotonic() + timeout

    def events(self, timeout: float = 5.0) -> Iterator[dict[str, Any]]:
        """Forecast changes as on ``/v1/stream``: first a ``resync`` event with every current
        forecast (when this run's updates had not been read yet), then one ``forecast`` event
        per new or corrected forecast; ends after ``timeout`` seconds without one."""
        deadline = time.monotonic() + timeout
        for update in self.updates(timeout):
            if update["kind"] == "epoch":
                for change in update["forecasts"]:
                    if change["diff"] > 0:
                        yield {"event": "forecast", "epoch": update["epoch"],
                               **{k: v for k, v in change.items() if k != "diff"}}
                        deadline = time.monotonic() + timeout
            elif update["kind"] == "resync":
                yield {"event": "resync", "epoch": update["epoch"], "forecasts": update["forecasts"]}
                deadline = time.monotonic() + timeout
            else:
                yield {"event": "lagged", "missed": update["missed"]}
            if time.monotonic() >= deadline:
                return

    def push(self, trips: Any, columns: Mapping[str, str] | None = None) -> int:
        """Pushes trips (a DataFrame, Arrow table or list of dicts) into a job started with
        ``push=True``; blocks while the job is far behind. Returns the first row's position
        (rejects name it as their line)."""
        return int(self._native.push(trip_batch(trips, columns)))

    def close_input(self) -> None:
        """Ends the pushed input; the job finishes what it has."""
        self._native.close_input()

    def swap_model(self, model: AnyModel) -> None:
        """Serves ``model`` (same features) from the next epoch; every held forecast is rescored."""
        self._native.swap_model(model._native)

    def stop(self) -> None:
        """Asks the job to stop: inputs end, what was read is finished."""
        self._native.stop()

    def is_finished(self) -> bool:
        """True once the job has ended."""
        return bool(self._native.is_finished())

    def join(self) -> dict[str, Any]:
        """Waits for the job to end; returns its summary or raises its error (a ``PyModel``'s
        own exception first). Ctrl-C stops the job, then raises ``KeyboardInterrupt``."""
        return json.loads(self._native.join())  # type: ignore[no-any-return]


class LiveJob:
    """The live job: trips from files (paced by ``speed``, event-time hours per wall hour),
    then a socket (``listen``) or pushed rows (``push=True``), through hourly aggregates,
    features and ``model`` (a ``Model`` or ``PyModel``; default the ``four_week_mean``
    baseline), served over HTTP on ``http`` (``None``: no server; port 0 picks a free port).

    ``exit_at_end``: end when finite inputs end (default: when there is no HTTP server and no
    never-ending input); otherwise the job serves until stopped.

    ``batch_interval_ms``: paced files, the socket and pushed rows close an epoch at most this
    many milliseconds after its first row (default 20), as ``zonecast run --batch-interval-ms``.

    ``state_dir``: checkpoint the job's state there every ``checkpoint_interval`` seconds
    (default 10) and log socket and pushed rows there before they are used; a job started
    again with the same folder (and settings) continues where a killed one stopped, as
    ``zonecast run --state-dir``. A ``PyModel`` is not saved: pass the same model again.
    """

    def __init__(self, inputs: Any = None, listen: str | None = None, push: bool = False,
                 speed: float | None = None, model: AnyModel | None = None,
                 http: str | None = "127.0.0.1:0", workers: int = 2,
                 allowed_lateness: str | None = None, columns: Mapping[str, str] | None = None,
                 exit_at_end: bool | None = None, batch_rows: int | None = None,
                 retention_hours: int | None = None, zones: str | os.PathLike[str] | None = None,
                 batch_interval_ms: int | None = None,
                 state_dir: str | os.PathLike[str] | None = None,
                 checkpoint_interval: float | None = None) -> None:
        self.inputs = [] if inputs is None else inputs
        self.listen = listen
        self.push = push
        self.speed = speed
        self.model: AnyModel = model if model is not None else Model.baseline("four_week_mean")
        self.http = http
        self.workers = workers
        self.allowed_lateness = allowed_lateness
        self.columns = columns
        if exit_at_end is None:
            exit_at_end = http is None and listen is None and not push
        self.exit_at_end = exit_at_end
        self.batch_rows = batch_rows
        self.retention_hours = retention_hours
        self.zones = zones
        self.batch_interval_ms = batch_interval_ms
        self.state_dir = state_dir
        self.checkpoint_interval = checkpoint_interval

    def start(self) -> LiveRun:
        """Starts the job and returns at once; the engine runs without the GIL."""
        native = _zonecast.start_live(
            native_inputs(self.inputs, self.columns), self.listen, self.push, self.speed,
            self.model._native, self.http, int(self.workers), self.allowed_lateness,
            column_overrides(self.columns), bool(self.exit_at_end), self.batch_rows,
            self.retention_hours, None if self.zones is None else os.fspath(self.zones),
            self.batch_interval_ms,
            None if self.state_dir is None else os.fspath(self.state_dir),
            self.checkpoint_interval)
        return LiveRun(native)

    def run(self, timeout: float = 60.0) -> dict[str, Any]:
        """Starts the job, prints where it serves, and blocks until it ends; Ctrl-C stops it
        cleanly."""
        run = self.start()
        try:
            run.wait_ready(timeout)
            if run.url:
                print(f"zonecast is serving forecasts: {run.url}/  (curl {run.url}/v1/predictions)", flush=True)
            return run.join()
        finally:
            run.stop()


class BatchResult:
    """A committed batch run: ``run_id`` and ``report`` (``forecasts``, ``forecasts_changed``,
    ``hourly``, ``written_early``: rows written while the dataflow still ran, ``rows_read``,
    ``accepted``, ``rejected``, ``rejected_by_reason``, ``late``, ``dataflow_s``, ``write_s``,
    ``abandoned_runs``, ``from_hour``)."""

    def __init__(self, raw: dict[str, Any], db: str) -> None:
        self.report: dict[str, Any] = dict(raw)
        self.run_id: int = int(raw["run_id"])
        self.db = db

    def forecasts(self) -> pd.DataFrame:
        """The forecasts this run wrote."""
        return read_forecasts(self.db, run_id=self.run_id)

    def __repr__(self) -> str:
        r = self.report
        return f"BatchResult(run_id={self.run_id}, {r['forecasts']} forecasts, {r['rows_read']} rows read)"


def batch(inputs: Any, model: AnyModel, db: str | os.PathLike[str], since_last_run: bool = False,
          workers: int = 2, allowed_lateness: str | None = None,
          columns: Mapping[str, str] | None = None, start: Any = None, end: Any = None) -> BatchResult:
    """Scores finite trip inputs with the streaming dataflow and writes forecasts, hourly
    aggregates and a run record into the SQLite database ``db`` (as ``zonecast batch``):
    atomically, idempotently; ``since_last_run`` skips hours this model already scored."""
    raw = _zonecast.batch(native_inputs(inputs, columns), model._native, os.fspath(db),
                          bool(since_last_run), int(workers), allowed_lateness,
                          column_overrides(columns), hour_of(start), hour_of(end))
    return BatchResult(raw, os.fspath(db))


def read_forecasts(db: str | os.PathLike[str], run_id: int | None = None) -> pd.DataFrame:
    """Forecasts in a prediction database (those last written by ``run_id``, or all)."""
    query = ("SELECT zone, target_hour, predicted_pickups, model_version, fallback, run_id, created_at "
             "FROM forecasts")
    params: tuple[Any, ...] = ()
    if run_id is not None:
        query += " WHERE run_id = ?"
        params = (int(run_id),)
    with sqlite3.connect(f"file:{os.fspath(db)}?mode=ro", uri=True) as conn:
        frame = pd.read_sql_query(query + " ORDER BY target_hour, zone", conn, params=params)
    frame["target_hour"] = pd.to_datetime(frame["target_hour"])
    frame["fallback"] = frame["fallback"].astype(bool)
    return frame


class ServeJob:
    """Serves a prediction database over the live job's HTTP API (as ``zonecast serve``)."""

    def __init__(self, db: str | os.PathLike[str], http: str = "127.0.0.1:0") -> None:
        self.db = os.fspath(db)
        self.http = http

    def start(self) -> LiveRun:
        """Starts serving and returns at once."""
        return LiveRun(_zonecast.start_serve(self.db, self.http))

    def run(self, timeout: float = 30.0) -> dict[str, Any]:
        """Serves until Ctrl-C."""
        run = self.start()
        try:
            run.wait_ready(timeout)
            print(f"zonecast is serving {self.db}: {run.url}/", flush=True)
            return run.join()
        finally:
            run.stop()


def serve(db: str | os.PathLike[str], http: str = "127.0.0.1:0") -> ServeJob:
    """A job serving ``db``; call ``.start()`` or ``.run()``."""
    return ServeJob(db, http)
