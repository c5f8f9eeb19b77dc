# SPDX-License-Identifier: GPL-2.0-or-later
"""The running kernel's version and the closest linux-source Debian serves."""
from __future__ import annotations

import re

from . import live


def running() -> tuple[int, int, int]:
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", live.kernel_release())
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else (0, 0, 0)


def _index(major: int, minor: int) -> int:
    return major * 20 + minor          # majors roll over after .19 or .20


def closest(served: list[tuple[int, int]], run: tuple[int, int, int]) -> tuple[str, str]:
    """(spec, how close) of the served series nearest the running one."""
    if not served:
        from ..errors import PyvmaError
        raise PyvmaError("no linux-source package in the Debian lists: run `pyvma fetch "
                         "debian:7.x` once to set them up")
    best = min(served, key=lambda s: (abs(_index(*s) - _index(run[0], run[1])), -_index(*s)))
    same = best == run[:2]
    how = ("the same series" if same else
           f"{abs(_index(*best) - _index(run[0], run[1]))} series "
           f"{'newer' if _index(*best) > _index(run[0], run[1]) else 'older'} than the running "
           f"{run[0]}.{run[1]}")
    return f"debian:linux-source-{best[0]}.{best[1]}", how


def resolve_running() -> tuple[str, str]:
    from ..cache import cache_dir
    from ..tree.debian import DebianApt
    apt = DebianApt(cache_dir())
    return closest(apt.source_packages(), running())
