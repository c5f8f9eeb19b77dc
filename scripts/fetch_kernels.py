#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Resolve (fetch and extract if needed) kernel specs into the pyvma cache.

Usage: scripts/fetch_kernels.py [SPEC ...]   (default: debian:7.x debian:6.12)

Prints one line per tree: name, kernel version, Debian version, root.
Stand-in for `python3 -m pyvma fetch` until the CLI exists.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyvma import source  # noqa: E402
from pyvma.errors import PyvmaError  # noqa: E402

DEFAULT_SPECS = ("debian:7.x", "debian:6.12")


def main(argv: list[str]) -> int:
    """Resolve each spec in ``argv``; return a process exit code."""
    logging.basicConfig(level=logging.INFO, format="pyvma: %(message)s")
    status = 0
    for spec in argv or DEFAULT_SPECS:
        start = time.monotonic()
        try:
            tree = source.resolve(spec)
        except PyvmaError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 1
            continue
        deb = tree.origin.get("debian_version") or "-"
        print(
            f"{spec}: {tree.name} (Linux {tree.version_str}, Debian {deb}) "
            f"{tree.root} [{time.monotonic() - start:.1f} s]"
        )
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
