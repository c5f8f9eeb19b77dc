# SPDX-License-Identifier: GPL-2.0-or-later
"""Compatibility: moved to ``pyvma.tree.patches``."""
from .tree.patches import *  # noqa: F403
from .tree.patches import (  # noqa: F401
    MARKER,
    PatchError,
    link_copy,
    patched,
    patched_tree,
    read_patches,
    recorded_identity,
)
