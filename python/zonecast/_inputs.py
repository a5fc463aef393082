"""Inputs and times from Python values: paths, DataFrames, Arrow tables and hourly tables in;
what the extension takes out (path strings, ``TripBatch`` column buffers, hourly-table tuples,
hour buckets, ``FIELD=NAME`` column overrides).

Rows never cross one by one: a DataFrame becomes one buffer per column.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import _zonecast

NS_PER_HOUR = 3_600_000_000_000
NS_PER_SECOND = 1_000_000_000

# The engine's header aliases (src/schema/mod.rs), compared case-insensitively.
FIELDS: list[tuple[str, tuple[str, ...], bool]] = [
    ("pickup_datetime", ("tpep_pickup_datetime", "lpep_pickup_datetime", "pickup_datetime"), True),
    ("pickup_zone", ("pulocationid", "pickup_location_id", "pickup_zone"), True),
    ("trip_distance", ("trip_distance",), False),
    ("fare_amount", ("fare_amount",), False),
    ("total_amount", ("total_amount",), False),
]


@dataclass(frozen=True)
class HourlyTable:
    """An hourly pickup-count table (CSV or Parquet), usable wherever trips feed a history
    (``features``, ``train``, ``evaluate``). Counts of the same zone and hour in a later
    input replace earlier ones."""

    path: str | os.PathLike[str]
    zone_col: str = "zone"
    hour_col: str = "hour"
    count_col: str = "pickups"

    def _native(self) -> tuple[str, str, str, str, str]:
        return ("hourly", os.fspath(self.path), self.zone_col, self.hour_col, self.count_col)


def column_overrides(columns: Mapping[str, str] | None) -> list[str]:
    """``{"pickup_zone": "zone_id"}`` -> ``["pickup_zone=zone_id"]``."""
    return [f"{field}={name}" for field, name in (columns or {}).items()]


def _find(frame_columns: Sequence[str], field: str, aliases: tuple[str, ...],
          columns: Mapping[str, str]) -> str | None:
    wanted = [columns[field]] if field in columns else list(aliases)
    lower = {str(c).strip().lower(): c for c in frame_columns}
    for name in wanted:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def _column(values: pd.Series | None, field: str) -> tuple[str, bytes | None, bytes | None, list[str | None] | None]:
    if values is None:
        return ("missing", None, None, None)
    if field == "pickup_datetime" and pd.api.types.is_datetime64_any_dtype(values.dtype):
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_convert("America/New_York").dt.tz_localize(None)
        valid = values.notna().to_numpy()
        ns = values.astype("datetime64[ns]").to_numpy().astype("int64")
        seconds = np.where(valid, ns // NS_PER_SECOND, 0).astype("<i8")
        return ("timestamp", seconds.tobytes(), valid.astype("u1").tobytes(), None)
    if pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        valid = values.notna().to_numpy()
        ints = values.fillna(0).to_numpy().astype("<i8")
        if field == "pickup_zone":
            return ("int", ints.tobytes(), valid.astype("u1").tobytes(), None)
        return ("float", np.where(valid, ints, np.nan).astype("<f8").tobytes(), None, None)
    if pd.api.types.is_float_dtype(values.dtype):
        floats = values.to_numpy(dtype="float64", na_value=np.nan).astype("<f8")
        return ("float", floats.tobytes(), None, None)
    texts = [None if (v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA) else str(v)
             for v in values.tolist()]
    return ("text", None, None, texts)


def trip_batch(data: Any, columns: Mapping[str, str] | None = None) -> _zonecast.TripBatch:
    """A DataFrame, pyarrow Table or list of dicts of trips as one ``TripBatch``."""
    if not isinstance(data, pd.DataFrame):
        if hasattr(data, "to_pandas"):
            data = data.to_pandas()
        else:
            data = pd.DataFrame(list(data))
    columns = dict(columns or {})
    parts = []
    for field, aliases, required in FIELDS:
        name = _find(list(data.columns), field, aliases, columns)
        if name is None and required:
            tried = columns.get(field) or ", ".join(aliases)
            raise _zonecast.InputError(
                f"the DataFrame has no {field} column (tried {tried}; found {', '.join(map(str, data.columns))}); "
                f"name it with columns={{{field!r}: 'your_column'}}"
            )
        parts.append(_column(None if name is None else data[name], field))
    return _zonecast.TripBatch(len(data), parts)


def native_inputs(inputs: Any, columns: Mapping[str, str] | None = None) -> list[Any]:
    """The extension's input list from paths, DataFrames, Arrow tables and hourly tables."""
    if isinstance(inputs, (str, os.PathLike, HourlyTable, pd.DataFrame)) or hasattr(inputs, "to_pandas"):
        inputs = [inputs]
    out: list[Any] = []
    for item in inputs:
        if isinstance(item, HourlyTable):
            out.append(item._native())
        elif isinstance(item, (str, os.PathLike)):
            out.append(os.fspath(item))
        elif isinstance(item, _zonecast.TripBatch):
            out.append(item)
        else:
            out.append(trip_batch(item, columns))
    return out


def hour_of(when: Any) -> int | None:
    """An hour bucket (hours since 1970-01-01, New York local time) from a date text,
    ``datetime`` or ``pandas.Timestamp``; ``None`` stays ``None``."""
    if when is None:
        return None
    ts = pd.Timestamp(when)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("America/New_York").tz_localize(None)
    return int(ts.as_unit("ns").value // NS_PER_HOUR)


def hours_to_datetime(hours: np.ndarray) -> pd.Series:
    """Hour buckets -> ``datetime64[ns]`` values."""
    return pd.Series(pd.to_datetime(hours.astype("int64") * NS_PER_HOUR, unit="ns"))


def seconds_to_datetime(seconds: np.ndarray) -> Any:
    """Naive seconds -> ``datetime64[ns]`` values."""
    return pd.to_datetime(seconds.astype("int64") * NS_PER_SECOND, unit="ns")


def as_list(values: Iterable[Any] | Any) -> list[Any]:
    """Wraps a single value in a list."""
    if isinstance(values, (list, tuple)):
        return list(values)
    return [values]
