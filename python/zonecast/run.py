"""``python -m zonecast.run FILE.py:FLOW [-w N]``: imports a Python file, finds the
``Dataflow`` named ``FLOW`` (default ``flow``) and runs it on the engine."""

from __future__ import annotations

import argparse
import runpy
import sys

from .dataflow import Dataflow, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zonecast.run", description=__doc__)
    parser.add_argument("target", help="path/to/flow.py[:name] (name defaults to 'flow')")
    parser.add_argument("-w", "--workers", type=int, default=2, help="worker threads")
    args = parser.parse_args(argv)
    path, _, name = args.target.partition(":")
    scope = runpy.run_path(path, run_name="__zonecast_flow__")
    flow = scope.get(name or "flow")
    if not isinstance(flow, Dataflow):
        print(f"error: {path} defines no Dataflow named {name or 'flow'!r}", file=sys.stderr)
        return 2
    try:
        result = run(flow, workers=args.workers)
    except KeyboardInterrupt:
        return 130
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
