# SPDX-License-Identifier: GPL-2.0-or-later
"""The Python API: a loaded kernel build, its address spaces and VMAs.

Addresses are bytes; flags are the tree's own values, named by the tree's own
names (``k.flag("VM_READ", "VM_WRITE")``).  Nothing here restates a kernel mask:
``k.mask("VMA_STICKY_FLAGS")`` is what the built tree says it is.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from .errors import PyvmaError

PAGE_SIZE = 0x1000
MERGE_STATES = {0: "start", 1: "nomem", 2: "nomerge", 3: "success"}
EBUG = -4096


@dataclass(frozen=True)
class Site:
    """A WARN or BUG site in kernel code."""

    file: str
    line: int
    cond: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.cond}"


class KernelBug(PyvmaError):
    """A BUG_ON/VM_BUG_ON (or a maple tree dump_stack()) fired in kernel code."""

    def __init__(self, site: Site, warnings: list[Site]):
        self.site = site
        self.warnings = warnings
        msg = f"kernel BUG at {site}"
        if warnings:
            msg += "\nWARNs before it:\n" + "\n".join(f"  {w}" for w in warnings)
        super().__init__(msg)


class InvariantError(PyvmaError):
    """The address space is inconsistent (maple tree, ordering, map_count)."""


class Kernel:
    """One built kernel tree loaded into this process."""

    def __init__(self, tree, build, config) -> None:
        self.tree = tree
        self.build = build
        self.config = config
        # cffi's description of the API (out-of-line ABI mode), then the library.
        # RTLD_LOCAL: two trees' libraries in one process never see each other;
        # RTLD_NODELETE: never unmapped (liburcu's call_rcu thread may still run
        # the maple tree's callbacks in it while the interpreter exits)
        # (read as data, never executed: see build.load_abi)
        from .build import load_abi
        self.ffi = load_abi(build.abi_path)
        self.lib = self.ffi.dlopen(str(build.module_path), self.ffi.RTLD_NOW
                                   | self.ffi.RTLD_LOCAL | self.ffi.RTLD_NODELETE)
        self._flags: dict[str, int] = {}
        self._masks: dict[str, int] = {}
        f = self.ffi.new("struct pyvma_flag *")
        for i in range(self.lib.pyvma_flag_count()):
            self.lib.pyvma_flag_get(i, f)
            name = self.ffi.string(f.name).decode()
            (self._masks if f.is_mask else self._flags)[name] = int(f.value)
        self._names_cache: dict[int, frozenset[str]] = {}
        self._sorted_cache: dict[int, tuple[str, ...]] = {}
        self._site = self.ffi.new("struct pyvma_site *")
        self._state = self.ffi.new("int *")

    # -- identity -------------------------------------------------------------
    @property
    def version(self) -> str:
        return self.tree.version_str

    @property
    def name(self) -> str:
        return self.tree.name

    @property
    def label(self) -> str:
        """The tree as a developer names it: ``7.2.13``, or with its patches
        ``7.2.13 + "mm: make VMA page offset handling more consistent" v2 [1-8]``."""
        return self.tree.origin.get("label") or self.tree.version_str

    @property
    def replay_args(self) -> list[str]:
        """``--kernel SPEC [--series MBOX --patches 1-8]``: this tree again, when pasted."""
        args = self.tree.origin.get("replay_args")
        return list(args) if args else ["--kernel", str(self.tree.origin.get("spec")
                                                        or self.tree.root)]

    @property
    def features(self) -> frozenset[str]:
        return self.tree.features

    def has(self, feature: str) -> bool:
        """Whether the tree has ``feature`` (a name in pyvma/features.py; unknown: raises)."""
        return self.tree.has(feature)

    def __repr__(self) -> str:
        return f"<Kernel {self.version} ({self.tree.root}) build {self.build.key}>"

    # -- flags ----------------------------------------------------------------
    @property
    def flag_names(self) -> tuple[str, ...]:
        """Every single flag this tree and config give a non-zero value."""
        return tuple(n for n, v in self._flags.items() if v)

    def has_flag(self, name: str) -> bool:
        return bool(self._flags.get(name))

    def flag(self, *names: str) -> int:
        """The OR of the named flags; a flag the tree lacks (or has as VM_NONE) fails."""
        value = 0
        for n in names:
            v = self._flags.get(n) or self._masks.get(n)
            if not v:
                raise PyvmaError(f"{n} is not a flag of {self.version} with this config "
                                 f"(known: {', '.join(self.flag_names)})")
            value |= v
        return value

    def mask(self, name: str) -> int:
        """A mask as the built tree defines it (0 when the tree has no such mask)."""
        return self._masks.get(name, 0)

    @property
    def sticky_mask(self) -> int:
        return self.mask("VMA_STICKY_FLAGS") or self.mask("VM_STICKY")

    @property
    def ignore_merge_mask(self) -> int:
        return self.mask("VMA_IGNORE_MERGE_FLAGS") or self.mask("VM_IGNORE_MERGE")

    def names_of(self, value: int) -> frozenset[str]:
        """The flag names set in *value*."""
        names = self._names_cache.get(value)
        if names is None:
            names = frozenset(n for n, v in self._flags.items()
                              if v and v & (v - 1) == 0 and value & v)
            self._names_cache[value] = names
        return names

    def sorted_names_of(self, value: int) -> tuple[str, ...]:
        names = self._sorted_cache.get(value)
        if names is None:
            names = self._sorted_cache[value] = tuple(sorted(self.names_of(value)))
        return names

    # -- WARN / BUG -----------------------------------------------------------
    def warnings(self) -> list[Site]:
        out = []
        for i in range(min(self.lib.pyvma_warn_count(), 256)):
            self.lib.pyvma_warn_get(i, self._site)
            out.append(self._site_of(self._site))
        return out

    def clear_warnings(self) -> None:
        self.lib.pyvma_warn_clear()

    def _site_of(self, s) -> Site:
        return Site(self.ffi.string(s.file).decode(), s.line, self.ffi.string(s.cond).decode())

    def _check_bug(self) -> None:
        if self.lib.pyvma_bug_get(self._site):
            site = self._site_of(self._site)
            self.lib.pyvma_bug_clear()
            raise KernelBug(site, self.warnings())

    # -- objects --------------------------------------------------------------
    def mm(self, check_each: bool = False) -> "MM":
        """A new address space; with *check_each*, invariants are checked after every
        operation."""
        return MM(self, check_each)

    def anon_vma(self) -> "AnonVma":
        return AnonVma(self)

    def file(self, **behaviour) -> "File":
        """A new dummy file; keyword arguments go to ``File.behave``."""
        f = File(self)
        if behaviour:
            f.behave(**behaviour)
        return f

    def fail_anon_vma_clone(self, fail: bool = True) -> None:
        """Make anon_vma_clone() fail with -ENOMEM (upstream's forced failure)."""
        self.lib.pyvma_set_fail_clone(int(fail))

    def fail_prealloc(self, fail: bool = True) -> None:
        """Make vma_iter_prealloc() fail with -ENOMEM (upstream's fail_prealloc)."""
        self.lib.pyvma_set_fail_prealloc(int(fail))

    # names of the services fail() can make fail (PYVMA_FAULT_* in csrc/pyvma_api.h)
    FAULTS = ("prealloc", "anon_vma_clone", "vma_alloc", "mas_store", "dup_policy",
              "may_expand_vm", "vm_enough_memory", "mlock_future_ok", "uffd_unmap_prep",
              "signal_pending", "anon_vma_prepare", "shmem_zero_setup",
              "mmap_action_prepare", "mmap_action_complete", "fatal_signal")

    def _fault(self, site: str) -> int:
        try:
            return getattr(self.lib, "PYVMA_FAULT_" + site.upper())
        except AttributeError:
            raise PyvmaError(f"no forced failure {site!r} (known: {', '.join(self.FAULTS)})")

    def fail(self, site: str, on: bool = True, after: int = 0, times: int = 0) -> None:
        """Make a kernel service fail: the first *after* calls go through, then *times*
        calls fail (0: every call until ``fail(site, False)`` or the end of the test).

        Sites: ``prealloc`` (vma_iter_prealloc), ``anon_vma_clone``, ``vma_alloc``
        (vm_area_alloc/vm_area_dup), ``mas_store`` (maple tree stores that allocate:
        mas_store_gfp, vma_iter_store_gfp, vma_iter_clear_gfp), ``dup_policy``
        (vma_dup_policy), ``may_expand_vm``, ``vm_enough_memory``
        (security_vm_enough_memory_mm), ``mlock_future_ok``, ``uffd_unmap_prep``
        (userfaultfd_unmap_prep), ``signal_pending`` (true instead of failing),
        ``anon_vma_prepare``, ``shmem_zero_setup``, ``mmap_action_prepare`` and
        ``mmap_action_complete`` (-EINVAL), ``fatal_signal`` (a pending SIGKILL:
        fatal_signal_pending() and signal_pending() are true, vma_start_write_killable()
        of a VMA not yet write-locked, mmap_write_lock_killable() and
        mutex_lock_killable() fail with -EINTR)."""
        self.lib.pyvma_fault_set(self._fault(site), int(on), after, times)

    def fault_calls(self, site: str) -> int:
        """How often the service *site* (see ``fail``) was called since the test began."""
        return int(self.lib.pyvma_fault_stat(self._fault(site), 0))

    def fault_hits(self, site: str) -> int:
        """How many of those calls were made to fail."""
        return int(self.lib.pyvma_fault_stat(self._fault(site), 1))

    LIMITS = {"as": 0, "memlock": 1, "stack": 2, "commit": 3}

    def set_limit(self, name: str, value: int | None) -> None:
        """Set RLIMIT_AS / RLIMIT_MEMLOCK / RLIMIT_STACK (``"as"``, ``"memlock"``,
        ``"stack"``, in bytes) or the overcommit limit (``"commit"``, pages) that the
        harness's may_expand_vm(), mlock_future_ok(), rlimit() and
        security_vm_enough_memory_mm() apply; None: unlimited."""
        self.lib.pyvma_set_limit(self.LIMITS[name], (1 << 64) - 1 if value is None else value)

    @property
    def committed(self) -> int:
        """Pages charged by security_vm_enough_memory_mm() and not given back by
        vm_unacct_memory() since the test began (vm_committed_as)."""
        return int(self.lib.pyvma_committed())

    @committed.setter
    def committed(self, pages: int) -> None:
        self.lib.pyvma_set_committed(pages)

    def set_max_map_count(self, count: int | None) -> None:
        """sysctl_max_map_count (None: the harness default)."""
        self.lib.pyvma_set_max_map_count(-1 if count is None else count)

    @property
    def locks_held(self) -> int:
        """rmap rwsems (i_mmap_rwsem, anon_vma root rwsem) write-held right now."""
        return int(self.lib.pyvma_locks_held())

    @property
    def ops_calls(self) -> dict[str, int]:
        """Calls of the harness vm_operations (``VMA.set_ops``) since the test began:
        open, close, may_split."""
        return {name: int(self.lib.pyvma_ops_stat(i))
                for i, name in enumerate(("open", "close", "may_split"))}

    def set_may_split_error(self, err: int) -> None:
        """What the harness ->may_split returns (0: the split may go ahead)."""
        self.lib.pyvma_set_may_split_err(err)

    def reset_services(self) -> None:
        """Forget forced failures, limits, overcommit charge, the lock registry and
        the vm_operations call counts (the ``kernel`` fixture does this around each
        test)."""
        self.lib.pyvma_fault_reset()
        self.lib.pyvma_limits_reset()
        self.lib.pyvma_locks_reset()
        self.lib.pyvma_ops_reset()

    @property
    def close_count(self) -> int:
        """How many times the harness vm_ops ->close (``set_vm_ops(close=True)``) ran."""
        return int(self.lib.pyvma_close_count())

    @property
    def vma_flags(self) -> "VmaFlags":
        """The tree's vma_flags_t helpers (``VmaFlags``)."""
        vf = self.__dict__.get("_vma_flags")
        if vf is None:
            vf = self.__dict__["_vma_flags"] = VmaFlags(self)
        return vf

    def is_mergeable_anon_vma(self, a: "AnonVma | None", b: "AnonVma | None",
                              vma: "VMA | None" = None) -> bool:
        """is_mergeable_anon_vma(a, b, vma) of trees where it compares two anon_vmas."""
        null = self.ffi.NULL
        ret = self.lib.pyvma_is_mergeable_anon_vma(a.ptr if a else null, b.ptr if b else null,
                                                   vma.ptr if vma else null)
        if ret < 0:
            raise PyvmaError(f"is_mergeable_anon_vma() of {self.version} does not compare "
                             "two anon_vmas")
        return bool(ret)


class AnonVma:
    """A dummy anon_vma with clone/unlink accounting."""

    def __init__(self, k: Kernel, ptr=None) -> None:
        self.k = k
        self.ptr = k.lib.pyvma_anon_vma_new() if ptr is None else ptr
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
        return hash(int(self.k.ffi.cast("uintptr_t", self.ptr)))


class File:
    """A dummy struct file with its own address_space.

    Its ->mmap / ->mmap_prepare are absent until ``behave(mmap=True)`` /
    ``behave(mmap_prepare=True)`` installs the harness's, which do what
    ``behave`` says (fail, change flags, install vm_ops, ...).  The file's
    reference count, writable mappings (i_mmap_writable) and the VMAs in its
    rmap tree are kept as the kernel code moves them."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.ptr = k.lib.pyvma_file_new()

    def _set(self, what: str, value: int) -> None:
        self.k.lib.pyvma_file_set(self.ptr, getattr(self.k.lib, "PYVMA_FILE_" + what), value)

    def _stat(self, what: str) -> int:
        return int(self.k.lib.pyvma_file_stat(self.ptr, getattr(self.k.lib, "PYVMA_FILE_" + what)))

    def behave(self, mmap: bool | None = None, mmap_prepare: bool | None = None,
               err: int | None = None, set_flags: int | None = None,
               clear_flags: int | None = None, ops: "Iterable[str] | None | bool" = False,
               move_start: int | None = None, swap: "File | None" = None,
               pgoff_delta: int | None = None, hide_rmap: bool | None = None,
               can_writeback: bool | None = None) -> "File":
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


class VMA:
    """A view of a vm_area_struct.  Reading a VMA that a merge freed is a bug in the
    test, as it would be in the kernel: read the layout from the MM instead."""

    def __init__(self, mm: "MM", ptr) -> None:
        self.mm = mm
        self.ptr = ptr

    def _info(self):
        info = self.mm._info1
        self.mm.k.lib.pyvma_vma_info(self.ptr, info)
        return info

    start = property(lambda self: int(self._info().start))
    end = property(lambda self: int(self._info().end))
    pgoff = property(lambda self: int(self._info().pgoff))
    anon_pgoff = property(lambda self: int(self._info().anon_pgoff))
    flags = property(lambda self: int(self._info().flags))

    @property
    def flag_names(self) -> frozenset[str]:
        return self.mm.k.names_of(self.flags)

    def has(self, *names: str) -> bool:
        want = self.mm.k.flag(*names)
        return self.flags & want == want

    @property
    def anon_vma(self) -> AnonVma | None:
        ptr = self._info().anon_vma
        return self.mm._anon_of(ptr)

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
        self.mm._remember(av)
        if self.mm.k.lib.pyvma_vma_add_avc(self.ptr, av.ptr):
            raise PyvmaError("no room for another anon_vma_chain entry")

    def set_flags(self, flags: int) -> None:
        """Overwrite the VMA's flags (a test's direct edit of vma->flags)."""
        self.mm.k.lib.pyvma_vma_set_flags(self.ptr, flags)

    @property
    def file(self):
        return self._info().file

    def set_anon_vma(self, av: AnonVma | None) -> None:
        self.mm._remember(av)
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


class MM:
    """An address space (mm_struct) of one kernel."""

    def __init__(self, k: Kernel, check_each: bool = False) -> None:
        self.k = k
        self.check_each = check_each
        self.ptr = k.lib.pyvma_mm_new()
        self._info1 = k.ffi.new("struct pyvma_vma_info *")
        self._walk_buf = k.ffi.new("struct pyvma_vma_info[64]")
        self._anon: dict[int, AnonVma] = {}
        self._msg = k.ffi.new("char[256]")
        self.default_flags = k.flag("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
        self._files: dict[int, File] = {}
        self._vmis: "weakref.WeakSet[VMI]" = weakref.WeakSet()

    # -- helpers ----------------------------------------------------------------
    def _remember(self, av: AnonVma | None) -> None:
        if av is not None:
            self._anon[int(self.k.ffi.cast("uintptr_t", av.ptr))] = av

    def _anon_of(self, ptr) -> AnonVma | None:
        """The AnonVma for an anon_vma pointer (one the kernel code made is wrapped)."""
        if ptr == self.k.ffi.NULL:
            return None
        key = int(self.k.ffi.cast("uintptr_t", ptr))
        av = self._anon.get(key)
        if av is None:
            av = self._anon[key] = AnonVma(self.k, self.k.ffi.cast("struct anon_vma *", ptr))
        return av

    def _flags(self, flags: int | Iterable[str] | None) -> int:
        if flags is None:
            return self.default_flags
        if isinstance(flags, int):
            return flags
        return self.k.flag(*flags)

    def _vma(self, ptr) -> VMA | None:
        return VMA(self, ptr) if ptr != self.k.ffi.NULL else None

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
            self._files[int(self.k.ffi.cast("uintptr_t", file.ptr))] = file
            self.k.lib.pyvma_vma_set_file(vma.ptr, file.ptr)
        err = self._call(self.k.lib.pyvma_vma_link, self.ptr, vma.ptr)
        if err:
            self.k.lib.pyvma_vma_free(vma.ptr)
            raise PyvmaError(f"vma_link({start:#x}-{end:#x}) failed: {err}")
        return vma

    def link(self, vma: VMA) -> int:
        """vma_link() a VMA from alloc() into the tree (upstream's attach_vma()): 0 or
        -errno; the write-lock mark linking leaves is cleared, as map() does."""
        return int(self._call(self.k.lib.pyvma_vma_link, self.ptr, vma.ptr))

    def account(self, vma: VMA) -> None:
        """Account *vma*'s pages to the mm as mmap does (the tree's vm_stat_account())."""
        self.k.lib.pyvma_vma_account(self.ptr, vma.ptr)

    def merge_new(self, start: int, end: int, pgoff: int | None = None,
                  flags: int | Iterable[str] | None = None, anon_vma: AnonVma | None = None,
                  file: File | None = None) -> tuple[VMA | None, str]:
        """vma_merge_new_range() for [start, end): (merged VMA or None, state)."""
        pgoff = start // PAGE_SIZE if pgoff is None else pgoff
        self._remember(anon_vma)
        ptr = self._call(self.k.lib.pyvma_merge_new, self.ptr, start, end, pgoff,
                         self._flags(flags), anon_vma.ptr if anon_vma else self.k.ffi.NULL,
                         file.ptr if file else self.k.ffi.NULL, self.k._state)
        return self._vma(ptr), MERGE_STATES.get(self.k._state[0], "?")

    def merge_existing(self, middle: VMA, start: int, end: int,
                       flags: int | Iterable[str] | None = None, prev: VMA | None = None,
                       pgoff: int | None = None,
                       anon_vma: AnonVma | None = None) -> tuple[VMA | None, str]:
        """vma_merge_existing_range(): [start, end) of *middle* gets *flags*."""
        if pgoff is None:
            pgoff = middle.pgoff + (start - middle.start) // PAGE_SIZE
        av = anon_vma if anon_vma is not None else middle.anon_vma
        self._remember(av)
        ptr = self._call(self.k.lib.pyvma_merge_existing, self.ptr,
                         prev.ptr if prev else self.k.ffi.NULL, middle.ptr, start, end, pgoff,
                         self._flags(flags) if flags is not None else middle.flags,
                         av.ptr if av else self.k.ffi.NULL, self.k._state)
        return self._vma(ptr), MERGE_STATES.get(self.k._state[0], "?")

    def expand(self, target: VMA, start: int, end: int, next: VMA | None = None,
               pgoff: int | None = None) -> int:
        """vma_expand(): *target* grows to [start, end) (absorbing *next* if it ends there)."""
        pgoff = target.pgoff if pgoff is None else pgoff
        return self._call(self.k.lib.pyvma_expand, self.ptr, target.ptr,
                          next.ptr if next else self.k.ffi.NULL, start, end, pgoff,
                          self.k._state)

    def shrink(self, vma: VMA, start: int, end: int, pgoff: int | None = None) -> int:
        pgoff = vma.pgoff if pgoff is None else pgoff
        return self._call(self.k.lib.pyvma_shrink, self.ptr, vma.ptr, start, end, pgoff)

    def split(self, vma: VMA, addr: int, new_below: bool = False) -> int:
        return self._call(self.k.lib.pyvma_split, self.ptr, vma.ptr, addr, int(new_below))

    def munmap(self, start: int, end: int, uf: bool = False, unlock: bool = False) -> int:
        """do_vmi_munmap() of [start, end): 0 or -errno.  *uf*: with a userfaultfd
        unmap list; *unlock*: drop the mmap lock on success."""
        if not uf and not unlock:
            return self._call(self.k.lib.pyvma_munmap, self.ptr, start, end - start)
        return self._call(self.k.lib.pyvma_munmap_ex, self.ptr, start, end - start,
                          int(uf), int(unlock))

    def vm_munmap(self, start: int, length: int, unlock: bool = False) -> int:
        """__vm_munmap() in this mm (feature ``vm_munmap``): 0 or -errno."""
        return int(self._call(self.k.lib.pyvma_vm_munmap, start, length, int(unlock)))

    def vmi(self, addr: int = 0) -> VMI:
        """A long-lived iterator over this mm at *addr* (``VMA_ITERATOR``)."""
        return VMI(self, addr)

    def vmg(self, vmi: VMI | None = None) -> VMG:
        """A long-lived merge request on this mm using *vmi* (a new iterator at 0 by
        default); every other member starts zeroed."""
        return VMG(self, vmi)

    def modify_flags(self, vmi: VMI, prev: VMA | None, vma: VMA, start: int, end: int,
                     flags: int | Iterable[str] | None = None) -> VMA | int:
        """vma_modify_flags(): split/merge so [start, end) of *vma* can take *flags*.
        The VMA to modify, or -errno."""
        ffi = self.k.ffi
        word = ffi.new("unsigned long *", self._flags(flags))
        err = ffi.new("long *")
        ptr = self._call(self.k.lib.pyvma_modify_flags, vmi.ptr, prev.ptr if prev else ffi.NULL,
                         vma.ptr, start, end, word, err)
        return int(err[0]) if err[0] else self._vma(ptr)

    def modify_name(self, vmi: VMI, prev: VMA | None, vma: VMA, start: int, end: int,
                    name: str | None, flags: int | Iterable[str] | None = None) -> VMA | int:
        """vma_modify_name() with a new anon_vma_name *name* (None: no name); on trees
        with vma_modify_flags_name() instead, that, with *flags* (default: the VMA's).
        The VMA to modify, or -errno."""
        ffi = self.k.ffi
        err = ffi.new("long *")
        word = vma.flags if flags is None else self._flags(flags)
        ptr = self._call(self.k.lib.pyvma_modify_name, vmi.ptr, prev.ptr if prev else ffi.NULL,
                         vma.ptr, start, end, word,
                         name.encode() if name is not None else ffi.NULL, err)
        return int(err[0]) if err[0] else self._vma(ptr)

    def modify_policy(self, vmi: VMI, prev: VMA | None, vma: VMA, start: int,
                      end: int) -> VMA | int:
        """vma_modify_policy() with a NULL mempolicy (the harness has no policies;
        mpol_equal() is stubbed true).  The VMA to modify, or -errno."""
        ffi = self.k.ffi
        err = ffi.new("long *")
        ptr = self._call(self.k.lib.pyvma_modify_policy, vmi.ptr,
                         prev.ptr if prev else ffi.NULL, vma.ptr, start, end, err)
        return int(err[0]) if err[0] else self._vma(ptr)

    def modify_flags_uffd(self, vmi: VMI, prev: VMA | None, vma: VMA, start: int, end: int,
                          flags: int | Iterable[str] | None = None,
                          give_up_on_oom: bool = False) -> VMA | int:
        """vma_modify_flags_uffd() with a null userfaultfd context.  The VMA to
        modify, or -errno."""
        ffi = self.k.ffi
        word = ffi.new("unsigned long *", self._flags(flags))
        err = ffi.new("long *")
        ptr = self._call(self.k.lib.pyvma_modify_flags_uffd, vmi.ptr,
                         prev.ptr if prev else ffi.NULL, vma.ptr, start, end, word,
                         int(give_up_on_oom), err)
        return int(err[0]) if err[0] else self._vma(ptr)

    def merge_extend(self, vmi: VMI, vma: VMA, delta: int) -> VMA | None:
        """vma_merge_extend(): grow *vma* by *delta* bytes, merging with what follows."""
        return self._vma(self._call(self.k.lib.pyvma_merge_extend, vmi.ptr, vma.ptr, delta))

    def copy_vma(self, vma: VMA, addr: int, length: int, pgoff: int,
                 anon_pgoff: int | None = None, need_rmap_locks: bool = False,
                 keep_source: bool = False) -> tuple[VMA | None, VMA, bool]:
        """copy_vma() (mremap's move): (the new or merged VMA, *vma* as copy_vma left
        it, need_rmap_locks).  *anon_pgoff* defaults to *pgoff*; trees whose copy_vma
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
        ``mmap_region``) with this mm as current->mm: the address, or -errno."""
        if file is not None:
            self._files[int(self.k.ffi.cast("uintptr_t", file.ptr))] = file
        pgoff = addr // PAGE_SIZE if pgoff is None else pgoff
        return int(self._call(self.k.lib.pyvma_mmap_region,
                              file.ptr if file else self.k.ffi.NULL, addr, length,
                              self._flags(flags), pgoff))

    def mmap(self, addr: int, length: int, flags: int | Iterable[str] | None = None,
             pgoff: int | None = None, file: File | None = None, uf: bool = False) -> int:
        """The tree's mmap_region() (feature ``mmap_region_checks``): the MDWE check,
        the writable-file-mapping check, then __mmap_region(); the address, or
        -errno.  *uf*: with a userfaultfd unmap list."""
        if file is not None:
            self._files[int(self.k.ffi.cast("uintptr_t", file.ptr))] = file
        pgoff = addr // PAGE_SIZE if pgoff is None else pgoff
        return int(self._call(self.k.lib.pyvma_mmap, file.ptr if file else self.k.ffi.NULL,
                              addr, length, self._flags(flags), pgoff, int(uf)))

    def brk(self, vma: VMA | None, addr: int, length: int,
            flags: int | Iterable[str] | None = 0, vmi: VMI | None = None) -> int:
        """do_brk_flags(vmi, vma, addr, length, flags) (feature ``do_brk_flags``): 0 or
        -errno.  *vmi* defaults to where brk() leaves it: at *addr*, walked to the
        next VMA and back to the previous one."""
        if vmi is None:
            vmi = self.vmi(addr)
            vmi.next()
            vmi.prev()
        return int(self._call(self.k.lib.pyvma_brk, vmi.ptr,
                              vma.ptr if vma else self.k.ffi.NULL, addr, length,
                              self._flags(flags)))

    def unmapped_area(self, length: int, low: int, high: int, align_mask: int = 0,
                      align_offset: int = 0, start_gap: int = 0,
                      topdown: bool = False) -> int:
        """unmapped_area() / unmapped_area_topdown() (feature ``unmapped_area``): the
        address of a free range of *length* in [low, high), or -errno."""
        ret = int(self._call(self.k.lib.pyvma_unmapped_area, length, low, high, align_mask,
                             align_offset, start_gap, int(topdown)))
        return ret

    def expand_downwards(self, vma: VMA, addr: int) -> int:
        """expand_downwards(vma, addr) (feature ``expand_downwards``): 0 or -errno."""
        return int(self._call(self.k.lib.pyvma_expand_downwards, vma.ptr, addr))

    def insert_vm_struct(self, vma: VMA) -> int:
        """insert_vm_struct() of a VMA from alloc() (feature ``insert_vm_struct``):
        0 or -errno."""
        return int(self._call(self.k.lib.pyvma_insert_vm_struct, self.ptr, vma.ptr))

    def install_special_mapping(self, addr: int, length: int,
                                flags: int | Iterable[str] | None = None,
                                ops: Iterable[str] | None = None) -> VMA | int:
        """__install_special_mapping() (feature ``install_special_mapping``) with
        harness vm_operations having *ops* (None: no vm_ops): the VMA or -errno."""
        err = self.k.ffi.new("long *")
        ptr = self._call(self.k.lib.pyvma_install_special_mapping, self.ptr, addr, length,
                         self._flags(flags), -1 if ops is None else _ops_bits(self.k, ops),
                         err)
        return int(err[0]) if err[0] else self._vma(ptr)

    def find_mergeable_anon_vma(self, vma: VMA) -> AnonVma | None:
        """find_mergeable_anon_vma(vma): a neighbour's anon_vma *vma* may share."""
        return self._anon_of(self._call(self.k.lib.pyvma_find_mergeable_anon_vma, vma.ptr))

    def anon_vma_prepare(self, vma: VMA) -> int:
        """anon_vma_prepare(vma) as a first fault calls it: the harness's
        __anon_vma_prepare() takes find_mergeable_anon_vma()'s answer or a new
        anon_vma.  0 or -errno."""
        return int(self._call(self.k.lib.pyvma_anon_vma_prepare, vma.ptr))

    def take_all_locks(self) -> int:
        """mm_take_all_locks(): 0 or -EINTR."""
        return int(self._call(self.k.lib.pyvma_mm_take_all_locks, self.ptr))

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
        for vmi in list(self._vmis):    # their walk state points into the old tree
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
        """Free every VMA and the mm; returns how many VMAs were freed."""
        if self.ptr is None:
            return 0
        n = self._call(self.k.lib.pyvma_mm_destroy, self.ptr)
        self.ptr = None
        return n

    def __enter__(self) -> "MM":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class VMI:
    """A long-lived vma_iterator over an mm (upstream's ``VMA_ITERATOR(vmi, &mm, addr)``)."""

    def __init__(self, mm: "MM", addr: int = 0) -> None:
        self.mm = mm
        lib = mm.k.lib
        self.ptr = mm.k.ffi.gc(lib.pyvma_vmi_new(mm.ptr, addr), lib.pyvma_vmi_free)
        mm._vmis.add(self)

    def set(self, addr: int) -> None:
        """vma_iter_set(): restart the walk at *addr*."""
        self.mm.k.lib.pyvma_vmi_set(self.ptr, addr)

    @property
    def addr(self) -> int:
        """vma_iter_addr(): where the iterator stands."""
        return int(self.mm.k.lib.pyvma_vmi_addr(self.ptr))

    def load(self) -> "VMA | None":
        """vma_iter_load(): the VMA at the iterator's position."""
        return self.mm._vma(self.mm._call(self.mm.k.lib.pyvma_vmi_step, self.ptr, 0))

    def next(self) -> "VMA | None":
        """vma_next(): the next VMA, moving the iterator."""
        return self.mm._vma(self.mm._call(self.mm.k.lib.pyvma_vmi_step, self.ptr, 1))

    def prev(self) -> "VMA | None":
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

    def __init__(self, mm: "MM", vmi: VMI | None = None) -> None:
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
                self.mm._remember(value)
            elif kind == "file" and value is not None:
                self.mm._files[int(ffi.cast("uintptr_t", value.ptr))] = value
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
            return self.mm._anon.get(raw) if raw else None
        if kind == "file":
            return self.mm._files.get(raw) if raw else None
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

    def merge_new(self) -> "VMA | None":
        """Upstream's merge_new(): prev and next from the iterator, then
        vma_merge_new_range()."""
        return self.mm._vma(self.mm._call(self.mm.k.lib.pyvma_vmg_merge_new, self.ptr, 1))

    def merge_new_range(self) -> "VMA | None":
        """vma_merge_new_range() on the request as it stands."""
        return self.mm._vma(self.mm._call(self.mm.k.lib.pyvma_vmg_merge_new, self.ptr, 0))

    def merge_existing(self) -> "VMA | None":
        """vma_merge_existing_range() on the request as it stands."""
        return self.mm._vma(self.mm._call(self.mm.k.lib.pyvma_vmg_merge_existing, self.ptr))

    def expand(self) -> int:
        """vma_expand() on the request as it stands: 0 or -errno."""
        return int(self.mm._call(self.mm.k.lib.pyvma_vmg_expand, self.ptr))


