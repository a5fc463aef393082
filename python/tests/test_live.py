"""LiveJob: handles over real HTTP, events, pushed rows, model swaps, and Python models scored
inside the stream (no skew against ``model.predict(zc.features(...).X)``)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import zonecast as zc
from sklearn.linear_model import Ridge
from zonecast.testing import RecordingModel


def get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def served_forecasts(run: zc.LiveRun) -> pd.DataFrame:
    """Every forecast the job published, latest per (zone, target hour)."""
    latest: dict[tuple[int, str], dict] = {}
    for update in run.updates(timeout=0.5):
        for f in update.get("forecasts", []):
            if f["diff"] > 0:
                latest[(f["zone"], f["target_hour"])] = f
    frame = pd.DataFrame(latest.values())
    frame["target_hour"] = pd.to_datetime(frame["target_hour"])
    return frame


def test_live_job_serves_over_http_and_through_the_handle(trips: Path, ridge: zc.Model) -> None:
    job = zc.LiveJob(inputs=[trips], model=ridge, http="127.0.0.1:0", workers=2, allowed_lateness="1d")
    with job.start() as run:
        run.wait_ready(timeout=30)
        assert run.url and run.url.startswith("http://127.0.0.1:")
        events = run.events(timeout=5)
        first = next(events)
        assert first["event"] == "resync"
        while not run.status().get("input_finished"):
            list(run.updates(timeout=0.2))
        predictions = run.predictions()
        assert len(predictions) > 200 and predictions["model_version"].eq(ridge.version).all()
        over_http = get(f"{run.url}/v1/predictions")
        served = over_http["predictions"] if isinstance(over_http, dict) else over_http
        assert sorted(p["zone"] for p in served) == sorted(predictions["zone"])
        status = run.status()
        assert status["rows_read"] == status["accepted"] + status["rejected"] + status["late"] == 120_000
        history = run.history(int(predictions["zone"].iloc[0]), hours=48)
        assert len(history) == 48 and history["actual_pickups"].notna().any()
        assert run.evaluation()["forecasts_evaluated"] > 0
        assert all(e["event"] == "forecast" for e in run.events(timeout=0.5))
    assert run.is_finished()
    assert len(run.predictions()) == len(predictions)  # the final state stays readable


@pytest.mark.parametrize("kind", ["sklearn", "lightgbm"])
def test_python_model_in_the_stream_has_no_skew(trips: Path, small_spec: zc.FeatureSpec, kind: str) -> None:
    f = zc.features([trips], spec=small_spec, end="2024-02-03")
    if kind == "sklearn":
        model = Ridge(alpha=1.0).fit(f.X, f.y)
    else:
        model = lgb.LGBMRegressor(n_estimators=40, num_leaves=15, verbose=-1, n_jobs=1).fit(f.X, f.y)
    pm = zc.PyModel(model, spec=small_spec, name=f"{kind}-v1", max_batch_rows=500)
    job = zc.LiveJob(inputs=[trips], model=pm, http=None, workers=2)
    with job.start() as run:
        run.wait_ready(30)
        served = served_forecasts(run)
        run.join()
    assert run.status()["model_errors"] == 0
    served = served[~served["fallback"]]
    assert served["model_version"].eq(pm.version).all()
    everything = zc.features([trips], spec=small_spec)
    frame = everything.to_pandas()
    frame["expected"] = np.round(np.maximum(model.predict(everything.X), 0.0) * 1000) / 1000
    merged = served.merge(frame, left_on=["zone", "target_hour"], right_on=["zone", "target_hour"])
    assert len(merged) > 1000
    np.testing.assert_allclose(merged["predicted_pickups"], merged["expected"], rtol=0, atol=1.1e-3)
    assert (merged["predicted_pickups"] == merged["expected"]).mean() > 0.999


class Boom(RuntimeError):
    pass


def test_a_raising_model_reraises_the_same_exception(trips: Path, small_spec: zc.FeatureSpec) -> None:
    def predict(X: np.ndarray) -> np.ndarray:
        raise Boom("the model exploded")

    job = zc.LiveJob(inputs=[trips], model=zc.PyModel(predict, spec=small_spec), http=None)
    run = job.start()
    with pytest.raises(Boom, match="the model exploded"):
        run.join()
    with pytest.raises(Boom):
        run.join()


def test_a_wrong_length_result_is_a_clear_error(trips: Path, small_spec: zc.FeatureSpec) -> None:
    bad = zc.PyModel(lambda X: np.zeros(len(X) + 1), spec=small_spec, name="off-by-one")
    with pytest.raises(zc.JobError, match="predict returned .* values for .* rows; return one number per row"):
        zc.LiveJob(inputs=[trips], model=bad, http=None).start().join()


def test_fallback_serves_the_baseline_and_counts(trips: Path, small_spec: zc.FeatureSpec) -> None:
    def flaky(X: np.ndarray) -> np.ndarray:
        raise ValueError("no")

    pm = zc.PyModel(flaky, spec=small_spec, on_error="fallback", max_batch_rows=10_000)
    with zc.LiveJob(inputs=[trips], model=pm, http="127.0.0.1:0").start() as run:
        run.wait_ready(30)
        while not run.status().get("input_finished"):
            list(run.updates(timeout=0.2))
        assert run.status()["model_errors"] > 0 and pm.errors > 0
        assert len(run.predictions()) > 200
        assert get(f"{run.url}/v1/status")["model_errors"] == pm.errors
        with urllib.request.urlopen(f"{run.url}/metrics", timeout=10) as response:
            metrics = response.read().decode()
        assert f"zonecast_model_errors_total {pm.errors}" in metrics


def test_recording_model_sees_batches_not_rows(trips: Path) -> None:
    recorder = RecordingModel()
    pm = zc.PyModel(recorder, max_batch_rows=4096)
    zc.LiveJob(inputs=[trips], model=pm, http=None, workers=2).start().join()
    assert recorder.rows > 1000
    assert len(recorder.batches) < recorder.rows / 10
    assert max(len(b) for b in recorder.batches) <= 4096


def test_push_and_swap(trips: Path, ridge: zc.Model, small_spec: zc.FeatureSpec) -> None:
    frame = pd.read_parquet(trips)
    job = zc.LiveJob(push=True, model=ridge, http="127.0.0.1:0", workers=2)
    with job.start() as run:
        run.wait_ready(30)
        first = run.push(frame.iloc[:60_000])
        assert first == 1
        assert run.push(frame.iloc[60_000:].to_dict("records")) == 60_001
        bad = pd.DataFrame({"pickup_datetime": ["garbage"], "PULocationID": [1]})
        assert run.push(bad) == 120_001
        while run.status().get("rows_read", 0) < 120_001:
            list(run.updates(timeout=0.1))
        assert run.status()["rejected"] == 1
        baseline = zc.Model.baseline("previous_hour", small_spec)
        run.swap_model(baseline)
        run.push(frame.iloc[-10:])
        deadline_versions = set()
        for _ in range(100):
            deadline_versions = set(run.predictions()["model_version"])
            if deadline_versions == {baseline.version}:
                break
            list(run.updates(timeout=0.1))
        assert deadline_versions == {baseline.version}
        with pytest.raises(zc.ModelError, match="trained on"):
            run.swap_model(zc.Model.baseline("previous_hour", zc.FeatureSpec(lags=[1])))
        run.close_input()


def test_batch_interval_holds_pushed_rows_until_the_epoch_closes(trips: Path) -> None:
    import time

    frame = pd.read_parquet(trips).iloc[:5]
    job = zc.LiveJob(push=True, http=None, workers=1, batch_interval_ms=3_000)
    assert job.batch_interval_ms == 3_000
    with job.start() as run:
        run.wait_ready(30)
        pushed = time.monotonic()
        run.push(frame)
        list(run.updates(timeout=0.3))
        if time.monotonic() - pushed < 2.5:  # well inside the 3 s interval
            assert run.status().get("accepted", 0) == 0, "an epoch closed before its interval"
        deadline = time.monotonic() + 30
        while run.status().get("accepted", 0) < 5:
            assert time.monotonic() < deadline, run.status()
            list(run.updates(timeout=0.1))
        assert time.monotonic() - pushed >= 2.9
        run.close_input()


def test_a_restarted_job_keeps_pushed_rows_from_its_state_dir(trips: Path, workdir: Path) -> None:
    frame = pd.read_parquet(trips)
    state = workdir / "state"

    def job() -> zc.LiveJob:
        return zc.LiveJob(push=True, http="127.0.0.1:0", workers=2, state_dir=state, checkpoint_interval=0.2)

    def wait_for(run: zc.LiveRun, rows: int) -> dict:
        for _ in range(600):
            status = run.status()
            if status.get("rows_read", 0) >= rows:
                return status
            list(run.updates(timeout=0.05))
        raise AssertionError(run.status())

    def settled(run: zc.LiveRun, rows: int) -> dict:
        # The watermark of the last rows reaches the forecasts one epoch later (a heartbeat):
        # wait two epochs past the rows, so that nothing changes any more.
        epoch = wait_for(run, rows)["epoch"]
        for _ in range(600):
            status = run.status()
            if status["epoch"] >= epoch + 2:
                return status
            list(run.updates(timeout=0.05))
        raise AssertionError(run.status())

    with job().start() as run:
        run.wait_ready(30)
        run.push(frame.iloc[:60_000])
        first = settled(run, 60_000)
        predictions = run.predictions()
    # Started again on the same folder: the pushed rows are back without pushing them again.
    with job().start() as run:
        run.wait_ready(30)
        again = settled(run, 60_000)
        counted = ("rows_read", "accepted", "late")
        assert {k: again[k] for k in counted} == {k: first[k] for k in counted}
        restored = run.predictions().drop(columns=["updated_at"], errors="ignore")
        assert restored.equals(predictions.drop(columns=["updated_at"], errors="ignore"))
        run.push(frame.iloc[60_000:])
        assert wait_for(run, 120_000)["rows_read"] == 120_000
        over_http = get(f"{run.url}/v1/status")
        assert isinstance(over_http, dict) and over_http["checkpoint"]["state_dir"] == str(state)
        run.close_input()


def test_socket_input(trips: Path, ridge: zc.Model, workdir: Path) -> None:
    import socket

    csv = workdir / "sock.csv"
    pd.read_parquet(trips).iloc[:5_000].to_csv(csv, index=False)
    with zc.LiveJob(listen="127.0.0.1:0", model=ridge, http=None).start() as run:
        run.wait_ready(30)
        host, port = run.socket_address.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(csv.read_bytes())
        for _ in range(200):
            if run.status().get("rows_read", 0) >= 5_000:
                break
            list(run.updates(timeout=0.05))
        assert run.status()["rows_read"] == 5_000


def test_live_job_on_the_real_green_month(green: Path) -> None:
    spec = zc.FeatureSpec(lags=[1, 2, 3, 24], same_hour_weeks=1)
    f = zc.features([green], spec=spec, end="2024-01-20")
    booster = lgb.train({"objective": "regression", "num_leaves": 15, "verbose": -1, "num_threads": 1},
                        lgb.Dataset(f.X, f.y), num_boost_round=30)
    pm = zc.PyModel(booster, spec=spec, name="lgbm-green")
    with zc.LiveJob(inputs=[green], model=pm, http="127.0.0.1:0", workers=2).start() as run:
        run.wait_ready(30)
        while not run.status().get("input_finished"):
            list(run.updates(timeout=0.2))
        status = run.status()
        assert status["rows_read"] == 56_551 and status["late"] > 0
        assert (run.predictions()["model_version"] == pm.version).any()


def test_a_dropped_run_stops_its_job(ridge: zc.Model) -> None:
    import gc
    import socket

    run = zc.LiveJob(listen="127.0.0.1:0", model=ridge, http="127.0.0.1:0").start()
    run.wait_ready(30)
    host, port = run.http_address.rsplit(":", 1)
    socket.create_connection((host, int(port)), timeout=5).close()
    del run
    gc.collect()
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()


def test_swap_in_a_python_model(trips: Path, ridge: zc.Model, small_spec: zc.FeatureSpec) -> None:
    frame = pd.read_parquet(trips)
    recorder = RecordingModel()
    pm = zc.PyModel(recorder, spec=small_spec, name="recorder")
    with zc.LiveJob(push=True, model=ridge, http=None).start() as run:
        run.wait_ready(30)
        run.push(frame)
        while run.status().get("rows_read", 0) < len(frame):
            list(run.updates(timeout=0.1))
        run.swap_model(pm)
        run.push(frame.iloc[-5:])
        for _ in range(100):
            if set(run.predictions()["model_version"]) == {pm.version}:
                break
            list(run.updates(timeout=0.1))
        assert set(run.predictions()["model_version"]) == {pm.version}
        assert recorder.rows > 0
        run.close_input()
