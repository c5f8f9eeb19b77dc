# SPDX-License-Identifier: GPL-2.0-or-later
"""Compatibility: moved to the ``pyvma.tree`` package (one module per job).

Kept for this release so that code written against ``pyvma.source`` keeps working;
new code imports from ``pyvma.tree``.
"""
from .tree import *  # noqa: F403
from .tree import __all__  # noqa: F401
from .tree import features as _features  # noqa: F401
from .tree.markers import _cached_tree, _safe_key  # noqa: F401
from .tree.validate import _probe_memo  # noqa: F401
