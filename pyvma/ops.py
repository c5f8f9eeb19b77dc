# SPDX-License-Identifier: GPL-2.0-or-later
"""Compatibility: moved to ``pyvma.engine.ops`` (``Generator`` is ``OpGenerator``,
``SPAN``/``EXTRA`` are ``GEN_PAGES``/``GEN_FLAGS`` there)."""
from .engine.ops import (  # noqa: F401
                         BASE,
                         GEN_FLAGS,
                         GEN_PAGES,
                         Op,
                         OpGenerator,
                         Outcome,
                         World,
                         apply,
                         modify_flags,
                         run,
                         valid,
)

Generator = OpGenerator
SPAN = GEN_PAGES
EXTRA = GEN_FLAGS
