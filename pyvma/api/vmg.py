# SPDX-License-Identifier: GPL-2.0-or-later
"""Upstream's merge interfaces: ``VMI`` (vma_iterator) and ``VMG`` (vma_merge_struct)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import PyvmaError
from .constants import MERGE_STATES
from .vma import VMA

if TYPE_CHECKING:
    from .mm import MM


class VMI:
    """A long-lived vma_iterator over an mm (upstream's ``VMA_ITERATOR(vmi, &mm, addr)``)."""

    def __init__(self, mm: MM, addr: int = 0) -> None:
        self.mm = mm
        lib = mm.k.lib
        self.ptr = mm.k.ffi.gc(lib.pyvma_vmi_new(mm.ptr, addr), lib.pyvma_vmi_free)
        mm.objects.vmis.add(self)

    def set(self, addr: int) -> None:
        """vma_iter_set(): restart the walk at *addr*."""
        self.mm.k.lib.pyvma_vmi_set(self.ptr, addr)

    @property
    def addr(self) -> int:
        """vma_iter_addr(): where the iterator stands."""
        return int(self.mm.k.lib.pyvma_vmi_addr(self.ptr))

    def load(self) -> VMA | None:
        """vma_iter_load(): the VMA at the iterator's position."""
        return self.mm._vma(self.mm._call(self.mm.k.lib.pyvma_vmi_step, self.ptr, 0))

    def next(self) -> VMA | None:
        """vma_next(): the next VMA, moving the iterator."""
        return self.mm._vma(self.mm._call(self.mm.k.lib.pyvma_vmi_step, self.ptr, 1))

    def prev(self) -> VMA | None:
        """vma_prev(): the previous VMA, moving the iterator."""
        return self.mm._vma(self.mm._call(self.mm.k.lib.pyvma_vmi_step, self.ptr, -1))


def _vmg_field(field: str, kind: str, doc: str):
    """A property for one vma_merge_struct member (kind: vma, int, bool, anon, file)."""
    def get(self):
        return self._get(field, kind)

    def put(self, value):
        self._set(field, kind, value)
    return property(get, put, doc=doc)


class VMG:
    """A vma_merge_struct that lives across operations, as upstream's tests keep one
    ``vmg`` per scenario: members set one by one, state read back, and the merge
    entry points run on it.  Members the tree lacks raise PyvmaError (``target`` on
    trees that expand ``vmg->vma``/``middle``; ``anon_pgoff`` before it existed);
    ``middle`` is the tree's ``vmg->vma`` where it has no ``middle``, and
    ``just_expand`` is ``VMG_FLAG_JUST_EXPAND`` in ``merge_flags`` where that is
    how the tree spells it."""

    def __init__(self, mm: MM, vmi: VMI | None = None) -> None:
        self.mm = mm
        self.vmi = vmi if vmi is not None else VMI(mm, 0)
        lib = mm.k.lib
        self.ptr = mm.k.ffi.gc(lib.pyvma_vmg_new(mm.ptr, self.vmi.ptr), lib.pyvma_vmg_free)
        self._val = mm.k.ffi.new("unsigned long *")

    def _code(self, field: str) -> int:
        return getattr(self.mm.k.lib, "PYVMA_VMGF_" + field.upper())

    def _set(self, field: str, kind: str, value) -> None:
        ffi = self.mm.k.ffi
        if kind in ("vma", "anon", "file"):
            if kind == "anon":
                self.mm.objects.remember_anon(value)
            elif kind == "file":
                self.mm.objects.remember_file(value)
            raw = 0 if value is None else int(ffi.cast("uintptr_t", value.ptr))
        elif kind == "state":
            raw = {v: k for k, v in MERGE_STATES.items()}[value]
        else:
            raw = int(value)
        if self.mm.k.lib.pyvma_vmg_set(self.ptr, self._code(field), raw):
            raise PyvmaError(f"the merge request of {self.mm.k.version} has no {field}")

    def _get(self, field: str, kind: str):
        if self.mm.k.lib.pyvma_vmg_get(self.ptr, self._code(field), self._val):
            raise PyvmaError(f"the merge request of {self.mm.k.version} has no {field}")
        raw = int(self._val[0])
        if kind == "vma":
            return VMA(self.mm, self.mm.k.ffi.cast("struct vm_area_struct *", raw)) if raw else None
        if kind == "anon":
            return self.mm.objects.anon_at(raw) if raw else None
        if kind == "file":
            return self.mm.objects.file_at(raw) if raw else None
        if kind == "bool":
            return bool(raw)
        if kind == "state":
            return MERGE_STATES.get(raw, "?")
        return raw

    prev = _vmg_field("prev", "vma", "vmg->prev")
    middle = _vmg_field("middle", "vma", "vmg->middle (vmg->vma on trees without middle)")
    next = _vmg_field("next", "vma", "vmg->next")
    target = _vmg_field("target", "vma", "vmg->target (trees that have it)")
    start = _vmg_field("start", "int", "vmg->start")
    end = _vmg_field("end", "int", "vmg->end")
    pgoff = _vmg_field("pgoff", "int", "vmg->pgoff")
    anon_pgoff = _vmg_field("anon_pgoff", "int", "vmg->anon_pgoff (trees that have it)")
    flags = _vmg_field("flags", "int", "the request's flags word (vm_flags / flags)")
    file = _vmg_field("file", "file", "vmg->file")
    anon_vma = _vmg_field("anon_vma", "anon", "vmg->anon_vma")
    just_expand = _vmg_field("just_expand", "bool",
                             "vmg->just_expand, or VMG_FLAG_JUST_EXPAND in vmg->merge_flags")
    state = _vmg_field("state", "state", "vmg->state: start, nomem, nomerge or success")

    def set_range(self, start: int, end: int, pgoff: int,
                  flags: int | Iterable[str] | None = None) -> None:
        """Upstream's vmg_set_range(): iterator to *start*, prev/middle/next/target and
        the merge-internal bits cleared, the new range, pgoff (anon_pgoff from start)
        and flags; anon_vma, file and state are kept."""
        self.mm.k.lib.pyvma_vmg_set_range(self.ptr, start, end, pgoff, self.mm._flags(flags))

    def upstream_merge_new(self) -> VMA | None:
        """What upstream's test helper merge_new() does (tools/testing/vma): prev and
        next from the iterator, then vma_merge_new_range().  The merges return the
        VMA or None and never raise: why is the request's ``state`` (upstream's
        vmg->state: ``nomem``, ``nomerge``, ...)."""
        return self.mm._vma(self.mm._call(self.mm.k.lib.pyvma_vmg_merge_new, self.ptr, 1))

    def merge_new_range(self) -> VMA | None:
        """vma_merge_new_range() on the request as it stands."""
        return self.mm._vma(self.mm._call(self.mm.k.lib.pyvma_vmg_merge_new, self.ptr, 0))

    def merge_existing(self) -> VMA | None:
        """vma_merge_existing_range() on the request as it stands."""
        return self.mm._vma(self.mm._call(self.mm.k.lib.pyvma_vmg_merge_existing, self.ptr))

    def expand(self) -> None:
        """vma_expand() on the request as it stands (KernelError on failure; the
        request's ``state`` says what vma_expand() left in it)."""
        self.mm._ok("vma_expand()", self.mm._call(self.mm.k.lib.pyvma_vmg_expand, self.ptr))
