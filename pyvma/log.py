# SPDX-License-Identifier: GPL-2.0-or-later
"""pyvma's logger, made on first use: importing ``logging`` costs a warm start a few
milliseconds, and a cached load logs nothing."""
from __future__ import annotations

from typing import Any


def log(level: str, msg: str, *args: Any) -> None:
    """``logging.getLogger("pyvma.tree").<level>(msg, *args)``."""
    import logging
    getattr(logging.getLogger("pyvma.tree"), level)(msg, *args)