# name -> (op, on, argument kind, result kind) for VmaFlags.  on: "flags" (a
# vma_flags_t), "vma" (a VMA holding them), "desc" (a VMA descriptor holding them)
# or None; argument: "bits", "bit", "mask", "word" or ""; result: "flags" (a new
# value), "update" (the operand, changed), "bool", "int" or "word".
_VMA_FLAGS_HELPERS: dict[str, tuple[str, str | None, str, str]] = {
    "mk_vma_flags": ("MK", None, "bits", "flags"),
    "append_vma_flags": ("APPEND", "flags", "bits", "flags"),
    "vma_flags_count": ("COUNT", "flags", "", "int"),
    "vma_flags_empty": ("EMPTY", "flags", "", "bool"),
    "vma_flags_test": ("TEST", "flags", "bit", "bool"),
    "vma_flags_test_single_mask": ("TEST_SINGLE_MASK", "flags", "mask", "bool"),
    "vma_flags_test_any": ("TEST_ANY", "flags", "bits", "bool"),
    "vma_flags_test_any_mask": ("TEST_ANY_MASK", "flags", "mask", "bool"),
    "vma_flags_test_all": ("TEST_ALL", "flags", "bits", "bool"),
    "vma_flags_test_all_mask": ("TEST_ALL_MASK", "flags", "mask", "bool"),
    "vma_flags_set": ("SET", "flags", "bits", "update"),
    "vma_flags_set_mask": ("SET_MASK", "flags", "mask", "update"),
    "vma_flags_clear": ("CLEAR", "flags", "bits", "update"),
    "vma_flags_clear_mask": ("CLEAR_MASK", "flags", "mask", "update"),
    "vma_flags_clear_all": ("CLEAR_ALL", "flags", "", "update"),
    "vma_flags_and": ("AND", "flags", "bits", "flags"),
    "vma_flags_and_mask": ("AND_MASK", "flags", "mask", "flags"),
    "vma_flags_diff_pair": ("DIFF_PAIR", "flags", "mask", "flags"),
    "vma_flags_same": ("SAME", "flags", "bits", "bool"),
    "vma_flags_same_mask": ("SAME_MASK", "flags", "mask", "bool"),
    "vma_flags_same_pair": ("SAME_PAIR", "flags", "mask", "bool"),
    "vma_flags_to_legacy": ("TO_LEGACY", "flags", "", "word"),
    "legacy_to_vma_flags": ("FROM_LEGACY", None, "word", "flags"),
    "vma_flags_overwrite_word": ("OVERWRITE_WORD", "flags", "word", "update"),
    "vma_flags_overwrite_word_once": ("OVERWRITE_WORD_ONCE", "flags", "word", "update"),
    "vma_flags_set_word": ("SET_WORD", "flags", "word", "update"),
    "vma_flags_clear_word": ("CLEAR_WORD", "flags", "word", "update"),
    "vma_test": ("VMA_TEST", "vma", "bit", "bool"),
    "vma_test_single_mask": ("VMA_TEST_SINGLE_MASK", "vma", "mask", "bool"),
    "vma_test_any": ("VMA_TEST_ANY", "vma", "bits", "bool"),
    "vma_test_any_mask": ("VMA_TEST_ANY_MASK", "vma", "mask", "bool"),
    "vma_test_all": ("VMA_TEST_ALL", "vma", "bits", "bool"),
    "vma_test_all_mask": ("VMA_TEST_ALL_MASK", "vma", "mask", "bool"),
    "vma_set_flags": ("VMA_SET", "vma", "bits", "update"),
    "vma_set_flags_mask": ("VMA_SET_MASK", "vma", "mask", "update"),
    "vma_clear_flags": ("VMA_CLEAR", "vma", "bits", "update"),
    "vma_clear_flags_mask": ("VMA_CLEAR_MASK", "vma", "mask", "update"),
    "vma_desc_test": ("DESC_TEST", "desc", "bit", "bool"),
    "vma_desc_test_any": ("DESC_TEST_ANY", "desc", "bits", "bool"),
    "vma_desc_test_all": ("DESC_TEST_ALL", "desc", "bits", "bool"),
    "vma_desc_set_flags": ("DESC_SET", "desc", "bits", "update"),
    "vma_desc_set_flags_mask": ("DESC_SET_MASK", "desc", "mask", "update"),
    "vma_desc_clear_flags": ("DESC_CLEAR", "desc", "bits", "update"),
    "vma_desc_clear_flags_mask": ("DESC_CLEAR_MASK", "desc", "mask", "update"),
}


