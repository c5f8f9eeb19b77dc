# SPDX-License-Identifier: GPL-2.0-or-later
"""The oracle's operations on a tree's mm/vma.c.

The system calls' own code (mm/mprotect.c, mm/mlock.c, mm/madvise.c, mm/mremap.c,
mm/mseal.c, fork's dup_mmap()) is not in the harness: what each does around the
mm-level entry points (vma_modify_flags(), mmap_region(), do_vmi_munmap(),
copy_vma(), vma_merge_extend(), anon_vma_prepare()) is restated here from the
kernel's behaviour, each step named.  Addresses are the live window's, so page
offsets of anonymous mappings come out as the kernel's.
"""
from __future__ import annotations

import errno
from dataclasses import dataclass, field

from ..api import MM, PAGE_SIZE, File, Kernel, KernelBug, KernelError
from ..errors import errno_of
from .live import BASE, PROT

ACCESS = ("VM_READ", "VM_WRITE", "VM_EXEC")
MAY = ("VM_MAYREAD", "VM_MAYWRITE", "VM_MAYEXEC")


def _e(name: str) -> str:
    return name


@dataclass
class HarnessResult:
    rets: list
    layout: list            # [(start, end, pgoff, frozenset(names), backing, anon_vma?)]
    bug: str = ""


@dataclass
class _World:
    k: Kernel
    mm: MM
    file: File | None = None
    keep: list = field(default_factory=list)     # every MM made (fork): closed at the end
    base: int = BASE                             # the address of page 0

    def a(self, page: int) -> int:
        return self.base + page * PAGE_SIZE

    def f(self, *names: str) -> int:
        return self.k.flag(*[n for n in names if self.k.has_flag(n)])

    def memfd(self):
        if self.file is None:
            self.file = self.k.file().behave(mmap=True, ops=())
        return self.file


def _vmas_in(mm: MM, s: int, e: int):
    return [v for v in mm.vmas() if v.end > s and v.start < e]


def _covered(mm: MM, s: int, e: int) -> bool:
    at = s
    for v in sorted(_vmas_in(mm, s, e), key=lambda v: v.start):
        if v.start > at:
            return False
        at = v.end
    return at >= e


def _prot_bits(w: _World, prot: str) -> int:
    p = PROT[prot]
    return sum(w.f(n) for bit, n in zip((1, 2, 4), ACCESS) if p & bit)


def _errno(ret: int) -> object:
    return 0 if ret >= 0 else errno.errorcode.get(-ret, str(ret))


def _fixup_loop(w: _World, s: int, e: int, newflags_of, after=None) -> object:
    """The loop of mprotect/mlock/madvise/mseal: each VMA of [s, e) through
    vma_modify_flags() (prev: the VMA itself when the range starts inside it,
    else the one before) and its flags set; a hole ends it with ENOMEM."""
    mm = w.mm
    at = s
    prev = None
    vmas = mm.vmas()
    first = next((v for v in vmas if v.end > s), None)
    if first is None or first.start > s:
        return "ENOMEM"
    i = vmas.index(first)
    prev = first if s > first.start else (vmas[i - 1] if i > 0 else None)
    vma = first
    while True:
        end = min(vma.end, e)
        new = newflags_of(vma)
        if isinstance(new, str):
            return new
        if new != vma.flags:
            try:
                got = mm.modify_flags(mm.vmi(at), prev, vma, at, end, new)
            except KernelError as exc:
                return _errno(exc.ret)
            # vma_modify_flags(): on a merge the caller takes the merged VMA's
            # flags (sticky ones kept); otherwise the requested ones are set
            if not (got.start < at or got.end > end):
                got.set_flags(new)
            vma = got
        tail = vma.end
        if after is not None:
            after(vma)
        prev = vma
        at = tail
        if at >= e:
            return 0
        nxt = next((v for v in mm.vmas() if v.end > at), None)
        if nxt is None or nxt.start != at:
            return "ENOMEM"
        vma = nxt


def _fault(w: _World, vma) -> None:
    """A write fault (or populate) on a private mapping: anon_vma_prepare()."""
    if vma.flags & w.f("VM_WRITE") and not vma.flags & w.f("VM_SHARED"):
        errno_of(w.mm.anon_vma_prepare, vma)


def _mmap(w: _World, s, e, prot, backing, pgoff) -> object:
    if _vmas_in(w.mm, w.a(s), w.a(e)):
        return "EEXIST"                         # MAP_FIXED_NOREPLACE
    flags = _prot_bits(w, prot) | w.f(*MAY)
    file = None
    if backing.startswith("memfd"):
        file = w.memfd()
        if backing == "memfd-shared":
            flags |= w.f("VM_SHARED", "VM_MAYSHARE")
    else:
        pgoff = w.a(s) // PAGE_SIZE
        if backing == "anon-noreserve":
            flags |= w.f("VM_NORESERVE")
    return _errno(errno_of(w.mm.mmap, w.a(s), (e - s) * PAGE_SIZE, flags, pgoff, file))


