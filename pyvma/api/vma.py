# SPDX-License-Identifier: GPL-2.0-or-later
"""One VMA of an mm, and ``Region``: a VMA as plain data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import PyvmaError
from .objects import _OPS_NAMES, _ops_bits

if TYPE_CHECKING:
    from .mm import MM
    from .objects import AnonVma


class VMA:
    """A view of a vm_area_struct.  Reading a VMA that a merge freed is a bug in the
    test, as it would be in the kernel: read the layout from the MM instead."""

    def __init__(self, mm: MM, ptr) -> None:
        self.mm = mm
        self.ptr = ptr

    def _info(self):
        return self.mm.objects.vma_info(self.ptr)

    start = property(lambda self: int(self._info().start))
    end = property(lambda self: int(self._info().end))
    pgoff = property(lambda self: int(self._info().pgoff))
    anon_pgoff = property(lambda self: int(self._info().anon_pgoff))
    flags = property(lambda self: int(self._info().flags))

    @property
    def flag_names(self) -> frozenset[str]:
        return self.mm.k.names_of(self.flags)

    def has_flags(self, *names: str) -> bool:
        """Whether every flag named is set on the VMA."""
        want = self.mm.k.flag(*names)
        return self.flags & want == want

    @property
    def anon_vma(self) -> AnonVma | None:
        ptr = self._info().anon_vma
        return self.mm.objects.anon_of(ptr)

    def set_ops(self, *names: str) -> None:
        """Install harness vm_operations with the named callbacks: ``open``,
        ``close``, ``may_split`` (returns ``Kernel.set_may_split_error``'s value),
        ``page_mkwrite``, ``pfn_mkwrite``.  Calls are counted in
        ``Kernel.ops_calls``."""
        self.mm.k.lib.pyvma_vma_set_ops(self.ptr, _ops_bits(self.mm.k, names))

    @property
    def ops(self) -> frozenset[str] | None:
        """The callbacks of the harness vm_operations this VMA has (``set_ops`` or a
        harness file's ->mmap); None for any other vm_ops (or none)."""
        bits = int(self.mm.k.lib.pyvma_vma_get_ops(self.ptr))
        if bits < 0:
            return None
        return frozenset(n for i, n in enumerate(_OPS_NAMES) if bits & (1 << i))

    @property
    def is_anonymous(self) -> bool:
        """vma_is_anonymous(): no vm_ops."""
        return bool(self.mm.k.lib.pyvma_vma_is_anonymous(self.ptr))

    @property
    def private_data(self) -> int:
        """vm_private_data as an address (0: NULL)."""
        return int(self.mm.k.ffi.cast("uintptr_t", self.mm.k.lib.pyvma_vma_private(self.ptr)))

    def set_anon_pgoff(self, pgoff: int) -> None:
        """Overwrite the anonymous page offset (trees with feature ``anon_pgoff``)."""
        if self.mm.k.lib.pyvma_vma_set_anon_pgoff(self.ptr, pgoff):
            raise PyvmaError(f"{self.mm.k.version} keeps no separate anonymous page offset")

    def set_page_prot(self, prot: int) -> None:
        """Overwrite vm_page_prot."""
        self.mm.k.lib.pyvma_vma_set_page_prot(self.ptr, prot)

    @property
    def mmu_pagesize(self) -> int:
        """vma_mmu_pagesize() (feature ``vma_mmu_pagesize``)."""
        return int(self.mm.k.lib.pyvma_vma_mmu_pagesize(self.ptr))

    def needs_dirty_tracking(self) -> bool:
        """vma_needs_dirty_tracking()."""
        return bool(self.mm._call(self.mm.k.lib.pyvma_vma_needs_dirty_tracking, self.ptr))

    def wants_writenotify(self, page_prot: int = 0) -> bool:
        """vma_wants_writenotify(vma, page_prot).  The harness's pgprot_modify() is
        a stub returning 0, so a non-zero *page_prot* reads as protections a
        driver's ->mmap changed."""
        return bool(self.mm._call(self.mm.k.lib.pyvma_vma_wants_writenotify, self.ptr,
                                  page_prot))

    @property
    def write_locked(self) -> bool:
        """Whether vma_start_write() was called since the last reset_write()."""
        return bool(self._info().write_locked)

    def reset_write(self) -> None:
        self.mm.k.lib.pyvma_vma_reset_write(self.ptr)

    def write_started(self) -> bool:
        """Whether vma_start_write() ran since the last call (upstream's
        vma_write_started(): reading resets it)."""
        locked = self.write_locked
        self.reset_write()
        return locked

    def set_vm_ops(self, close: bool | None) -> None:
        """None: no vm_ops; False: harness ops without hooks; True: ops with ->close."""
        self.mm.k.lib.pyvma_vma_set_vm_ops(self.ptr, 0 if close is None else 2 if close else 1)

    def add_avc(self, av: AnonVma) -> None:
        """Link one anon_vma_chain entry for *av* into this VMA's chain."""
        self.mm.objects.remember_anon(av)
        if self.mm.k.lib.pyvma_vma_add_avc(self.ptr, av.ptr):
            raise PyvmaError("no room for another anon_vma_chain entry")

    def set_flags(self, flags: int) -> None:
        """Overwrite the VMA's flags (a test's direct edit of vma->flags)."""
        self.mm.k.lib.pyvma_vma_set_flags(self.ptr, flags)

    @property
    def file(self):
        return self._info().file

    def set_anon_vma(self, av: AnonVma | None) -> None:
        self.mm.objects.remember_anon(av)
        self.mm.k.lib.pyvma_vma_set_anon_vma(self.ptr, av.ptr if av else self.mm.k.ffi.NULL)

    @property
    def vm_ops(self) -> bool | None | str:
        """What set_vm_ops() set: None (no vm_ops), False (harness ops), True (with
        ->close); "other" for ops the kernel code installed."""
        which = self.mm.k.lib.pyvma_vma_vm_ops(self.ptr)
        return {0: None, 1: False, 2: True}.get(which, "other")

    @property
    def avc_count(self) -> int:
        """Entries on the VMA's anon_vma_chain (1: upstream's list_is_singular())."""
        return int(self.mm.k.lib.pyvma_vma_avc_count(self.ptr))

    @property
    def attached(self) -> bool:
        """Whether the mm's maple tree maps this VMA's range to it."""
        return bool(self.mm.k.lib.pyvma_vma_attached(self.mm.ptr, self.ptr))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VMA) and other.ptr == self.ptr

    def __hash__(self) -> int:
        return hash(int(self.mm.k.ffi.cast("uintptr_t", self.ptr)))

    def __repr__(self) -> str:
        return f"<VMA {self.start:#x}-{self.end:#x} pgoff {self.pgoff:#x} {sorted(self.flag_names)}>"


@dataclass(frozen=True)
class Region:
    """A VMA as plain data (what layouts and diagrams are made of)."""

    start: int
    end: int
    pgoff: int
    flags: int
    anon_vma: int
    file: int
