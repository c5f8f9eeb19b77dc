# SPDX-License-Identifier: GPL-2.0-or-later
"""Compatibility: moved to ``pyvma.tree.patches`` (``link_copy``: ``pyvma.tree.scratch``)."""
from .tree.markers import PATCHES_MARKER as MARKER  # noqa: F401
from .tree.patches import (  # noqa: F401
    PatchError,
    patched,
    patched_tree,
    read_patches,
    recorded_identity,
)
from .tree.scratch import link_copy  # noqa: F401
