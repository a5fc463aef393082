#!/usr/bin/env bash
# Every test of the project, Rust and Python (the README's test command; `.ci/run` calls it):
#   1. a local venv (.venv) with the package built from this tree (maturin develop, release)
#      and the test tools, installed from PyPI;
#   2. cargo test --release (engine unit, integration and doc tests);
#   3. pytest python/tests (the package against real processes, HTTP and SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q "maturin>=1.16,<2"
echo "== build the extension into .venv (maturin develop --release)"
.venv/bin/maturin develop --release -q -E test
echo "== cargo test --release"
cargo test --release
echo "== pytest python/tests"
.venv/bin/python -m pytest python/tests "$@"
