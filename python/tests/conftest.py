"""Shared fixtures: seeded generated trips, the real TLC files (``../shared/data`` or
``ZONECAST_DATA``; missing files fail in CI and skip with a reason elsewhere), the Rust
command line, and a trained model."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import zonecast as zc

ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    return Path(os.environ.get("ZONECAST_DATA", ROOT.parent / "shared" / "data"))


def real_file(name: str) -> Path:
    path = data_dir() / name
    if not path.exists():
        message = f"real data file {path} is missing (set ZONECAST_DATA to the folder of the TLC files)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def green() -> Path:
    return real_file("green_tripdata_2024-01.parquet")


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zonecast")


@pytest.fixture(scope="session")
def trips(workdir: Path) -> Path:
    """35 days of generated trips (enough history for the default 4-week features)."""
    path = workdir / "trips.parquet"
    zc.generate(path, trips=120_000, days=35, seed=7)
    return path


@pytest.fixture(scope="session")
def small_spec() -> zc.FeatureSpec:
    return zc.FeatureSpec(lags=[1, 2, 3, 24, 168], same_hour_weeks=4)


@pytest.fixture(scope="session")
def ridge(trips: Path, small_spec: zc.FeatureSpec) -> zc.Model:
    return zc.train([trips], until="2024-02-03", model="ridge", spec=small_spec)


def zonecast_command() -> list[str]:
    """The Rust binary from ``cargo build --release`` if present, else the package's console
    command (the same program)."""
    binary = ROOT / "target" / "release" / "zonecast"
    if binary.exists():
        return [str(binary)]
    script = Path(sys.prefix) / "bin" / "zonecast"
    if script.exists():
        return [str(script)]
    found = shutil.which("zonecast")
    assert found, "no zonecast command: run `cargo build --release` or install the package"
    return [found]


def run_cli(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*zonecast_command(), *map(str, args)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result
