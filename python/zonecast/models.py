"""Models: native engine models (``Model``: train, load, save, predict, evaluate) and Python
models scored inside the stream (``PyModel``: any object with ``predict(X)``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import _zonecast
from ._inputs import NS_PER_HOUR, column_overrides, hour_of, native_inputs
from .features import Features
from .spec import FeatureSpec

EVALUATED = ["model", "previous_hour", "same_hour_last_week", "four_week_mean"]


def _hour(bucket: int) -> pd.Timestamp:
    return pd.Timestamp(bucket * NS_PER_HOUR, unit="ns")


class Model:
    """A native zonecast model (random forest, gradient-boosted trees, ridge or a baseline) and
    its file."""

    def __init__(self, native: _zonecast.Model) -> None:
        self._native = native

    @staticmethod
    def load(path: str | os.PathLike[str]) -> Model:
        """Reads a model file (from ``zonecast train`` or ``Model.save``)."""
        return Model(_zonecast.Model.load(os.fspath(path)))

    @staticmethod
    def baseline(name: str = "four_week_mean", spec: FeatureSpec | None = None) -> Model:
        """A baseline as a model: ``previous_hour``, ``same_hour_last_week``, ``four_week_mean``."""
        spec = spec or FeatureSpec()
        return Model(_zonecast.Model.baseline(name, list(spec.lags), spec.same_hour_weeks, spec.trends))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Writes the model file (atomically)."""
        self._native.save(os.fspath(path))

    @property
    def version(self) -> str:
        """Content hash of kind, features and parameters (16 hex digits)."""
        return self._native.version

    @property
    def kind(self) -> str:
        """``rf``, ``gbdt``, ``ridge`` or a baseline's name."""
        return self._native.kind

    @property
    def spec(self) -> FeatureSpec:
        """The features the model was trained on."""
        return FeatureSpec(self._native.lags, self._native.same_hour_weeks, self._native.trends)

    @property
    def trained_from(self) -> pd.Timestamp:
        """The first target hour trained on."""
        return _hour(self._native.trained_from)

    @property
    def trained_until(self) -> pd.Timestamp:
        """Target hours before this were used (training and validation)."""
        return _hour(self._native.trained_until)

    @property
    def validation(self) -> pd.DataFrame:
        """MAE and RMSE of the model and each baseline on the validation hours."""
        rows = self._native.validation
        return pd.DataFrame(rows, columns=["name", "rows", "mae", "rmse"]).set_index("name")

    def predict(self, features: Features) -> np.ndarray:
        """Forecasts (float64) of a feature table; rows without the history the model needs
        get the ``four_week_mean`` baseline, as in the stream."""
        pickups, _ = self._native.predict(features._native)
        return np.frombuffer(pickups, dtype="<f8").copy()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_from_bytes, (bytes(self._native.to_bytes()),))

    def __repr__(self) -> str:
        return f"Model(kind={self.kind!r}, version={self.version!r}, spec=({self.spec}))"


def _from_bytes(data: bytes) -> Model:
    return Model(_zonecast.Model.from_bytes(data))


def _predictor(model: Any) -> Callable[[Any], Any]:
    if hasattr(model, "predict"):
        return model.predict  # type: ignore[no-any-return]
    if callable(model):
        return model  # type: ignore[no-any-return]
    raise TypeError(f"{model!r} has no predict(X) and is not callable")


