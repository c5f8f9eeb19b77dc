# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared pieces of the sticky-flag suite (imported by the tests in this directory).

``sk`` (conftest.py) is the fixture every sticky test takes: the kernel built with a given
CONFIG_MEM_SOFT_DIRTY, a fresh checked address space of that build, and the one
sticky flag the test moves around.  Its variants:

* ``guard``       VM_MAYBE_GUARD, CONFIG_MEM_SOFT_DIRTY=y
* ``softdirty``   VM_SOFTDIRTY,   CONFIG_MEM_SOFT_DIRTY=y
* ``guard-nosd``  VM_MAYBE_GUARD, CONFIG_MEM_SOFT_DIRTY=n

Everything about flags is read from the built tree; the flag a variant names must
be in that build's sticky mask (the fixture checks, so a tree whose mask changed
fails loudly instead of testing nothing).

Layouts are drawn one column a page, one letter a VMA, as in upstream's tests;
``row(mm)`` gives the letter row of the current layout so a test can assert the
very picture its comment shows.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..helpers import P, row, rw, show, spans  # noqa: F401  (the suite's helpers)


def other(k) -> int:
    """A non-sticky flag used to make a middle VMA differ from its neighbours."""
    return k.flag("VM_EXEC")


def flags_of(mm) -> list[int]:
    return [r.flags for r in mm.layout()]


@dataclass
class StickyEnv:
    k: object          # the Kernel build
    mm: object         # a fresh, checked MM of that build
    name: str          # the sticky flag under test
    S: int             # its value
    base: int          # rw flags
    soft_dirty: bool   # CONFIG_MEM_SOFT_DIRTY of the build

    def sticky(self, on: bool) -> int:
        return self.S if on else 0


VARIANTS = {
    "guard": ("VM_MAYBE_GUARD", True),
    "softdirty": ("VM_SOFTDIRTY", True),
    "guard-nosd": ("VM_MAYBE_GUARD", False),
}


def _reset(k) -> None:
    k.clear_warnings()
    k.lib.pyvma_anon_reset()
    k.fail_anon_vma_clone(False)
    if hasattr(k, "fail_prealloc"):
        k.fail_prealloc(False)


_builds: dict[tuple[int, bool], object] = {}


def kernel_with_soft_dirty(kernel, load_kernel, soft_dirty: bool):
    """*kernel*'s tree built with CONFIG_MEM_SOFT_DIRTY=*soft_dirty* (loaded once a run)."""
    if kernel.config.enabled("CONFIG_MEM_SOFT_DIRTY") == soft_dirty:
        return kernel
    key = (id(kernel), soft_dirty)
    if key not in _builds:
        _builds[key] = load_kernel(config={"CONFIG_MEM_SOFT_DIRTY": soft_dirty})
    return _builds[key]


def _reset_failures(k) -> None:
    k.fail_anon_vma_clone(False)
    if hasattr(k, "fail_prealloc"):
        k.fail_prealloc(False)


def faulted(mm, vma, av) -> None:
    """Give *vma* an anon_vma with the single chain entry of a faulted, non-forked VMA."""
    vma.set_anon_vma(av)
    vma.add_avc(av)
