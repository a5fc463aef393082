"""Trips to tables: ``generate`` writes seeded synthetic trips; ``aggregate`` runs the engine's
aggregate dataflow over paths, DataFrames or Arrow tables and returns the hourly table, the
rejects and the run report as pandas objects."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import _zonecast
from ._inputs import column_overrides, native_inputs, seconds_to_datetime

TABLE_COLUMNS = ["zone", "hour", "pickups", "mean_distance", "mean_fare", "mean_total"]


def generate(path: str | os.PathLike[str], trips: int = 100_000, days: int = 7, seed: int = 42,
             start: str = "2024-01-01") -> int:
    """Writes ``trips`` seeded, realistic synthetic TLC yellow-taxi trips over ``days`` days
    from ``start`` to ``path`` (``.csv`` or ``.parquet``); returns the number written. The same
    seed always writes the same file (as ``zonecast generate``)."""
    return int(_zonecast.generate(os.fspath(path), int(trips), int(days), int(seed), str(start)))


class AggregateResult:
    """What ``aggregate`` produced: ``table``, ``rejects``, ``report``."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.report: dict[str, Any] = dict(raw["report"])
        self.table: pd.DataFrame = pd.DataFrame({
            "zone": np.frombuffer(raw["zone"], dtype="<i8").astype("int64"),
            "hour": seconds_to_datetime(np.frombuffer(raw["hour"], dtype="<i8")),
            "pickups": np.frombuffer(raw["pickups"], dtype="<i8").astype("int64"),
            "mean_distance": np.frombuffer(raw["mean_distance"], dtype="<f8").copy(),
            "mean_fare": np.frombuffer(raw["mean_fare"], dtype="<f8").copy(),
            "mean_total": np.frombuffer(raw["mean_total"], dtype="<f8").copy(),
        })
        self.rejects: pd.DataFrame = pd.DataFrame(
            raw["rejects"], columns=["source", "line", "kind", "reason"]
        ).astype({"line": "int64"})

    def to_arrow(self) -> Any:
        """The hourly table as a ``pyarrow.Table``."""
        import pyarrow as pa

        return pa.Table.from_pandas(self.table, preserve_index=False)

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Writes the table exactly as ``zonecast aggregate --out`` does (byte for byte)."""
        self.table.to_csv(path, index=False, float_format="%.15g",
                          date_format="%Y-%m-%d %H:%M:%S", lineterminator="\n")

    def __repr__(self) -> str:
        r = self.report
        return (f"AggregateResult({len(self.table)} hourly rows; {r['rows_read']} rows read, "
                f"{r['accepted']} accepted, {r['rejected']} rejected, {r['late']} late)")


def aggregate(inputs: Any, workers: int = 2, allowed_lateness: str | None = None,
              columns: Mapping[str, str] | None = None, batch_rows: int | None = None) -> AggregateResult:
    """Aggregates trips (paths, DataFrames, Arrow tables; replayed in order) into per-zone
    hourly statistics with the engine's dataflow: ``allowed_lateness`` (``"1d"``, ``"90m"``)
    sets aside older trips as late; bad rows are rejected with their position and reason.
    ``columns`` maps trip fields to other column names: ``{"pickup_zone": "zone_id"}``."""
    raw = _zonecast.aggregate(native_inputs(inputs, columns), int(workers), allowed_lateness,
                              column_overrides(columns), batch_rows)
    return AggregateResult(raw)
