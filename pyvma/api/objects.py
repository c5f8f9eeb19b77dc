# SPDX-License-Identifier: GPL-2.0-or-later
"""The objects VMAs point at: dummy anon_vmas and files (with their vm_ops).

Lifetimes: the C side records every anon_vma and file of the harness (those made
here and the anon_vmas kernel code makes through the hooks).  Each Python object
holds one pin on its C object and drops it when it goes (queued: the pin is
dropped by ``Kernel.release_objects()``, which ``MM.close()`` calls, never from
the garbage collector); the C object is freed once nothing pins it and no VMA of
a live mm refers to it.  Kernel code frees neither (the harness hooks
unlink_anon_vmas() and fput()), so nothing is freed twice."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from ..errors import PyvmaError

if TYPE_CHECKING:
    from .kernel import Kernel


class _Pinned:
    """A Python object holding one pin on a harness object (see the module)."""

    k: Kernel
    ptr: object

    def _hold(self, k: Kernel, ptr, pinned: bool) -> None:
        if ptr == k.ffi.NULL:
            raise PyvmaError(f"no memory for a harness {type(self).__name__}")
        if not pinned:
            k.lib.pyvma_obj_pin(ptr, 1)
        self.k = k
        self.ptr = ptr
        self._key = int(k.ffi.cast("uintptr_t", ptr))

    def __del__(self) -> None:
        key = getattr(self, "_key", None)
        if key is not None:
            self.k._unpinned.append(key)


class AnonVma(_Pinned):
    """A dummy anon_vma with clone/unlink accounting: a new one, or (*ptr*) one
    kernel code made."""

    def __init__(self, k: Kernel, ptr=None) -> None:
        if ptr is None:
            self._hold(k, k.lib.pyvma_anon_vma_new(), True)
        else:
            self._hold(k, ptr, False)
        self._stats = k.ffi.new("int[2]")

    @property
    def locked(self) -> bool:
        """Whether the root's rwsem is write-held (anon_vma_lock_write())."""
        return bool(self.k.lib.pyvma_anon_vma_locked(self.ptr, 0))

    @property
    def all_locks_marked(self) -> bool:
        """Whether mm_take_all_locks() marked the root (bit 0 of its rb_root)."""
        return bool(self.k.lib.pyvma_anon_vma_locked(self.ptr, 1))

    def _get(self) -> tuple[int, int]:
        self.k.lib.pyvma_anon_vma_stats(self.ptr, self._stats, self._stats + 1)
        return self._stats[0], self._stats[1]

    @property
    def was_cloned(self) -> bool:
        return self._get()[0] > 0

    @property
    def was_unlinked(self) -> bool:
        return self._get()[1] > 0

    def reset(self) -> None:
        """Forget clones and unlinks so far (upstream's reset_dummy_anon_vma())."""
        self.k.lib.pyvma_anon_vma_reset(self.ptr)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnonVma) and other.ptr == self.ptr

    def __hash__(self) -> int:
        return hash(self._key)


