# SPDX-License-Identifier: GPL-2.0-or-later
"""The oracle's operations on a tree's mm/vma.c.

The system calls run as pyvma.engine.callers performs them (mprotect, mlock,
madvise, mremap, mseal, fork: stated there once, for diff and the oracle alike);
this module maps the oracle's operation lists onto them.  Addresses are the live
window's, so page offsets of anonymous mappings come out as the kernel's.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field

from ..api import MM, PAGE_SIZE, File, Kernel, KernelBug
from ..engine import callers, callers_ksm
from ..errors import PyvmaError, errno_of
from . import live
from .live import BASE, PROT

MAY = ("VM_MAYREAD", "VM_MAYWRITE", "VM_MAYEXEC")


@dataclass
class HarnessResult:
    rets: list
    layout: list            # [(start, end, pgoff, frozenset(names), backing, anon_vma?)]
    bug: str = ""
    steps: list = field(default_factory=list)   # the layout after each operation


@dataclass
class _World:
    k: Kernel
    mm: MM
    file: File | None = None
    keep: list = field(default_factory=list)     # every MM made (fork): closed at the end
    guards: set = field(default_factory=set)     # pages with a guard marker
    merge_any: bool = False                      # the mm's MMF_VM_MERGE_ANY (fork keeps it)
    base: int = BASE                             # the address of page 0

    def a(self, page: int) -> int:
        return self.base + page * PAGE_SIZE

    def f(self, *names: str) -> int:
        return self.k.flag(*[n for n in names if self.k.has_flag(n)])

    def memfd(self):
        if self.file is None:
            self.file = self.k.file().behave(mmap=True, ops=())
        return self.file


def _errno(ret: int) -> object:
    return 0 if ret >= 0 else errno.errorcode.get(-ret, str(ret))


def _mmap(w: _World, s, e, prot, backing, pgoff, fixed: bool = False) -> object:
    if not fixed and callers.vmas_in(w.mm, w.a(s), w.a(e)):
        return "EEXIST"                         # MAP_FIXED_NOREPLACE
    flags = sum(w.f(n) for bit, n in zip((1, 2, 4), callers.ACCESS) if PROT[prot] & bit)
    flags |= w.f(*MAY)
    file = None
    if backing.startswith("memfd"):
        file = w.memfd()
        if backing == "memfd-shared":
            flags |= w.f("VM_SHARED", "VM_MAYSHARE")
    else:
        pgoff = w.a(s) // PAGE_SIZE
        if backing == "anon-noreserve":
            flags |= w.f("VM_NORESERVE")
    ksm = w.merge_any and callers_ksm.ksm_compatible(w.k, flags)
    before = callers_ksm.ksm_flags_before_merge(w.k)
    if ksm and before:                          # ksm_vma_flags(), then the merge
        flags |= w.f("VM_MERGEABLE")
    ret = _errno(errno_of(w.mm.mmap, w.a(s), (e - s) * PAGE_SIZE, flags, pgoff, file))
    v = callers.vma_at(w.mm, w.a(s))
    if ksm and not before and ret == 0 and v is not None:
        v.set_flags(v.flags | w.f("VM_MERGEABLE"))  # ksm_add_vma() on what was made
    return ret


def _touch(w: _World, s, e) -> object:
    """MADV_POPULATE_WRITE, VMA by VMA from *s*: a hole is ENOMEM, a read-only VMA
    EINVAL, a guard page EFAULT (the pages before each faulted in)."""
    at = s
    for v in callers.vmas_in(w.mm, w.a(s), w.a(e)):
        vs = (v.start - w.base) // PAGE_SIZE
        if vs > at:
            return "ENOMEM"
        if not v.flags & w.f("VM_WRITE"):
            return "EINVAL"                     # madvise_populate(): incompatible
        ve = min(e, (v.end - w.base) // PAGE_SIZE)
        guarded = any(p in w.guards for p in range(at, ve))
        if not guarded or min(p for p in range(at, ve) if p in w.guards) > at:
            callers.fault(w.k, w.mm, v)
        if guarded:
            return "EFAULT"
        at = ve
    return 0 if at >= e else "ENOMEM"


def _guards(w: _World, name: str, a: list, ret: object) -> object:
    """Where guard markers are (pages): installed, removed, unmapped, moved; an
    mlock that populates over one (or over a PROT_NONE VMA) fails ENOMEM, its
    flags set."""
    g = w.guards
    if name == "madvise" and a[2] == "GUARD_INSTALL":
        bad = w.f("VM_HUGETLB", *callers.LOCKED_MASK, *callers.SPECIAL)
        for v in callers.vmas_in(w.mm, w.a(a[0]), w.a(a[1])):   # in order, to a refusal
            if ret != 0 and (v.flags & bad or callers.sealed_discard(w.k, v)):
                break
            g.update(range(max(a[0], (v.start - w.base) // PAGE_SIZE),
                           min(a[1], (v.end - w.base) // PAGE_SIZE)))
    elif (name == "madvise" and a[2] == "GUARD_REMOVE") or \
            (name in ("munmap", "mmap_fixed") and ret == 0):
        g.difference_update(range(a[0], a[1]))
    elif name in ("mremap", "mremap_dontunmap") and ret == 0:
        moved = {p for p in g if a[0] <= p < a[1]}
        g.difference_update(moved)
        g.update(p - a[0] + a[2] for p in moved)
    elif name == "mremap_resize" and ret == 0 and a[2] < a[1]:
        g.difference_update(range(a[2], a[1]))
    elif name == "mlock" and ret == 0 and (any(a[0] <= p < a[1] for p in g) or any(
            not v.flags & w.f(*callers.ACCESS)
            for v in callers.vmas_in(w.mm, w.a(a[0]), w.a(a[1])))):
        return "ENOMEM"                 # __mm_populate() stops at a guard or PROT_NONE
    return ret


def _fork(w: _World) -> None:
    """fork(): callers.fork(); the rest runs in the child (the parent kept)."""
    w.mm = callers.fork(w.k, w.mm, lambda ptr: w.file)
    w.keep.append(w.mm)


def apply(w: _World, op: list) -> object:
    """One oracle operation: the system call through pyvma.engine.callers (pages
    relative to the window): 0 or an errno name."""
    k, mm, a_ = w.k, w.mm, w.a
    name, *a = op
    P = PAGE_SIZE
    if name in ("mmap", "mmap_fixed"):
        return _mmap(w, a[0], a[1], a[2], a[3], a[4], fixed=name == "mmap_fixed")
    if name == "expect":
        return live.expect(list(mm.vmas()), a[0], a[1], w.base)
    if name == "expect_flag":
        at = callers.vma_at(mm, a_(a[0]))
        return live.expect_flag(frozenset(k.names_of(at.flags)) if at is not None else None,
                                a[1], a[2])
    if name == "touch":
        return _touch(w, *a)
    if name == "fork":
        _fork(w)
        return 0
    if name == "ksm_merge_any":
        if bool(a[0]) != w.merge_any:
            callers_ksm.ksm_merge_any(k, mm, bool(a[0]))
            w.merge_any = bool(a[0])
        return 0
    if name == "munmap":
        return _errno(errno_of(mm.munmap, a_(a[0]), a_(a[1])))
    if name == "mprotect":
        # (the oracle names PROT_NONE "", the caller layer "none")
        return _errno(callers.mprotect(k, mm, a_(a[0]), a_(a[1]), a[2] or "none"))
    if name in ("mremap", "mremap_dontunmap"):     # a move (MAYMOVE|FIXED, same length)
        n = (a[1] - a[0]) * P
        how = "fixed" if name == "mremap" else "dontunmap"
        return _errno(callers.mremap(k, mm, a_(a[0]), n, n, a_(a[2]), how))
    if name == "mremap_resize":                 # in place
        return _errno(callers.mremap(k, mm, a_(a[0]), (a[1] - a[0]) * P, (a[2] - a[0]) * P,
                                     None, "resize"))
    if name == "madvise":
        return _errno(callers.madvise(k, mm, a_(a[0]), a_(a[1]), a[2]))
    if name in ("mlock", "mlock_onfault", "munlock"):
        how = {"mlock": "mlock", "mlock_onfault": "onfault", "munlock": "munlock"}[name]
        return _errno(callers.mlock(k, mm, a_(a[0]), a_(a[1]), how))
    if name == "mseal":
        return _errno(callers.mseal(k, mm, a_(a[0]), a_(a[1])))
    raise ValueError(f"unknown operation {name!r}")


def syscall(k: Kernel, mm: MM, op: list) -> object:
    """One oracle operation (pages absolute, not window-relative) on *mm*, e.g.
    ``["mprotect", s, e, "r"]`` on a layout MM.from_smaps() loaded: 0 or an errno name."""
    return apply(_World(k, mm, base=0), op)


def layout(w: _World) -> list:
    k = w.k
    out = []
    for v in w.mm.vmas():
        backing = "memfd" if v.file != k.ffi.NULL else "anon"
        out.append(((v.start - BASE) // PAGE_SIZE, (v.end - BASE) // PAGE_SIZE, v.pgoff,
                    k.names_of(v.flags), backing, v.anon_vma is not None))
    return out


def run(k: Kernel, ops: list, steps: bool = False) -> HarnessResult:
    """Run *ops* on a fresh mm of *k* (*steps*: the layout after each too)."""
    k.clear_warnings()
    mm = k.mm()
    w = _World(k, mm, keep=[mm])
    rets: list = []
    each: list = []
    bug = ""
    try:
        for op in ops:
            rets.append(_guards(w, op[0], op[1:], apply(w, op)))
            if steps:
                each.append(layout(w))
        lay = layout(w)
    except KernelBug as exc:
        bug = str(exc.site)
        lay = layout(w)
    except PyvmaError as exc:           # an entry point's error the emulation let through
        bug = f"the harness's emulation of op {len(rets) + 1}: {exc}"
        lay = layout(w)
    finally:
        warns = k.warnings()
        k.clear_warnings()
    if warns and not bug:
        bug = "WARN " + "; ".join(str(s) for s in warns)
    for m in w.keep:
        m.close()
    return HarnessResult(rets, lay, bug, each)
