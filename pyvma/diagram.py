# SPDX-License-Identifier: GPL-2.0-or-later
"""Compatibility: moved to ``pyvma.api.diagram``."""
from .api.diagram import parse, render, side_by_side  # noqa: F401
