# SPDX-License-Identifier: GPL-2.0-or-later
"""The Python API: a loaded kernel build, its address spaces and VMAs.

Addresses are bytes; flags are the tree's own values, named by the tree's own
names (``k.flag("VM_READ", "VM_WRITE")``).  Nothing here restates a kernel mask:
``k.mask("VMA_STICKY_FLAGS")`` is what the built tree says it is.

Modules, imports running down: ``load`` (entry points) -> ``kernel`` (``Kernel``:
identity, flags, WARN/BUG, faults and limits) -> ``mm`` (``MM``) -> ``vmg``
(``VMI``, ``VMG``) -> ``vma`` (``VMA``, ``Region``) -> ``objects`` (``AnonVma``,
``File``) and ``flags`` (``VmaFlags``) -> ``constants``; ``diagram`` draws layouts.
"""
from ..errors import InvariantError, KernelBug, KernelError, Site, errno_of
from .constants import MERGE_STATES, PAGE_SIZE
from .flags import VmaFlags
from .kernel import Kernel
from .load import load, load_tree
from .mm import MM
from .objects import AnonVma, File
from .vma import VMA, Region
from .vmg import VMG, VMI

__all__ = ["MERGE_STATES", "MM", "PAGE_SIZE", "VMA", "VMG", "VMI", "AnonVma", "File",
           "InvariantError", "Kernel", "KernelBug", "KernelError", "Region", "Site", "VmaFlags", "load",
           "errno_of", "load_tree"]
