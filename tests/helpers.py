# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers every kernel suite uses: the page size, the plain read/write flags of a
tree, and an address space's layout as text (``row``), as page spans (``spans``)
and as a picture for assertion messages (``show``); ``errno_of`` (pyvma's) for a
kernel call's int: 0 (or an address) on success, the -errno of its KernelError.

A call that succeeds is made plainly (a failure raises KernelError naming the kernel
function); an expected failure is asserted as upstream's C tests assert it,
``ASSERT_EQ(vma_expand(&vmg), -ENOMEM)`` -> ``assert errno_of(vmg.expand) == -ENOMEM``."""
from __future__ import annotations

from pyvma.errors import errno_of  # noqa: F401  (re-exported for the suites)

P = 0x1000


def rw(k) -> int:
    """VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE, from the tree."""
    return k.flag("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")


def row(mm) -> str:
    """The letter row of ``mm.diagram()`` (``"AA BBB"``; "" for an empty mm)."""
    lines = mm.diagram().splitlines()
    return lines[1] if len(lines) > 1 else ""


def spans(mm) -> list[tuple[int, int, int]]:
    """(first page, end page, pgoff) of each VMA in address order."""
    return [(r.start // P, r.end // P, r.pgoff) for r in mm.layout()]


def show(mm) -> str:
    """The layout diagram, for assertion messages."""
    return "\n" + mm.diagram()
