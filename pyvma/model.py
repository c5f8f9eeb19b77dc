# SPDX-License-Identifier: GPL-2.0-or-later
"""Compatibility: moved to ``pyvma.engine.model``."""
from .engine.model import EXTRA, SPAN, Checker, Model, MVma, make_state_machine, real_layout, save_regression  # noqa: F401
