# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared pieces of the code-path suite (tests/paths).

Each test drives one path of mm/vma.c through the harness and asserts what the
kernel code leaves: the layout (drawn one column a page, one letter a VMA in
address order, as ``mm.diagram()`` draws it), return values, flags, the mm's
counters, the harness's accounting of files, anon_vmas, locks and overcommit,
and WARNs.  ``*`` in a diagram marks the range an operation is asked for.
"""
from __future__ import annotations

import pytest
from ..helpers import P, errno_of, row, rw, show, spans  # noqa: F401  (the suite's helpers)


EPERM, EINTR, ENOMEM, EACCES, EFAULT, EINVAL = -1, -4, -12, -13, -14, -22

# x86-64 user address space of the harness (csrc/override.h)
TASK_SIZE = (1 << 47) - P


def soft_dirty(k) -> int:
    """VM_SOFTDIRTY of the build; 0 where CONFIG_MEM_SOFT_DIRTY=n makes it VM_NONE."""
    return k.flag("VM_SOFTDIRTY") if k.has_flag("VM_SOFTDIRTY") else 0


def need_soft_dirty(k) -> None:
    """Skip, naming the config, in a build without soft-dirty tracking."""
    if not k.has_flag("VM_SOFTDIRTY"):
        pytest.skip(f"this build of {k.version} has no VM_SOFTDIRTY "
                    "(CONFIG_MEM_SOFT_DIRTY=n)")


def shared(k) -> int:
    """A shared writable mapping's flags."""
    return rw(k) | k.flag("VM_SHARED", "VM_MAYSHARE")


def wrap(v: int) -> int:
    """An unsigned long counter as a signed number (it may underflow)."""
    return v - (1 << 64) if v >= 1 << 63 else v


def place(mm, start: int, end: int, pgoff: int | None = None, flags=None, **kw):
    """Map a VMA and account it to the mm's counters as mmap would
    (vm_stat_account()), so that munmap's bookkeeping balances."""
    vma = mm.map(start, end, pgoff, flags, **kw)
    mm.account(vma)
    return vma
