"""The ``zonecast`` console command: the Rust command line (same subcommands and flags as the
Rust binary), run inside the extension."""

from __future__ import annotations

import sys

from . import _zonecast


def main() -> None:
    """Runs ``zonecast`` with ``sys.argv`` and exits with its code."""
    sys.exit(_zonecast.cli_main(["zonecast", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
