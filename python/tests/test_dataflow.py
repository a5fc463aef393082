"""Dataflow flows on the engine's operators; ``python -m zonecast.run``; the testing helpers
(late data is corrected exactly like a from-scratch aggregate)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import zonecast as zc
from zonecast.testing import RecordingModel, TripScript, run_forecast


def test_flow_subscribe_and_sqlite(trips: Path, ridge: zc.Model, workdir: Path, small_spec: zc.FeatureSpec) -> None:
    flow = zc.Dataflow("demand")
    hourly = flow.files([trips]).hourly(allowed_lateness="1d")
    seen_hourly: list[pd.DataFrame] = []
    hourly.subscribe(lambda epoch, changes: seen_hourly.append(changes))
    fc = hourly.features(small_spec).score(ridge)
    changes: list[tuple[int, pd.DataFrame]] = []
    fc.subscribe(lambda epoch, df: changes.append((epoch, df)))
    fc.to_sqlite(workdir / "flow.sqlite")
    result = zc.run(flow, workers=2)
    assert result[str(workdir / "flow.sqlite")]["forecasts"] > 1000
    assert changes and {"zone", "target_hour", "predicted_pickups", "diff"} <= set(changes[-1][1].columns)
    epochs = [e for e, _ in changes]
    assert epochs == sorted(epochs)
    # Applying every hourly change yields the table zc.aggregate computes from scratch.
    table: dict[tuple[int, pd.Timestamp], int] = {}
    for df in seen_hourly:
        for row in df.itertuples():
            key = (row.zone, row.hour)
            if row.diff > 0:
                table[key] = row.pickups
            elif table.get(key) == row.pickups:
                del table[key]
    scratch = zc.aggregate([trips], workers=1, allowed_lateness="1d").table
    recent = scratch[scratch["hour"] >= max(h for _, h in table)-pd.Timedelta(hours=40)]
    for row in recent.itertuples():
        assert table[(row.zone, row.hour)] == row.pickups


def test_python_m_zonecast_run(trips: Path, workdir: Path) -> None:
    script = workdir / "my_flow.py"
    script.write_text(
        "import zonecast as zc\n"
        f"flow = zc.Dataflow('file')\n"
        f"fc = flow.files([{str(trips)!r}]).hourly().features().score(zc.Model.baseline())\n"
        f"fc.to_sqlite({str(workdir / 'm.sqlite')!r})\n"
    )
    result = subprocess.run([sys.executable, "-m", "zonecast.run", f"{script}:flow", "-w", "2"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert len(zc.read_forecasts(workdir / "m.sqlite")) > 1000


def test_run_forecast_corrects_late_trips_like_a_recomputation() -> None:
    script = TripScript()
    for minute in range(0, 60, 5):
        script.add(f"2024-01-01 08:{minute:02d}:00", 1, 1.0, 10.0, 12.0)
        script.add(f"2024-01-01 08:{minute:02d}:30", 2, 2.0, 20.0, 25.0)
    script.epoch()
    for minute in range(0, 60, 5):
        script.add(f"2024-01-01 09:{minute:02d}:00", 1, 1.0, 10.0, 12.0)
    script.epoch()
    script.add("2024-01-01 08:59:00", 2, 1.0, 10.0, 12.0)  # late, within the allowed lateness
    script.add("yesterday", 2)  # rejected
    recorder = RecordingModel()
    log, final = run_forecast(script, model=zc.PyModel(recorder), workers=2)
    assert final["status"]["rejected"] == 1 and final["status"]["accepted"] == 37
    everything = pd.concat(script.frames())
    scratch = zc.aggregate(everything, workers=1).table
    hourly = final["hourly"].sort_values(["hour", "zone"]).reset_index(drop=True)
    assert list(hourly["pickups"]) == list(scratch["pickups"])
    assert any(u["kind"] == "epoch" and any(h["diff"] < 0 for h in u["hourly"]) for u in log)
    assert recorder.rows == 0 or all(b.shape[1] == len(zc.FeatureSpec().names) for b in recorder.batches)


def test_memory_flow_served_over_http_until_ctrl_c(trips: Path, workdir: Path) -> None:
    import json
    import signal
    import urllib.request

    script = workdir / "served_flow.py"
    script.write_text(
        "import pandas as pd\nimport zonecast as zc\n"
        "flow = zc.Dataflow('served')\n"
        f"frame = pd.read_parquet({str(trips)!r}).iloc[:50_000]\n"
        "flow.memory(frame).hourly().features().score(zc.Model.baseline()).serve('127.0.0.1:0')\n"
    )
    child = subprocess.Popen([sys.executable, "-m", "zonecast.run", f"{script}:flow"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    assert "served: serving http://127.0.0.1:" in line, line
    url = line.split("serving ")[1].strip().rstrip("/")
    for _ in range(100):
        with urllib.request.urlopen(f"{url}/v1/status", timeout=5) as response:
            if json.loads(response.read()).get("input_finished"):
                break
        __import__("time").sleep(0.1)
    with urllib.request.urlopen(f"{url}/v1/predictions", timeout=5) as response:
        body = json.loads(response.read())
    assert len(body["predictions"] if isinstance(body, dict) else body) > 100
    child.send_signal(signal.SIGINT)
    child.communicate(timeout=10)
    assert child.returncode == 130
