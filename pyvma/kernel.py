# SPDX-License-Identifier: GPL-2.0-or-later
"""Compatibility: moved to the ``pyvma.api`` package (``load``/``load_tree`` in
``pyvma.api.load``, ``Kernel`` in ``.kernel``, ``MM`` in ``.mm``, ``VMA`` in ``.vma``,
``VMI``/``VMG`` in ``.vmg``, ``AnonVma``/``File`` in ``.objects``, ``VmaFlags`` in
``.flags``; ``Site``, ``KernelBug``, ``InvariantError`` in ``pyvma.errors``)."""
from .api import *  # noqa: F403
from .api import __all__  # noqa: F401