def _mprotect(w: _World, s, e, prot) -> object:
    acc, wr = w.f(*ACCESS), w.f("VM_WRITE")
    bits = _prot_bits(w, prot)
    if not _covered(w.mm, w.a(s), w.a(e)):
        pass                                   # the loop returns ENOMEM at the hole

    def new(vma):
        if vma.flags & w.f("VM_SEALED"):
            return "EPERM"
        nf = (vma.flags & ~acc) | bits
        may = {"VM_READ": "VM_MAYREAD", "VM_WRITE": "VM_MAYWRITE", "VM_EXEC": "VM_MAYEXEC"}
        for a, m in may.items():
            if nf & w.f(a) and not vma.flags & w.f(m):
                return "EACCES"
        if nf & wr:
            if not vma.flags & w.f("VM_ACCOUNT", "VM_WRITE", "VM_HUGETLB", "VM_SHARED",
                                   "VM_NORESERVE"):
                nf |= w.f("VM_ACCOUNT")
        elif vma.flags & w.f("VM_ACCOUNT") and vma.is_anonymous and vma.anon_vma is None:
            nf &= ~w.f("VM_ACCOUNT")
        return nf
    return _fixup_loop(w, w.a(s), w.a(e), new)


def _mlock(w: _World, s, e, on: bool, onfault: bool = False) -> object:
    locked = w.f("VM_LOCKED", "VM_LOCKONFAULT")
    special = w.f("VM_IO", "VM_DONTEXPAND", "VM_PFNMAP", "VM_MIXEDMAP")
    if not _covered(w.mm, w.a(s), w.a(e)):
        return "ENOMEM"

    def new(vma):
        if vma.flags & special:
            return vma.flags
        nf = vma.flags & ~locked
        if on:
            nf |= w.f("VM_LOCKED") | (w.f("VM_LOCKONFAULT") if onfault else 0)
        return nf
    populate = (lambda v: _fault(w, v)) if on and not onfault else None
    return _fixup_loop(w, w.a(s), w.a(e), new, populate)


def _madvise(w: _World, s, e, adv) -> object:
    f = w.f
    if adv == "GUARD_INSTALL":
        vmas = _vmas_in(w.mm, w.a(s), w.a(e))
        for v in vmas:
            if v.flags & f("VM_LOCKED", "VM_LOCKONFAULT", "VM_IO", "VM_DONTEXPAND",
                           "VM_PFNMAP", "VM_MIXEDMAP", "VM_HUGETLB"):
                return "EINVAL"
        for v in vmas:
            if w.k.has("maybe_guard"):          # set on the whole VMA, no split
                v.set_flags(v.flags | f("VM_MAYBE_GUARD"))
            if v.is_anonymous:
                errno_of(w.mm.anon_vma_prepare, v)
        return 0 if _covered(w.mm, w.a(s), w.a(e)) else "ENOMEM"
    if adv == "GUARD_REMOVE":
        return 0 if _covered(w.mm, w.a(s), w.a(e)) else "ENOMEM"
    bit = {"DONTFORK": "VM_DONTCOPY", "DOFORK": "VM_DONTCOPY",
           "WIPEONFORK": "VM_WIPEONFORK", "KEEPONFORK": "VM_WIPEONFORK"}[adv]
    set_it = adv in ("DONTFORK", "WIPEONFORK")

    def new(vma):
        if adv == "DOFORK" and vma.flags & f("VM_IO"):
            return "EINVAL"
        if adv == "WIPEONFORK" and (not vma.is_anonymous or vma.flags & f("VM_SHARED")):
            return "EINVAL"
        return (vma.flags | f(bit)) if set_it else (vma.flags & ~f(bit))
    return _fixup_loop(w, w.a(s), w.a(e), new)


def _mseal(w: _World, s, e) -> object:
    if not w.k.has_flag("VM_SEALED"):
        return "ENOSYS"
    if not _covered(w.mm, w.a(s), w.a(e)):
        return "ENOMEM"
    return _fixup_loop(w, w.a(s), w.a(e), lambda v: v.flags | w.f("VM_SEALED"))


def _sealed(w: _World, s: int, e: int) -> bool:
    return any(v.flags & w.f("VM_SEALED") for v in _vmas_in(w.mm, s, e))


