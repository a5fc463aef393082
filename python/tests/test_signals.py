"""Ctrl-C: SIGINT to a Python process blocked in ``job.run()`` ends it within a second."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import sys, zonecast as zc
job = zc.LiveJob(listen="127.0.0.1:0", http="127.0.0.1:0", workers=2)
try:
    job.run()
except KeyboardInterrupt:
    print("interrupted cleanly", flush=True)
    sys.exit(0)
"""


def test_sigint_stops_a_blocked_run_within_a_second(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=tmp_path)
    assert child.stdout is not None
    line = child.stdout.readline()
    assert "serving forecasts" in line, line + child.stderr.read() if child.stderr else ""
    started = time.monotonic()
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=10)
    elapsed = time.monotonic() - started
    assert child.returncode == 0, err
    assert "interrupted cleanly" in out
    assert elapsed < 1.0, f"took {elapsed:.2f}s"
