# SPDX-License-Identifier: GPL-2.0-or-later
"""Compatibility: moved to ``pyvma.engine.ops``."""
from .engine.ops import BASE, EXTRA, SPAN, Generator, Op, Outcome, World, apply, modify_flags, run, valid  # noqa: F401
