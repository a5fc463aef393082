"""zonecast: real-time per-zone taxi demand forecasts on a Rust streaming engine, driven from
Python.

    import zonecast as zc
    zc.generate("trips.parquet", trips=200_000, days=35, seed=1)
    res = zc.aggregate(["trips.parquet"], workers=2)          # res.table: a DataFrame
    f = zc.features(["trips.parquet"], end="2024-01-29")      # f.X, f.y: numpy
    m = zc.train(["trips.parquet"], until="2024-01-29")        # a native model
    with zc.LiveJob(inputs=["trips.parquet"], model=m, speed=3600).start() as run:
        run.wait_ready(); print(run.url); print(run.predictions())

Every row stays in the engine; Python sees tables (one DataFrame or numpy batch per call or
per epoch), and a ``PyModel`` scores inside the stream.
"""

from __future__ import annotations

from ._inputs import HourlyTable
from ._zonecast import InputError, JobError, ModelError, ZonecastError, __version__
from .dataflow import Dataflow, run
from .features import Features, features
from .jobs import BatchResult, LiveJob, LiveRun, ServeJob, batch, read_forecasts, serve
from .models import Model, PyModel, evaluate, train
from .spec import FeatureSpec
from .tables import AggregateResult, aggregate, generate

__all__ = [
    "AggregateResult", "BatchResult", "Dataflow", "FeatureSpec", "Features", "HourlyTable",
    "InputError", "JobError", "LiveJob", "LiveRun", "Model", "ModelError", "PyModel", "ServeJob",
    "ZonecastError", "__version__", "aggregate", "batch", "evaluate", "features", "generate",
    "read_forecasts", "run", "serve", "train",
]
