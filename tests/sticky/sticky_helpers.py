# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared pieces of the sticky-flag suite (imported by the tests in this directory).

``sk`` is the fixture every sticky test takes: the kernel built with a given
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

import pytest

P = 0x1000


def rw(k) -> int:
    """Plain read/write private anonymous flags, from the tree."""
    return k.flag("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")


def other(k) -> int:
    """A non-sticky flag used to make a middle VMA differ from its neighbours."""
    return k.flag("VM_EXEC")


def row(mm) -> str:
    """The letter row of ``mm.diagram()``: ``"AA BBB"``."""
    lines = mm.diagram().splitlines()
    return lines[1] if len(lines) > 1 else ""


def spans(mm) -> list[tuple[int, int, int]]:
    """(first page, end page, pgoff) of each VMA in address order."""
    return [(r.start // P, r.end // P, r.pgoff) for r in mm.layout()]


def flags_of(mm) -> list[int]:
    return [r.flags for r in mm.layout()]


def show(mm) -> str:
    """For assertion messages."""
    return "\n" + mm.diagram()


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


@pytest.fixture(params=list(VARIANTS), ids=list(VARIANTS))
def sk(request, kernel, load_kernel):
    """The kernel of *variant*'s config, a checked MM of it and the sticky flag."""
    name, soft_dirty = VARIANTS[request.param]
    k = kernel_with_soft_dirty(kernel, load_kernel, soft_dirty)
    own = k is not kernel          # the `kernel` fixture looks after its own build
    if own:
        _reset(k)
    assert k.config.enabled("CONFIG_MEM_SOFT_DIRTY") == soft_dirty
    value = k.flag(name)
    assert value & k.sticky_mask == value, (
        f"{name} is not in the sticky mask of {k.version} "
        f"(CONFIG_MEM_SOFT_DIRTY={'y' if soft_dirty else 'n'}): "
        f"{sorted(k.names_of(k.sticky_mask))}")
    mm = k.mm(check_each=True)
    yield StickyEnv(k, mm, name, value, rw(k), soft_dirty)
    try:
        if mm.ptr is not None:
            mm.check_each = False
            mm.check()
            mm.close()
    finally:
        _reset_failures(k)
        if own:
            warns = k.warnings()
            k.clear_warnings()
            if warns:
                pytest.fail(f"WARN in kernel code ({k.version}, soft-dirty "
                            f"{'on' if soft_dirty else 'off'}):\n"
                            + "\n".join(f"  {w}" for w in warns), pytrace=False)


def faulted(mm, vma, av) -> None:
    """Give *vma* an anon_vma with the single chain entry of a faulted, non-forked VMA."""
    vma.set_anon_vma(av)
    vma.add_avc(av)
