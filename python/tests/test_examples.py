"""The flagship programs in ``dataflows/`` run as users run them (small generated data)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import zonecast as zc
from conftest import ROOT


def test_batch_scoring_program(tmp_path: Path) -> None:
    trips = tmp_path / "t.parquet"
    zc.generate(trips, trips=60_000, days=35, seed=5)
    result = subprocess.run([sys.executable, str(ROOT / "dataflows" / "batch_scoring.py"), "--trips", str(trips),
                             "--db", str(tmp_path / "p.sqlite"), "--model", "ridge"],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "run 1:" in result.stdout and "mean forecast by hour of day" in result.stdout


def test_taxi_demand_live_program(tmp_path: Path) -> None:
    trips = tmp_path / "t.parquet"
    zc.generate(trips, trips=60_000, days=35, seed=6)
    result = subprocess.run([sys.executable, str(ROOT / "dataflows" / "taxi_demand_live.py"), "--trips", str(trips),
                             "--seconds", "3"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "serving forecasts: http://127.0.0.1:" in result.stdout
    assert "read 60000 trips" in result.stdout and "model errors 0" in result.stdout
