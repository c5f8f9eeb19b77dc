# SPDX-License-Identifier: GPL-2.0-or-later
"""Compatibility: moved to ``pyvma.engine.model`` (``SPAN``/``EXTRA`` are
``MODEL_PAGES``/``MODEL_FLAGS`` there)."""
from .engine.model import (  # noqa: F401
                           MODEL_FLAGS,
                           MODEL_PAGES,
                           Checker,
                           Model,
                           MVma,
                           make_state_machine,
                           real_layout,
                           save_regression,
)

SPAN = MODEL_PAGES
EXTRA = MODEL_FLAGS