def _mremap(w: _World, s, e, new) -> object:
    """A move (MREMAP_MAYMOVE|MREMAP_FIXED, same length): the target is unmapped,
    copy_vma() makes (or merges) the copy, the source range is unmapped."""
    mm = w.mm
    src = next((v for v in mm.vmas() if v.start <= w.a(s) < v.end), None)
    if src is None:
        return "EFAULT"
    if w.a(e) > src.end:
        return "EFAULT"
    if _sealed(w, w.a(s), w.a(e)) or _sealed(w, w.a(new), w.a(new + e - s)):
        return "EPERM"
    length = (e - s) * PAGE_SIZE
    ret = errno_of(mm.munmap, w.a(new), w.a(new) + length)
    if ret:
        return _errno(ret)
    src = next(v for v in mm.vmas() if v.start <= w.a(s) < v.end)
    pgoff = src.pgoff + (w.a(s) - src.start) // PAGE_SIZE
    kw = {}
    if w.k.has("anon_pgoff"):
        kw["anon_pgoff"] = src.anon_pgoff + (w.a(s) - src.start) // PAGE_SIZE
    copy, _, _ = mm.copy_vma(src, w.a(new), length, pgoff, **kw)
    if copy is None:
        return "ENOMEM"
    return _errno(errno_of(mm.munmap, w.a(s), w.a(e)))


def _mremap_resize(w: _World, s, e, new_e) -> object:
    mm = w.mm
    vma = next((v for v in mm.vmas() if v.start <= w.a(s) < v.end), None)
    if vma is None or w.a(e) > vma.end:
        return "EFAULT"
    if _sealed(w, w.a(s), w.a(e)):
        return "EPERM"
    if new_e <= e:
        return _errno(errno_of(mm.munmap, w.a(new_e), w.a(e))) if new_e < e else 0
    if w.a(e) != vma.end or _vmas_in(mm, w.a(e), w.a(new_e)):
        return "ENOMEM"
    got = mm.merge_extend(mm.vmi(vma.start), vma, w.a(new_e) - w.a(e))
    return 0 if got is not None else "ENOMEM"


def _touch(w: _World, s, e) -> object:
    if not _covered(w.mm, w.a(s), w.a(e)):
        return "ENOMEM"
    for v in _vmas_in(w.mm, w.a(s), w.a(e)):
        if not v.flags & w.f("VM_WRITE"):
            return "EFAULT"
        _fault(w, v)
    return 0


def _fork(w: _World) -> None:
    """dup_mmap(): the child gets every VMA but VM_DONTCOPY ones, VM_LOCKED and
    VM_LOCKONFAULT cleared; a VMA with an anon_vma gets a new one chained to the
    parent's (anon_vma_fork()), except VM_WIPEONFORK ones, which get none."""
    k, parent = w.k, w.mm
    child = k.mm()
    w.keep.append(child)
    for v in parent.vmas():
        if v.flags & w.f("VM_DONTCOPY"):
            continue
        flags = v.flags & ~w.f("VM_LOCKED", "VM_LOCKONFAULT")
        file = w.file if v.file != k.ffi.NULL else None
        nv = child.map(v.start, v.end, v.pgoff, flags, file=file)
        if k.has("anon_pgoff"):
            nv.set_anon_pgoff(v.anon_pgoff)
        if file is not None:
            nv.set_ops()
        else:
            nv.set_vm_ops(None)                 # vma_set_anonymous()
        if v.anon_vma is not None and not v.flags & w.f("VM_WIPEONFORK"):
            av = k.anon_vma()
            nv.set_anon_vma(av)
            nv.add_avc(av)
            nv.add_avc(v.anon_vma)
        child.account(nv)
    w.mm = child


def apply(w: _World, op: list) -> object:
    name, *a = op
    if name == "mmap":
        return _mmap(w, *a)
    if name == "mprotect":
        return _mprotect(w, *a)
    if name == "munmap":
        return _errno(errno_of(w.mm.munmap, w.a(a[0]), w.a(a[1])))
    if name == "mremap":
        return _mremap(w, *a)
    if name == "mremap_resize":
        return _mremap_resize(w, *a)
    if name == "madvise":
        return _madvise(w, *a)
    if name == "touch":
        return _touch(w, *a)
    if name == "mlock":
        return _mlock(w, a[0], a[1], True)
    if name == "mlock_onfault":
        return _mlock(w, a[0], a[1], True, True)
    if name == "munlock":
        return _mlock(w, a[0], a[1], False)
    if name == "mseal":
        return _mseal(w, *a)
    if name == "fork":
        _fork(w)
        return 0
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


def run(k: Kernel, ops: list) -> HarnessResult:
    """Run *ops* on a fresh mm of *k*."""
    k.clear_warnings()
    mm = k.mm()
    w = _World(k, mm, keep=[mm])
    rets: list = []
    bug = ""
    try:
        for op in ops:
            rets.append(apply(w, op))
        lay = layout(w)
    except KernelBug as exc:
        bug = str(exc.site)
        lay = layout(w)
    finally:
        warns = k.warnings()
        k.clear_warnings()
    if warns and not bug:
        bug = "WARN " + "; ".join(str(s) for s in warns)
    for m in w.keep:
        m.close()
    return HarnessResult(rets, lay, bug)
