# SPDX-License-Identifier: GPL-2.0-or-later
"""One built kernel tree loaded into this process: its identity, flags, masks,
WARN/BUG state, and the services the harness controls (faults, limits).

Addresses are bytes; flags are the tree's own values, named by the tree's own
names (``k.flag("VM_READ", "VM_WRITE")``).  Nothing here restates a kernel mask:
``k.mask("VMA_STICKY_FLAGS")`` is what the built tree says it is."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import KernelBug, PyvmaError, Site
from .flags import VmaFlags
from .mm import MM
from .objects import AnonVma, File

if TYPE_CHECKING:
    from .vma import VMA


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
        from ..build import load_abi
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
        #: harness objects whose Python object went (their pins, dropped by
        #: release_objects(): never from the garbage collector, which may run while
        #: another thread is in kernel code)
        self._unpinned: list[int] = []

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
        """Whether the tree has ``feature`` (a name in pyvma/tree/features.py; unknown: raises)."""
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
    def mm(self, check_each: bool = False) -> MM:
        """A new address space; with *check_each*, invariants are checked after every
        operation."""
        return MM(self, check_each)

    def anon_vma(self) -> AnonVma:
        return AnonVma(self)

    def release_objects(self) -> int:
        """Free the anon_vmas and files no Python object holds and no VMA of a live
        mm refers to (``MM.close()`` calls it); how many were freed."""
        while self._unpinned:
            self.lib.pyvma_obj_pin(self.ffi.cast("void *", self._unpinned.pop()), -1)
        return int(self.lib.pyvma_objects_sweep())

    def live_objects(self) -> dict[str, int]:
        """The harness's anon_vmas and files not freed, after ``release_objects()``:
        ``{"anon_vma": n, "file": n}``."""
        self.release_objects()
        return {"anon_vma": int(self.lib.pyvma_objects_live(self.lib.PYVMA_OBJ_ANON_VMA)),
                "file": int(self.lib.pyvma_objects_live(self.lib.PYVMA_OBJ_FILE))}

    def file(self, **behaviour) -> File:
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
            raise PyvmaError(f"no forced failure {site!r} (known: {', '.join(self.FAULTS)})") from None

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
    def vma_flags(self) -> VmaFlags:
        """The tree's vma_flags_t helpers (``VmaFlags``)."""
        vf = self.__dict__.get("_vma_flags")
        if vf is None:
            vf = self.__dict__["_vma_flags"] = VmaFlags(self)
        return vf

    def is_mergeable_anon_vma(self, a: AnonVma | None, b: AnonVma | None,
                              vma: VMA | None = None) -> bool:
        """is_mergeable_anon_vma(a, b, vma) of trees where it compares two anon_vmas."""
        null = self.ffi.NULL
        ret = self.lib.pyvma_is_mergeable_anon_vma(a.ptr if a else null, b.ptr if b else null,
                                                   vma.ptr if vma else null)
        if ret < 0:
            raise PyvmaError(f"is_mergeable_anon_vma() of {self.version} does not compare "
                             "two anon_vmas")
        return bool(ret)