class PyModel:
    """Any Python model with ``predict(X) -> array-like (n,)`` (scikit-learn, LightGBM,
    XGBoost, a function), scored inside the engine's streaming model operator on the changed
    rows of each epoch, in batches of at most ``max_batch_rows``, with the GIL held only
    during ``predict``. ``X`` has the columns of ``zc.features(..., spec=spec).X``.

    ``on_error="raise"`` stops the job and re-raises the exception (same type) from
    ``wait_ready``/``join``/``run``; ``on_error="fallback"`` serves the ``four_week_mean``
    baseline for that batch and counts the error (``run.status()["model_errors"]``).
    """

    def __init__(self, model: Any, spec: FeatureSpec | None = None, name: str | None = None,
                 max_batch_rows: int = 8192, on_error: str = "raise") -> None:
        self.model = model
        self.spec = spec or FeatureSpec()
        self.name = name or type(model).__name__
        self.max_batch_rows = int(max_batch_rows)
        self.on_error = on_error
        predict = _predictor(model)

        def call(matrix: bytes, rows: int, cols: int) -> bytes:
            X = np.frombuffer(matrix, dtype="<f8").reshape(rows, cols)
            return np.asarray(predict(X), dtype="<f8").reshape(-1).tobytes()

        self._native = _zonecast.ExternalModel(call, list(self.spec.lags), self.spec.same_hour_weeks, self.spec.trends,
                                               self.name, self.max_batch_rows, on_error)

    @property
    def version(self) -> str:
        """The version stamped on this model's forecasts."""
        return self._native.version

    @property
    def kind(self) -> str:
        """Always ``external``."""
        return "external"

    @property
    def errors(self) -> int:
        """Batches that failed and were served by the baseline (``on_error="fallback"``)."""
        return self._native.errors

    def predict(self, features: Features) -> np.ndarray:
        """The wrapped model's forecasts of a feature table (as float64)."""
        return np.asarray(_predictor(self.model)(features.X), dtype="float64").reshape(-1)

    def __repr__(self) -> str:
        return (f"PyModel({self.name!r}, spec=({self.spec}), max_batch_rows={self.max_batch_rows}, "
                f"on_error={self.on_error!r})")


AnyModel = Model | PyModel


def train(inputs: Any, until: Any = None, model: str = "gbdt", spec: FeatureSpec | None = None,
          validation_hours: int | None = None, columns: Mapping[str, str] | None = None,
          workers: int = 2, zone_encoding: bool = False, trees: str | None = None,
          depth: int | None = None, rounds: int | None = None,
          learning_rate: float | None = None, max_leaves: int | None = None) -> Model:
    """Trains a native model (``gbdt``, the default; ``rf``, ``ridge`` or a baseline) on target hours before ``until``
    (default: the end of the data); the last week (or quarter of a shorter range) is held out
    and reported in ``Model.validation``. ``zone_encoding=True`` (``gbdt`` only) adds the zone's
    mean pickups over the training rows as a feature, as ``zonecast train --zone-encoding``.

    The boosting settings apply to ``gbdt`` only and default to the engine's, which need no
    tuning for taxi counts: ``trees`` ``"symmetric"`` (default) or ``"leaf-wise"``, ``depth``
    (symmetric trees, 1 to 8, default 6), ``rounds`` (at most; training stops early on the
    validation hours; default 2000), ``learning_rate`` (above 0, at most 1; default 0.1) and
    ``max_leaves`` (leaf-wise trees, default 63), as ``zonecast train``'s flags of those names."""
    spec = spec or FeatureSpec()
    native = _zonecast.train(native_inputs(inputs, columns), hour_of(until), model, list(spec.lags),
                             spec.same_hour_weeks, spec.trends, validation_hours,
                             column_overrides(columns), int(workers), bool(zone_encoding),
                             trees, depth, rounds, learning_rate, max_leaves)
    return Model(native)


def evaluate(inputs: Any, model: AnyModel, start: Any = None, end: Any = None,
             columns: Mapping[str, str] | None = None, workers: int = 2) -> dict[str, Any]:
    """MAE and RMSE of ``model`` and every baseline on target hours ``[start, end)``: the dict
    ``zonecast evaluate --json`` prints, ``{"rows": N, "mae": {...}, "rmse": {...}}``."""
    rows = _zonecast.evaluate(native_inputs(inputs, columns), model._native, hour_of(start),
                              hour_of(end), column_overrides(columns), int(workers))
    by_name = {name: (n, mae, rmse) for name, n, mae, rmse in rows}
    get = lambda name: by_name.get(name, (0, 0.0, 0.0))  # noqa: E731
    return {
        "rows": get("model")[0],
        "mae": {name: get(name)[1] for name in EVALUATED},
        "rmse": {name: get(name)[2] for name in EVALUATED},
    }
