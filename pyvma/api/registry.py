# SPDX-License-Identifier: GPL-2.0-or-later
"""What the Python objects of one address space share, owned in one place: the
AnonVma and File objects by the pointers kernel code holds, the VMA iterators
open on it, and the C buffers VMA reads and walks fill."""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from .objects import AnonVma

if TYPE_CHECKING:
    from .kernel import Kernel
    from .objects import File
    from .vmg import VMI

#: Rows one walk buffer holds (a longer layout is read VMA by VMA).
WALK_ROWS = 64


class Registry:
    """One MM's shared state (``MM.objects``)."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self._anon: dict[int, AnonVma] = {}
        self._files: dict[int, File] = {}
        self.vmis: weakref.WeakSet[VMI] = weakref.WeakSet()
        self._info = k.ffi.new("struct pyvma_vma_info *")
        self._walk = k.ffi.new(f"struct pyvma_vma_info[{WALK_ROWS}]")

    def key(self, ptr) -> int:
        """A C pointer as the int the registry files it under."""
        return int(self.k.ffi.cast("uintptr_t", ptr))

    def remember_anon(self, av: AnonVma | None) -> None:
        """Keep *av* (set on a VMA or a merge request) findable by its pointer."""
        if av is not None:
            self._anon[self.key(av.ptr)] = av

    def anon_of(self, ptr) -> AnonVma | None:
        """The AnonVma for an anon_vma pointer (one the kernel code made is wrapped)."""
        if ptr == self.k.ffi.NULL:
            return None
        key = self.key(ptr)
        av = self._anon.get(key)
        if av is None:
            av = self._anon[key] = AnonVma(self.k, self.k.ffi.cast("struct anon_vma *", ptr))
        return av

    def clear(self) -> None:
        """Let go of the anon_vmas and files (the mm is gone)."""
        self._anon.clear()
        self._files.clear()

    def anon_at(self, key: int) -> AnonVma | None:
        """The AnonVma remembered under *key* (None if none is)."""
        return self._anon.get(key)

    def remember_file(self, file: File | None) -> None:
        """Keep *file* (mapped or set on a merge request) findable by its pointer."""
        if file is not None:
            self._files[self.key(file.ptr)] = file

    def file_at(self, key: int) -> File | None:
        """The File remembered under *key* (None if none is)."""
        return self._files.get(key)

    def vma_info(self, ptr) -> Any:
        """The fields of the VMA at *ptr*, read into the shared info buffer."""
        self.k.lib.pyvma_vma_info(ptr, self._info)
        return self._info

    def walk(self, mm_ptr) -> tuple[int, Any]:
        """Walk the mm at *mm_ptr* into the shared buffer: (VMAs in the mm, the rows);
        more VMAs than WALK_ROWS fill only the first WALK_ROWS rows."""
        return int(self.k.lib.pyvma_mm_walk(mm_ptr, self._walk, WALK_ROWS)), self._walk
