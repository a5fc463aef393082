"""The package as users get it: stubs match the extension (stubtest), ruff is clean, one abi3
wheel builds and installs into a fresh venv where the README's quick start runs, and the
``zonecast`` console command is the Rust command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=1800, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_stubtest() -> None:
    run(sys.executable, "-m", "mypy.stubtest", "zonecast._zonecast", cwd=ROOT)


def test_ruff() -> None:
    run(sys.executable, "-m", "ruff", "check", "python", "dataflows", "benches/python_bench.py", cwd=ROOT)


def test_console_command_is_the_rust_cli() -> None:
    out = run(str(Path(sys.prefix) / "bin" / "zonecast"), "--help").stdout
    assert out.startswith("Real-time per-zone taxi demand"), out
    for sub in ["run", "batch", "serve", "aggregate", "generate", "replay", "train", "evaluate"]:
        assert re.search(rf"^\s+{sub}\b", out, re.M), out
    bad = subprocess.run([str(Path(sys.prefix) / "bin" / "zonecast"), "aggregate", "--input", "/nope.csv"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "error:" in bad.stderr


def quick_start() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- quickstart -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README has no quick start block marked <!-- quickstart -->"
    return match.group(1)


@pytest.mark.skipif(os.environ.get("ZONECAST_SKIP_WHEEL") == "1", reason="ZONECAST_SKIP_WHEEL=1")
def test_wheel_installs_into_a_fresh_venv_and_the_quick_start_runs(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(ROOT))
    built = list(wheels.glob("zonecast-*.whl"))
    assert len(built) == 1 and "abi3" in built[0].name, built
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", str(venv))
    python = str(venv / "bin" / "python")
    run(python, "-m", "pip", "install", "-q", str(built[0]))
    (tmp_path / "quick.py").write_text(quick_start())
    out = run(python, "quick.py", cwd=tmp_path)
    assert "zone" in out.stdout
