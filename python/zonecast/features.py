"""Feature tables: trips or hourly tables in; the feature rows the stream builds (same engine
code) out, as numpy arrays (``X`` float64 C-contiguous, ``y``, ``zone``, ``target_hour``) or a
DataFrame."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import _zonecast
from ._inputs import NS_PER_HOUR, column_overrides, hour_of, native_inputs
from .spec import FeatureSpec


class Features:
    """Feature rows: ``X`` (n, p), ``y`` (n,), ``names``, ``zone``, ``target_hour``."""

    def __init__(self, native: _zonecast.Features) -> None:
        self._native = native
        n = len(native)
        self.names: list[str] = list(native.names)
        self.spec = FeatureSpec(native.lags, native.same_hour_weeks, native.trends)
        self.X: np.ndarray = np.frombuffer(native.x(), dtype="<f8").reshape(n, len(self.names)).copy()
        self.y: np.ndarray = np.frombuffer(native.y(), dtype="<f8").copy()
        self.zone: np.ndarray = np.frombuffer(native.zone(), dtype="<i8").astype("int64")
        hours = np.frombuffer(native.target_hour(), dtype="<i8")
        self.target_hour: np.ndarray = (hours.astype("int64") * NS_PER_HOUR).astype("datetime64[ns]")

    def __len__(self) -> int:
        return len(self.y)

    def to_pandas(self) -> pd.DataFrame:
        """One row per (zone, target hour): the features, then ``zone``, ``target_hour``, ``target``."""
        frame = pd.DataFrame(self.X, columns=self.names)
        frame["zone"] = self.zone
        frame["target_hour"] = self.target_hour
        frame["target"] = self.y
        return frame

    def __repr__(self) -> str:
        return f"Features({len(self)} rows x {len(self.names)} features)"


def features(inputs: Any, spec: FeatureSpec | None = None, start: Any = None, end: Any = None,
             columns: Mapping[str, str] | None = None, workers: int = 2) -> Features:
    """Feature rows for every zone and target hour in ``[start, end)`` (default: all) whose
    history is complete, built by the engine's ``PickupHistory::row`` (as the stream builds
    them). ``inputs``: trip paths, DataFrames, Arrow tables or ``HourlyTable``s."""
    spec = spec or FeatureSpec()
    native = _zonecast.features(native_inputs(inputs, columns), list(spec.lags), spec.same_hour_weeks, spec.trends,
                                hour_of(start), hour_of(end), column_overrides(columns), int(workers))
    return Features(native)
