"""batch into SQLite (the same rows as ``zonecast batch``), read_forecasts, serve over HTTP."""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from pathlib import Path

import zonecast as zc
from conftest import run_cli


def test_batch_writes_what_the_cli_writes(trips: Path, ridge: zc.Model, workdir: Path) -> None:
    ours, cli = workdir / "ours.sqlite", workdir / "cli.sqlite"
    out = zc.batch([trips], model=ridge, db=ours, workers=2)
    assert out.run_id == 1 and out.report["forecasts"] > 1000
    assert out.report["abandoned_runs"] == []
    total = out.report["forecasts"] + out.report["hourly"]
    assert 0 <= out.report["written_early"] <= total  # rows written while the dataflow ran
    ridge.save(workdir / "batch.bin")
    run_cli("batch", "--input", trips, "--model", workdir / "batch.bin", "--db", cli)
    query = "SELECT zone, target_hour, predicted_pickups, model_version, fallback FROM forecasts ORDER BY 1, 2"
    with sqlite3.connect(ours) as a, sqlite3.connect(cli) as b:
        assert a.execute(query).fetchall() == b.execute(query).fetchall()
    frame = zc.read_forecasts(ours, run_id=out.run_id)
    assert len(frame) == out.report["forecasts"] and frame["model_version"].eq(ridge.version).all()
    again = zc.batch([trips], model=ridge, db=ours, since_last_run=True)
    assert again.run_id == 2 and again.report["forecasts_changed"] == 0


def test_serve_the_database(trips: Path, ridge: zc.Model, workdir: Path) -> None:
    db = workdir / "serve.sqlite"
    zc.batch([trips], model=ridge, db=db)
    with zc.serve(db, http="127.0.0.1:0").start() as srv:
        srv.wait_ready(30)
        with urllib.request.urlopen(f"{srv.url}/v1/predictions", timeout=10) as response:
            body = json.loads(response.read())
        served = body["predictions"] if isinstance(body, dict) else body
        assert len(served) > 100
        assert len(srv.predictions()) == len(served)


def test_batch_and_evaluate_on_the_real_green_month(green: Path, workdir: Path) -> None:
    spec = zc.FeatureSpec(lags=[1, 2, 3, 24], same_hour_weeks=1)
    model = zc.train([green], until="2024-01-24", model="ridge", spec=spec)
    report = zc.evaluate([green], model, start="2024-01-24", end="2024-02-01")
    assert report["rows"] > 1000 and report["mae"]["model"] < report["mae"]["previous_hour"]
    out = zc.batch([green], model=model, db=workdir / "green.sqlite")
    assert out.report["rows_read"] == 56_551 and out.report["late"] > 0
    assert len(zc.read_forecasts(workdir / "green.sqlite", run_id=out.run_id)) == out.report["forecasts"]
