# SPDX-License-Identifier: GPL-2.0-or-later
"""Compatibility: moved to ``pyvma.tree.patches`` (``link_copy``: ``pyvma.tree.scratch``)."""
from .tree.patches import (  # noqa: F401
    MARKER,
    PatchError,
    patched,
    patched_tree,
    read_patches,
    recorded_identity,
)
from .tree.scratch import link_copy  # noqa: F401
