# SPDX-License-Identifier: GPL-2.0-or-later
"""An address space (mm_struct): mapping, unmapping, walking, layouts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import InvariantError, KernelError, PyvmaError
from .constants import MERGE_STATES, PAGE_SIZE
from .objects import AnonVma, _ops_bits
from .registry import Registry
from .vma import VMA, Region
from .vmg import VMG, VMI

if TYPE_CHECKING:
    from .kernel import Kernel
    from .objects import File


class MM:
    """An address space (mm_struct) of one kernel."""

    def __init__(self, k: Kernel, check_each: bool = False) -> None:
        self.k = k
        self.check_each = check_each
        self.ptr = k.lib.pyvma_mm_new()
        #: The Python objects of this mm's kernel objects, and the shared buffers.
        self.objects = Registry(k)
        self._msg = k.ffi.new("char[256]")
        self.default_flags = k.flag("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")

    # -- helpers ----------------------------------------------------------------
    def _flags(self, flags: int | Iterable[str] | None) -> int:
        if flags is None:
            return self.default_flags
        if isinstance(flags, int):
            return flags
        return self.k.flag(*flags)

    def _vma(self, ptr) -> VMA | None:
        return VMA(self, ptr) if ptr != self.k.ffi.NULL else None

    def _vma_or_raise(self, call: str, ptr, err) -> VMA:
        """What *call*, returning a VMA or an ERR_PTR, gave: the VMA; KernelError
        carrying the -errno (*err*) if it failed."""
        if err[0]:
            raise KernelError(call, int(err[0]))
        vma = self._vma(ptr)
        if vma is None:
            raise PyvmaError(f"{call} returned neither a VMA nor an error")
        return vma

    def _ok(self, call: str, ret) -> int:
        """What *call*, returning 0/a value or -errno, gave: the value (>= 0);
        KernelError carrying the -errno if it failed."""
        ret = int(ret)
        if ret < 0:
            raise KernelError(call, ret)
        return ret

    def _call(self, fn, *args):
        if fn is self.k.lib.pyvma_mm_check:
            self.k.lib.pyvma_mm_set_current(self.ptr)
        else:
            self.k.lib.pyvma_mm_begin_op(self.ptr)
        ret = fn(*args)
        self.k._check_bug()
        if self.check_each and fn not in (self.k.lib.pyvma_mm_check, self.k.lib.pyvma_mm_destroy):
            self.check()
        return ret

    # -- operations -------------------------------------------------------------
    def alloc(self, start: int, end: int, pgoff: int | None = None,
              flags: int | Iterable[str] | None = None) -> VMA:
        """A VMA not yet in the tree."""
        pgoff = start // PAGE_SIZE if pgoff is None else pgoff
        ptr = self._call(self.k.lib.pyvma_vma_alloc, self.ptr, start, end, pgoff,
                         self._flags(flags))
        if ptr == self.k.ffi.NULL:
            raise PyvmaError("vm_area_alloc failed")
        return VMA(self, ptr)

    def map(self, start: int, end: int, pgoff: int | None = None,
            flags: int | Iterable[str] | None = None, anon_vma: AnonVma | None = None,
            file: File | None = None) -> VMA:
        """Allocate and link a VMA (upstream's alloc_and_link_vma)."""
        vma = self.alloc(start, end, pgoff, flags)
        if anon_vma is not None:
            vma.set_anon_vma(anon_vma)
        if file is not None:
            self.objects.remember_file(file)
            self.k.lib.pyvma_vma_set_file(vma.ptr, file.ptr)
        err = self._call(self.k.lib.pyvma_vma_link, self.ptr, vma.ptr)
        if err:
            self.k.lib.pyvma_vma_free(vma.ptr)
            raise KernelError(f"vma_link({start:#x}-{end:#x})", int(err))
        return vma

    def link(self, vma: VMA) -> None:
        """vma_link() a VMA from alloc() into the tree (upstream's attach_vma()); the
        write-lock mark linking leaves is cleared, as map() does."""
        self._ok("vma_link()", self._call(self.k.lib.pyvma_vma_link, self.ptr, vma.ptr))

    def account(self, vma: VMA) -> None:
        """Account *vma*'s pages to the mm as mmap does (the tree's vm_stat_account())."""
        self.k.lib.pyvma_vma_account(self.ptr, vma.ptr)

    def merge_new_range(self, start: int, end: int, pgoff: int | None = None,
                  flags: int | Iterable[str] | None = None, anon_vma: AnonVma | None = None,
                  file: File | None = None) -> tuple[VMA | None, str]:
        """vma_merge_new_range() on a new request for [start, end) (prev and next
        looked up around it): (merged VMA or None, state).  A merge does not raise:
        its outcome is upstream's vmg->state (``nomem``, ``nomerge``, ...)."""
        pgoff = start // PAGE_SIZE if pgoff is None else pgoff
        self.objects.remember_anon(anon_vma)
        ptr = self._call(self.k.lib.pyvma_merge_new, self.ptr, start, end, pgoff,
                         self._flags(flags), anon_vma.ptr if anon_vma else self.k.ffi.NULL,
                         file.ptr if file else self.k.ffi.NULL, self.k._state)
        return self._vma(ptr), MERGE_STATES.get(self.k._state[0], "?")

    def merge_existing(self, middle: VMA, start: int, end: int,
                       flags: int | Iterable[str] | None = None, prev: VMA | None = None,
                       pgoff: int | None = None,
                       anon_vma: AnonVma | None = None) -> tuple[VMA | None, str]:
        """vma_merge_existing_range(): [start, end) of *middle* gets *flags*: (merged
        VMA or None, state); like merge_new_range(), a failure is the state
        (``nomem``), not a KernelError."""
        if pgoff is None:
            pgoff = middle.pgoff + (start - middle.start) // PAGE_SIZE
        av = anon_vma if anon_vma is not None else middle.anon_vma
        self.objects.remember_anon(av)
        ptr = self._call(self.k.lib.pyvma_merge_existing, self.ptr,
                         prev.ptr if prev else self.k.ffi.NULL, middle.ptr, start, end, pgoff,
                         self._flags(flags) if flags is not None else middle.flags,
                         av.ptr if av else self.k.ffi.NULL, self.k._state)
        return self._vma(ptr), MERGE_STATES.get(self.k._state[0], "?")

    def expand(self, target: VMA, start: int, end: int, next: VMA | None = None,
               pgoff: int | None = None) -> None:
        """vma_expand(): *target* grows to [start, end) (absorbing *next* if it ends
        there)."""
        pgoff = target.pgoff if pgoff is None else pgoff
        self._ok("vma_expand()", self._call(self.k.lib.pyvma_expand, self.ptr, target.ptr,
                                            next.ptr if next else self.k.ffi.NULL, start,
                                            end, pgoff, self.k._state))

    def shrink(self, vma: VMA, start: int, end: int, pgoff: int | None = None) -> None:
        """vma_shrink(): *vma* shrinks to [start, end) (trees whose vma_shrink() only
        moves the end: -EINVAL for another start or pgoff)."""
        pgoff = vma.pgoff if pgoff is None else pgoff
        self._ok("vma_shrink()", self._call(self.k.lib.pyvma_shrink, self.ptr, vma.ptr,
                                            start, end, pgoff))

    def split(self, vma: VMA, addr: int, new_below: bool = False) -> None:
        """split_vma() of *vma* at *addr* (*new_below*: the new VMA is the lower part)."""
        self._ok("split_vma()", self._call(self.k.lib.pyvma_split, self.ptr, vma.ptr, addr,
                                           int(new_below)))

    def munmap(self, start: int, end: int, uf: bool = False, unlock: bool = False) -> None:
        """do_vmi_munmap() of [start, end).  *uf*: with a userfaultfd unmap list;
        *unlock*: drop the mmap lock on success."""
        if not uf and not unlock:
            ret = self._call(self.k.lib.pyvma_munmap, self.ptr, start, end - start)
        else:
            ret = self._call(self.k.lib.pyvma_munmap_ex, self.ptr, start, end - start,
                             int(uf), int(unlock))
        self._ok("do_vmi_munmap()", ret)

    def vm_munmap(self, start: int, length: int, unlock: bool = False) -> None:
        """__vm_munmap() in this mm (feature ``vm_munmap``)."""
        self._ok("__vm_munmap()", self._call(self.k.lib.pyvma_vm_munmap, start, length,
                                             int(unlock)))

    def vmi(self, addr: int = 0) -> VMI:
        """A long-lived iterator over this mm at *addr* (``VMA_ITERATOR``)."""
        return VMI(self, addr)

    def vmg(self, vmi: VMI | None = None) -> VMG:
        """A long-lived merge request on this mm using *vmi* (a new iterator at 0 by
        default); every other member starts zeroed."""
        return VMG(self, vmi)

    def modify_flags(self, vmi: VMI, prev: VMA | None, vma: VMA, start: int, end: int,
                     flags: int | Iterable[str] | None = None,
                     flags_out: list[int] | None = None) -> VMA:
        """vma_modify_flags(): split/merge so [start, end) of *vma* can take *flags*.
        The VMA to modify (KernelError
        carrying the -errno if it fails).  *flags_out* gets the flags the call left
        for its caller to set (trees passing them by pointer put a merge's sticky
        flags there; the others leave *flags*)."""
        ffi = self.k.ffi
        word = ffi.new("unsigned long *", self._flags(flags))
        err = ffi.new("long *")
        ptr = self._call(self.k.lib.pyvma_modify_flags, vmi.ptr, prev.ptr if prev else ffi.NULL,
                         vma.ptr, start, end, word, err)
        if flags_out is not None:
            flags_out.append(int(word[0]))
        return self._vma_or_raise("vma_modify_flags()", ptr, err)

    def modify_name(self, vmi: VMI, prev: VMA | None, vma: VMA, start: int, end: int,
                    name: str | None, flags: int | Iterable[str] | None = None) -> VMA:
        """vma_modify_name() with a new anon_vma_name *name* (None: no name); on trees
        with vma_modify_flags_name() instead, that, with *flags* (default: the VMA's).
        The VMA to modify (KernelError
        carrying the -errno if it fails)."""
        ffi = self.k.ffi
        err = ffi.new("long *")
        word = vma.flags if flags is None else self._flags(flags)
        ptr = self._call(self.k.lib.pyvma_modify_name, vmi.ptr, prev.ptr if prev else ffi.NULL,
                         vma.ptr, start, end, word,
                         name.encode() if name is not None else ffi.NULL, err)
        return self._vma_or_raise("vma_modify_name()", ptr, err)

    def modify_policy(self, vmi: VMI, prev: VMA | None, vma: VMA, start: int,
                      end: int) -> VMA:
        """vma_modify_policy() with a NULL mempolicy (the harness has no policies;
        mpol_equal() is stubbed true).  The VMA to modify (KernelError
        carrying the -errno if it fails)."""
        ffi = self.k.ffi
        err = ffi.new("long *")
        ptr = self._call(self.k.lib.pyvma_modify_policy, vmi.ptr,
                         prev.ptr if prev else ffi.NULL, vma.ptr, start, end, err)
        return self._vma_or_raise("vma_modify_policy()", ptr, err)

    def modify_flags_uffd(self, vmi: VMI, prev: VMA | None, vma: VMA, start: int, end: int,
                          flags: int | Iterable[str] | None = None,
                          give_up_on_oom: bool = False) -> VMA:
        """vma_modify_flags_uffd() with a null userfaultfd context.  The VMA to
        modify (KernelError carrying the -errno if it fails)."""
        ffi = self.k.ffi
        word = ffi.new("unsigned long *", self._flags(flags))
        err = ffi.new("long *")
        ptr = self._call(self.k.lib.pyvma_modify_flags_uffd, vmi.ptr,
                         prev.ptr if prev else ffi.NULL, vma.ptr, start, end, word,
                         int(give_up_on_oom), err)
        return self._vma_or_raise("vma_modify_flags_uffd()", ptr, err)

    def merge_extend(self, vmi: VMI, vma: VMA, delta: int) -> VMA | None:
        """vma_merge_extend(): grow *vma* by *delta* bytes, merging with what follows;
        None where the kernel returns NULL (it gives no errno)."""
        return self._vma(self._call(self.k.lib.pyvma_merge_extend, vmi.ptr, vma.ptr, delta))

    def copy_vma(self, vma: VMA, addr: int, length: int, pgoff: int,
                 anon_pgoff: int | None = None, need_rmap_locks: bool = False,
                 keep_source: bool = False) -> tuple[VMA | None, VMA, bool]:
        """copy_vma() (mremap's move): (the new or merged VMA, *vma* as copy_vma left
        it, need_rmap_locks); the new VMA is None where copy_vma() returns NULL (it
        gives no errno).  *anon_pgoff* defaults to *pgoff*; trees whose copy_vma
        takes none ignore it.  *keep_source* needs feature ``copy_vma_keep_source``."""
        if keep_source and not self.k.has("copy_vma_keep_source"):
            raise PyvmaError(f"copy_vma() of {self.k.version} has no keep_source "
                             "(MREMAP_DONTUNMAP's distinct source and copy)")
        ffi = self.k.ffi
        vmap = ffi.new("struct vm_area_struct *[1]", [vma.ptr])
        need = ffi.new("int *", int(need_rmap_locks))
        ptr = self._call(self.k.lib.pyvma_copy_vma, vmap, addr, length, pgoff,
                         pgoff if anon_pgoff is None else anon_pgoff, need, int(keep_source))
        return self._vma(ptr), VMA(self, vmap[0]), bool(need[0])

    def mmap_region(self, addr: int, length: int, flags: int | Iterable[str] | None = None,
                    pgoff: int | None = None, file: File | None = None) -> int:
        """The tree's __mmap_region() (trees whose mm/vma.c has it: feature
        ``mmap_region``) with this mm as current->mm: the address mapped."""
        if file is not None:
            self.objects.remember_file(file)
        pgoff = addr // PAGE_SIZE if pgoff is None else pgoff
        return self._ok("__mmap_region()", self._call(self.k.lib.pyvma_mmap_region,
                                                      file.ptr if file else self.k.ffi.NULL,
                                                      addr, length, self._flags(flags), pgoff))

    def mmap(self, addr: int, length: int, flags: int | Iterable[str] | None = None,
             pgoff: int | None = None, file: File | None = None, uf: bool = False) -> int:
        """The tree's mmap_region() (feature ``mmap_region_checks``): the MDWE check,
        the writable-file-mapping check, then __mmap_region(): the address mapped.
        *uf*: with a userfaultfd unmap list."""
        if file is not None:
            self.objects.remember_file(file)
        pgoff = addr // PAGE_SIZE if pgoff is None else pgoff
        return self._ok("mmap_region()", self._call(self.k.lib.pyvma_mmap,
                                                    file.ptr if file else self.k.ffi.NULL,
                                                    addr, length, self._flags(flags), pgoff,
                                                    int(uf)))

    def brk(self, vma: VMA | None, addr: int, length: int,
            flags: int | Iterable[str] | None = 0, vmi: VMI | None = None) -> None:
        """do_brk_flags(vmi, vma, addr, length, flags) (feature ``do_brk_flags``).
        *vmi* defaults to where brk() leaves it: at *addr*, walked to the
        next VMA and back to the previous one."""
        if vmi is None:
            vmi = self.vmi(addr)
            vmi.next()
            vmi.prev()
        self._ok("do_brk_flags()", self._call(self.k.lib.pyvma_brk, vmi.ptr,
                                              vma.ptr if vma else self.k.ffi.NULL, addr,
                                              length, self._flags(flags)))

    def unmapped_area(self, length: int, low: int, high: int, align_mask: int = 0,
                      align_offset: int = 0, start_gap: int = 0,
                      topdown: bool = False) -> int:
        """unmapped_area() / unmapped_area_topdown() (feature ``unmapped_area``): the
        address of a free range of *length* in [low, high)."""
        ret = self._call(self.k.lib.pyvma_unmapped_area, length, low, high, align_mask,
                         align_offset, start_gap, int(topdown))
        return self._ok("unmapped_area_topdown()" if topdown else "unmapped_area()", ret)

    def create_init_stack_vma(self) -> VMA:
        """create_init_stack_vma() (feature ``vma_exec.c``): exec's one-page stack at
        STACK_TOP_MAX (KernelError carrying the -errno if it fails)."""
        err = self.k.ffi.new("long *")
        ptr = self._call(self.k.lib.pyvma_create_init_stack_vma, self.ptr, err)
        return self._vma_or_raise("create_init_stack_vma()", ptr, err)

    def relocate_vma_down(self, vma: VMA, shift: int) -> None:
        """relocate_vma_down(vma, shift) (feature ``vma_exec.c``): *vma* moved down by
        *shift* bytes, nothing may be in between."""
        self._ok("relocate_vma_down()", self._call(self.k.lib.pyvma_relocate_vma_down,
                                                   vma.ptr, shift))

    def expand_downwards(self, vma: VMA, addr: int) -> None:
        """expand_downwards(vma, addr) (feature ``expand_downwards``)."""
        self._ok("expand_downwards()", self._call(self.k.lib.pyvma_expand_downwards,
                                                  vma.ptr, addr))

    def insert_vm_struct(self, vma: VMA) -> None:
        """insert_vm_struct() of a VMA from alloc() (feature ``insert_vm_struct``)."""
        self._ok("insert_vm_struct()", self._call(self.k.lib.pyvma_insert_vm_struct,
                                                  self.ptr, vma.ptr))

    def install_special_mapping(self, addr: int, length: int,
                                flags: int | Iterable[str] | None = None,
                                ops: Iterable[str] | None = None) -> VMA:
        """__install_special_mapping() (feature ``install_special_mapping``) with
        harness vm_operations having *ops* (None: no vm_ops): the VMA (KernelError
        carrying the -errno if it fails)."""
        err = self.k.ffi.new("long *")
        ptr = self._call(self.k.lib.pyvma_install_special_mapping, self.ptr, addr, length,
                         self._flags(flags), -1 if ops is None else _ops_bits(self.k, ops),
                         err)
        return self._vma_or_raise("__install_special_mapping()", ptr, err)

    def find_mergeable_anon_vma(self, vma: VMA) -> AnonVma | None:
        """find_mergeable_anon_vma(vma): a neighbour's anon_vma *vma* may share."""
        return self.objects.anon_of(self._call(self.k.lib.pyvma_find_mergeable_anon_vma, vma.ptr))

    def anon_vma_prepare(self, vma: VMA) -> None:
        """anon_vma_prepare(vma) as a first fault calls it: the harness's
        __anon_vma_prepare() takes find_mergeable_anon_vma()'s answer or a new
        anon_vma."""
        self._ok("anon_vma_prepare()", self._call(self.k.lib.pyvma_anon_vma_prepare, vma.ptr))

    def take_all_locks(self) -> None:
        """mm_take_all_locks() (KernelError -EINTR with a fatal signal pending)."""
        self._ok("mm_take_all_locks()", self._call(self.k.lib.pyvma_mm_take_all_locks,
                                                   self.ptr))

    def drop_all_locks(self) -> None:
        """mm_drop_all_locks()."""
        self._call(self.k.lib.pyvma_mm_drop_all_locks, self.ptr)

    def unlink_file_vmas(self, vmas: Iterable[VMA]) -> None:
        """unlink_file_vma_batch_init/add/final() over *vmas* (what free_pgtables()
        does with the VMAs it frees)."""
        lst = list(vmas)
        arr = self.k.ffi.new("struct vm_area_struct *[]", [v.ptr for v in lst] or [self.k.ffi.NULL])
        self._call(self.k.lib.pyvma_unlink_file_vmas, arr, len(lst))

    def set_def_flags(self, flags: int | Iterable[str]) -> None:
        """mm->def_flags (and def_vma_flags): flags every new mapping gets."""
        self.k.lib.pyvma_mm_set_def_flags(self.ptr, self._flags(flags))

    def set_mdwe(self, on: bool = True) -> None:
        """Set or clear MMF_HAS_MDWE (memory-deny-write-execute) on the mm."""
        if self.k.lib.pyvma_mm_set_mdwe(self.ptr, int(on)):
            raise PyvmaError(f"{self.k.version} has no MMF_HAS_MDWE")

    def cleanup(self) -> int:
        """Upstream's cleanup_mm(): free every VMA, empty the tree, zero map_count, and
        clear the forced prealloc failure and the anon_vma clone/unlink accounting.
        Returns how many VMAs were freed; the mm stays usable, and its iterators
        restart at 0."""
        n = self._call(self.k.lib.pyvma_mm_cleanup, self.ptr)
        for vmi in list(self.objects.vmis):    # their walk state points into the old tree
            vmi.set(0)
        self.k.fail_prealloc(False)
        self.k.lib.pyvma_anon_reset()
        return int(n)

    MM_COUNTERS = ("total_vm", "locked_vm", "pinned_vm", "data_vm", "exec_vm", "stack_vm",
                   "hiwater_vm")

    @property
    def counters(self) -> dict[str, int]:
        """The mm's page counters (total_vm, locked_vm, …), as vm_stat_account() and
        munmap keep them."""
        buf = self.k.ffi.new("unsigned long[]", len(self.MM_COUNTERS))
        self.k.lib.pyvma_mm_counters(self.ptr, buf, len(self.MM_COUNTERS))
        return {n: int(buf[i]) for i, n in enumerate(self.MM_COUNTERS)}

    def set_counter(self, name: str, value: int) -> None:
        """Preset one of the mm's page counters (see ``counters``)."""
        self.k.lib.pyvma_mm_set_counter(self.ptr, self.MM_COUNTERS.index(name), value)

    # -- reading ----------------------------------------------------------------
    @property
    def map_count(self) -> int:
        return int(self.k.lib.pyvma_mm_map_count(self.ptr))

    def vmas(self) -> list[VMA]:
        n = self.k.lib.pyvma_mm_walk(self.ptr, self.k.ffi.NULL, 0)
        buf = self.k.ffi.new("struct pyvma_vma_info[]", max(n, 1))
        self.k.lib.pyvma_mm_walk(self.ptr, buf, n)
        return [VMA(self, buf[i].vma) for i in range(n)]

    def layout(self) -> list[Region]:
        n = self.k.lib.pyvma_mm_walk(self.ptr, self.k.ffi.NULL, 0)
        buf = self.k.ffi.new("struct pyvma_vma_info[]", max(n, 1))
        self.k.lib.pyvma_mm_walk(self.ptr, buf, n)
        cast = self.k.ffi.cast
        return [Region(int(b.start), int(b.end), int(b.pgoff), int(b.flags),
                       int(cast("uintptr_t", b.anon_vma)), int(cast("uintptr_t", b.file)))
                for b in (buf[i] for i in range(n))]

    def from_diagram(self, diagram: str, flags: int | Iterable[str] | None = None,
                     page: int = PAGE_SIZE) -> dict[str, VMA]:
        """Set a scene in upstream's style: ``mm.from_diagram("AAA BB  CC")`` maps one
        VMA per letter run (pgoff = its first page) and returns them by letter."""
        from .diagram import parse
        out: dict[str, VMA] = {}
        for letter, s, e in parse(diagram):
            out[letter] = self.map(s * page, e * page, s, flags)
        return out

    @classmethod
    def from_smaps(cls, k: Kernel, text: str) -> MM:
        """A new MM of *k* holding the layout of an smaps/maps text or a PROCMAP_QUERY
        dump (see pyvma/oracle/load.py); an unrepresentable line raises, naming it."""
        from ..oracle.load import from_text
        return from_text(k, text)

    def diagram(self, page: int = PAGE_SIZE) -> str:
        from .diagram import render
        return render(self.layout(), page, self.k.names_of)

    def check(self) -> None:
        """Raise InvariantError unless the tree, the walk and map_count agree."""
        rc = self._call(self.k.lib.pyvma_mm_check, self.ptr, self._msg, 256)
        if rc:
            raise InvariantError(self.k.ffi.string(self._msg).decode()
                                 + "\n" + self.diagram())

    def close(self) -> int:
        """Free every VMA and the mm, let go of the anon_vmas and files this mm's
        objects remembered, and free those nothing holds any more
        (``Kernel.release_objects()``); returns how many VMAs were freed."""
        if self.ptr is None:
            return 0
        n = self._call(self.k.lib.pyvma_mm_destroy, self.ptr)
        self.ptr = None
        self.objects.clear()
        self.k.release_objects()
        return n

    def __enter__(self) -> MM:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