class File(_Pinned):
    """A dummy struct file with its own address_space.

    Its ->mmap / ->mmap_prepare are absent until ``behave(mmap=True)`` /
    ``behave(mmap_prepare=True)`` installs the harness's, which do what
    ``behave`` says (fail, change flags, install vm_ops, ...).  The file's
    reference count, writable mappings (i_mmap_writable) and the VMAs in its
    rmap tree are kept as the kernel code moves them."""

    def __init__(self, k: Kernel) -> None:
        self._hold(k, k.lib.pyvma_file_new(), True)
        self._swap: File | None = None

    def _set(self, what: str, value: int) -> None:
        self.k.lib.pyvma_file_set(self.ptr, getattr(self.k.lib, "PYVMA_FILE_" + what), value)

    def _stat(self, what: str) -> int:
        return int(self.k.lib.pyvma_file_stat(self.ptr, getattr(self.k.lib, "PYVMA_FILE_" + what)))

    def behave(self, mmap: bool | None = None, mmap_prepare: bool | None = None,
               err: int | None = None, set_flags: int | None = None,
               clear_flags: int | None = None, ops: Iterable[str] | Literal[False] | None = False,
               move_start: int | None = None, swap: File | None = None,
               pgoff_delta: int | None = None, hide_rmap: bool | None = None,
               can_writeback: bool | None = None) -> File:
        """Configure the file (arguments left out are left as they are).

        *mmap* / *mmap_prepare*: install (True) or remove (False) the harness's
        f_op->mmap / f_op->mmap_prepare.  They return *err* (0: success) and on
        success set *set_flags* and clear *clear_flags*, install harness vm_ops with
        the callbacks named in *ops* (see ``VMA.set_ops``; ``None``: NULL vm_ops,
        which ->mmap_prepare uses to ask for an anonymous VMA; False: leave them);
        ->mmap moves vm_start by *move_start* bytes (a driver bug the kernel WARNs
        about); ->mmap_prepare adds *pgoff_delta* to the page offset, maps *swap*
        instead of this file, and asks hide_from_rmap_until_complete with
        *hide_rmap*.  *can_writeback*: mapping_can_writeback()'s answer."""
        if mmap is not None:
            self._set("MMAP", int(mmap))
        if mmap_prepare is not None:
            self._set("MMAP_PREPARE", int(mmap_prepare))
        if err is not None:
            self._set("ERR", err)
        if set_flags is not None:
            self._set("SET_FLAGS", set_flags)
        if clear_flags is not None:
            self._set("CLEAR_FLAGS", clear_flags)
        if ops is None:
            self._set("OPS", -2)
        elif ops is not False:
            self._set("OPS", _ops_bits(self.k, ops))
        if move_start is not None:
            self._set("MOVE_START", move_start)
        if swap is not None:
            self._swap = swap            # ->mmap_prepare may map it: it lives as long
            self._set("SWAP", int(self.k.ffi.cast("uintptr_t", swap.ptr)))
        if pgoff_delta is not None:
            self._set("PGOFF_DELTA", pgoff_delta)
        if hide_rmap is not None:
            self._set("HIDE_RMAP", int(hide_rmap))
        if can_writeback is not None:
            self._set("CAN_WRITEBACK", int(can_writeback))
        return self

    @property
    def refs(self) -> int:
        """get_file() minus fput() calls on this file so far."""
        return self._stat("REFS")

    @property
    def writable(self) -> int:
        """mapping->i_mmap_writable: shared writable mappings (negative: writes
        denied, as for a write-sealed memfd)."""
        return self._stat("WRITABLE")

    def deny_writable(self) -> None:
        """Deny new writable shared mappings (mapping_deny_writable())."""
        self._set("WRITABLE", -1)

    @property
    def i_mmap_vmas(self) -> int:
        """VMAs the kernel code put in the mapping's rmap tree (i_mmap) and not
        taken out again."""
        return self._stat("I_MMAP_VMAS")

    @property
    def i_mmap_locked(self) -> bool:
        """Whether the mapping's i_mmap_rwsem is write-held."""
        return bool(self._stat("I_MMAP_LOCKED"))

    @property
    def all_locks_marked(self) -> bool:
        """Whether AS_MM_ALL_LOCKS is set in mapping->flags (mm_take_all_locks())."""
        return bool(self._stat("ALL_LOCKS"))

    @property
    def mmap_calls(self) -> int:
        """Calls of the harness ->mmap."""
        return self._stat("MMAP_CALLS")

    @property
    def mmap_prepare_calls(self) -> int:
        """Calls of the harness ->mmap_prepare."""
        return self._stat("PREPARE_CALLS")


_OPS_NAMES = ("open", "close", "may_split", "page_mkwrite", "pfn_mkwrite")


def _ops_bits(k: Kernel, names: Iterable[str]) -> int:
    bits = 0
    for n in names:
        if n not in _OPS_NAMES:
            raise PyvmaError(f"no harness vm_operation {n!r} (known: {', '.join(_OPS_NAMES)})")
        bits |= 1 << _OPS_NAMES.index(n)
    return bits