class VmaFlags:
    """The tree's vma_flags_t helpers (include/linux/mm.h, mm_types.h), compiled into
    the build and run on Python ints (bit *i* of the int is VMA flag bit *i*).

    Every helper of ``_VMA_FLAGS_HELPERS`` is a method of the same name taking the
    operand first: ``vf.vma_flags_set(flags, bit, ...)`` returns the updated flags,
    ``vf.vma_flags_test_any(flags, bit, ...)`` a bool, ``vf.vma_flags_and(flags, bit,
    ...)`` the result.  ``vma_*``/``vma_desc_*`` helpers run on a VMA / a VMA
    descriptor whose flags are the operand.  Bits are numbers or names
    (``"VMA_READ_BIT"`` or ``"VM_READ"``); variadic helpers take 1 to 12 bits."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.nbits = int(k.lib.pyvma_vma_flags_bits())
        self.words = int(k.lib.pyvma_vma_flags_words())
        n = max(self.words, 1)
        self._a = k.ffi.new("unsigned long[]", n)
        self._b = k.ffi.new("unsigned long[]", n)
        self._out = k.ffi.new("unsigned long[]", n)
        self._bits = k.ffi.new("int[]", 12)

    @property
    def available(self) -> bool:
        """Whether the tree has vma_flags_t (and so these helpers)."""
        return self.words > 0

    def bit(self, name: int | str) -> int:
        """The bit number of a flag: ``"VMA_READ_BIT"``, ``"VM_READ"`` or a number."""
        if isinstance(name, int):
            return name
        if name.startswith("VMA_") and name.endswith("_BIT"):
            name = "VM_" + name[4:-4]
        v = self.k.flag(name)
        if v & (v - 1):
            raise PyvmaError(f"{name} is not a single flag in {self.k.version}")
        return v.bit_length() - 1

    def mk(self, *bits: int | str) -> int:
        """A flags value with the given bits (as a Python int, no C call)."""
        v = 0
        for b in bits:
            v |= 1 << self.bit(b)
        return v

    def mask(self, name: str) -> int:
        """A vma_flags_t mask of the tree by name (VMA_SPECIAL_FLAGS, VMA_REMAP_FLAGS…)."""
        return self.k.mask(name)

    def _put(self, buf, value: int) -> None:
        for i in range(self.words):
            buf[i] = (value >> (64 * i)) & 0xFFFFFFFFFFFFFFFF

    def _take(self, buf) -> int:
        return sum(int(buf[i]) << (64 * i) for i in range(self.words))

    def call(self, name: str, *args):
        """Run the helper *name* (see the class docstring) on *args*."""
        if not self.available:
            raise PyvmaError(f"kernel {self.k.version} has no vma_flags_t")
        op, on, arg, result = _VMA_FLAGS_HELPERS[name]
        args = list(args)
        operand = args.pop(0) if on is not None else 0
        self._put(self._a, operand)
        self._put(self._b, 0)
        nbits = 0
        if arg in ("bits", "bit"):
            if not 1 <= len(args) <= (1 if arg == "bit" else 12):
                raise PyvmaError(f"{name}() takes {'one bit' if arg == 'bit' else '1 to 12 bits'}")
            for i, b in enumerate(args):
                self._bits[i] = self.bit(b)
            nbits = len(args)
        elif arg in ("mask", "word"):
            if len(args) != 1:
                raise PyvmaError(f"{name}() takes one {arg}")
            self._put(self._b, args[0])
            if arg == "word":
                self._b[0] = args[0] & 0xFFFFFFFFFFFFFFFF
        elif args:
            raise PyvmaError(f"{name}() takes only the flags")
        ret = self.k.lib.pyvma_vma_flags_op(getattr(self.k.lib, "PYVMA_VF_" + op), self._a,
                                            self._b, self._bits, nbits, self._out)
        if ret < 0:
            raise PyvmaError(f"{name}() failed in {self.k.version}: {ret}")
        if result == "bool":
            return bool(ret)
        if result == "int":
            return int(ret)
        if result == "update":
            return self._take(self._a)
        if result == "word":
            return int(self._out[0])
        return self._take(self._out)


def _vma_flags_method(name: str):
    def method(self, *args):
        return self.call(name, *args)
    method.__name__ = name
    method.__doc__ = f"The tree's {name}() (see VmaFlags)."
    return method


for _name in _VMA_FLAGS_HELPERS:
    setattr(VmaFlags, _name, _vma_flags_method(_name))
del _name


_loaded: dict[str, Kernel] = {}


def load(kernel: str = "debian:7.x", config: Mapping[str, bool] | None = None,
         sanitizer: str | None = None, cache: Path | None = None) -> Kernel:
    """Fetch/resolve *kernel*, build it (or reuse the cached build) and load it."""
    from .tree import resolve
    from vma_internal.config import HarnessConfig

    cfg = config if isinstance(config, HarnessConfig) else HarnessConfig.from_overrides(config)
    return load_tree(resolve(kernel, cache), cfg, sanitizer, cache)


def load_tree(tree, config=None, sanitizer: str | None = None,
              cache: Path | None = None) -> Kernel:
    """load() for an already resolved (or patched) KernelTree."""
    from .build import build
    from vma_internal.config import HarnessConfig

    cfg = config if isinstance(config, HarnessConfig) else HarnessConfig.from_overrides(config)
    if cfg.vma_flag_bits != 64 and not tree.has("vma_flags_t"):
        from vma_internal.config import ConfigError
        raise ConfigError(f"NUM_VMA_FLAG_BITS={cfg.vma_flag_bits} needs the vma_flags_t bitmap: "
                          f"kernel {tree.version_str} has a VM flags word only (use 64)")
    b = build(tree, cfg, sanitizer, cache=cache)
    if b.key not in _loaded:
        _loaded[b.key] = Kernel(tree, b, cfg)
    return _loaded[b.key]
