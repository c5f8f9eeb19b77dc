# SPDX-License-Identifier: GPL-2.0-or-later
"""The Python API: a loaded kernel build, its address spaces and VMAs.

Addresses are bytes; flags are the tree's own values, named by the tree's own
names (``k.flag("VM_READ", "VM_WRITE")``).  Nothing here restates a kernel mask:
``k.mask("VMA_STICKY_FLAGS")`` is what the built tree says it is.
"""
from __future__ import annotations

import importlib.util
import sys
import time
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
        spec = importlib.util.spec_from_file_location(build.module_name, build.module_path)
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        self.ffi = mod.ffi
        self.lib = mod.lib
        self._flags: dict[str, int] = {}
        self._masks: dict[str, int] = {}
        f = self.ffi.new("struct pyvma_flag *")
        for i in range(self.lib.pyvma_flag_count()):
            self.lib.pyvma_flag_get(i, f)
            name = self.ffi.string(f.name).decode()
            (self._masks if f.is_mask else self._flags)[name] = int(f.value)
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
    def features(self) -> frozenset[str]:
        return self.tree.features

    def has(self, feature: str) -> bool:
        return feature in self.tree.features

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
        return frozenset(n for n, v in self._flags.items()
                         if v and v & (v - 1) == 0 and value & v)

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

    def file(self) -> "File":
        return File(self)

    def fail_anon_vma_clone(self, fail: bool = True) -> None:
        """Make anon_vma_clone() fail with -ENOMEM (upstream's forced failure)."""
        self.lib.pyvma_set_fail_clone(int(fail))


class AnonVma:
    """A dummy anon_vma with clone/unlink accounting."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.ptr = k.lib.pyvma_anon_vma_new()
        self._stats = k.ffi.new("int[2]")

    def _get(self) -> tuple[int, int]:
        self.k.lib.pyvma_anon_vma_stats(self.ptr, self._stats, self._stats + 1)
        return self._stats[0], self._stats[1]

    @property
    def was_cloned(self) -> bool:
        return self._get()[0] > 0

    @property
    def was_unlinked(self) -> bool:
        return self._get()[1] > 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnonVma) and other.ptr == self.ptr

    def __hash__(self) -> int:
        return hash(int(self.k.ffi.cast("uintptr_t", self.ptr)))


class File:
    """A dummy struct file with its own address_space."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.ptr = k.lib.pyvma_file_new()


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
        return self.mm._anon.get(int(self.mm.k.ffi.cast("uintptr_t", ptr))) if ptr else None

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
        self._anon: dict[int, AnonVma] = {}
        self._msg = k.ffi.new("char[256]")
        self.default_flags = k.flag("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")

    # -- helpers ----------------------------------------------------------------
    def _remember(self, av: AnonVma | None) -> None:
        if av is not None:
            self._anon[int(self.k.ffi.cast("uintptr_t", av.ptr))] = av

    def _flags(self, flags: int | Iterable[str] | None) -> int:
        if flags is None:
            return self.default_flags
        if isinstance(flags, int):
            return flags
        return self.k.flag(*flags)

    def _vma(self, ptr) -> VMA | None:
        return VMA(self, ptr) if ptr != self.k.ffi.NULL else None

    def _call(self, fn, *args):
        self.k.lib.pyvma_mm_set_current(self.ptr)
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
            self.k.lib.pyvma_vma_set_file(vma.ptr, file.ptr)
        err = self._call(self.k.lib.pyvma_vma_link, self.ptr, vma.ptr)
        if err:
            self.k.lib.pyvma_vma_free(vma.ptr)
            raise PyvmaError(f"vma_link({start:#x}-{end:#x}) failed: {err}")
        return vma

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

    def munmap(self, start: int, end: int) -> int:
        return self._call(self.k.lib.pyvma_munmap, self.ptr, start, end - start)

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


_loaded: dict[str, Kernel] = {}


def load(kernel: str = "debian:7.x", config: Mapping[str, bool] | None = None,
         sanitizer: str | None = None, cache: Path | None = None) -> Kernel:
    """Fetch/resolve *kernel*, build it (or reuse the cached build) and load it."""
    from . import source
    from .build import build
    from vma_internal.config import HarnessConfig

    cfg = config if isinstance(config, HarnessConfig) else HarnessConfig.from_overrides(config)
    tree = source.resolve(kernel, cache)
    b = build(tree, cfg, sanitizer, cache=cache)
    if b.key not in _loaded:
        _loaded[b.key] = Kernel(tree, b, cfg)
    return _loaded[b.key]
