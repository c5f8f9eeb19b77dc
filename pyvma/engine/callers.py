# SPDX-License-Identifier: GPL-2.0-or-later
"""System calls as their callers perform them, each written once (the spec of
each is :mod:`.callers_spec`).

mm/mremap.c, mm/mprotect.c, mm/mlock.c, mm/madvise.c, mm/mseal.c and fork's
dup_mmap() are not compiled into the harness: what each does around mm/vma.c's
entry points is stated here, one function a system call, naming every kernel
function it calls.  Where trees differ in how a caller calls an entry point, the
tree's probed feature decides (``copy_vma_keep_source``: MREMAP_DONTUNMAP passes
keep_source where copy_vma() has the parameter, calls it without where it has
not), never a version number.  ``pyvma diff`` (through :mod:`.ops`), the model's
replay and the oracle (:mod:`pyvma.oracle.harness`) all run these.

Addresses are bytes; a call returns the kernel's int (0, an address, -errno).
KernelBug propagates; KernelError of an entry point becomes its -errno.
"""
from __future__ import annotations

import errno
from collections.abc import Callable, Sequence

from ..api import MM, PAGE_SIZE, VMA, File, Kernel, KernelError
from . import callers_ksm
from .callers_spec import MADV_FLAG, PROT

LOCKED_MASK = ("VM_LOCKED", "VM_LOCKONFAULT")
SPECIAL = ("VM_IO", "VM_DONTEXPAND", "VM_PFNMAP", "VM_MIXEDMAP")
ACCESS = ("VM_READ", "VM_WRITE", "VM_EXEC")
MAY_OF = {"VM_READ": "VM_MAYREAD", "VM_WRITE": "VM_MAYWRITE", "VM_EXEC": "VM_MAYEXEC"}


def f(k: Kernel, *names: str) -> int:
    """The flags of *names* the tree has (0 for the others)."""
    have = [n for n in names if k.has_flag(n)]
    return k.flag(*have) if have else 0


def vmas_in(mm: MM, s: int, e: int) -> list[VMA]:
    return [v for v in mm.vmas() if v.end > s and v.start < e]


def covered(mm: MM, s: int, e: int) -> bool:
    at = s
    for v in vmas_in(mm, s, e):
        if v.start > at:
            return False
        at = v.end
    return at >= e


def vma_at(mm: MM, addr: int) -> VMA | None:
    """vma_lookup()."""
    return next((v for v in mm.vmas() if v.start <= addr < v.end), None)


def charge(k: Kernel, pages: int) -> None:
    """security_vm_enough_memory_mm() having passed: vm_acct_memory(pages)
    (negative: vm_unacct_memory())."""
    k.lib.pyvma_set_committed(int(k.lib.pyvma_committed()) + pages)


def stat_account(k: Kernel, mm: MM, flags: int, pages: int) -> None:
    """vm_stat_account(mm, flags, pages): the tree's own."""
    k.lib.pyvma_account_range(mm.ptr, flags, pages)


def add_counter(mm: MM, name: str, pages: int) -> None:
    """mm->*name* += pages (unsigned long arithmetic, as the kernel's)."""
    mm.set_counter(name, (mm.counters[name] + pages) % (1 << 64))


# -- the flags loop: mprotect_fixup(), mlock_fixup(), madvise_update_vma(), mseal ----

def fixup(k: Kernel, mm: MM, prev: VMA | None, vma: VMA, s: int, e: int,
          newflags: int) -> VMA:
    """One VMA's part of [s, e) to *newflags*, as mprotect_fixup() (and mlock_fixup(),
    madvise_update_vma(), mseal's apply) do it: vma_modify_flags(vmi, prev, vma, s, e,
    newflags), then the flags the call left for its caller (a merge's sticky ones
    where the tree passes them back) set on the VMA it returned (vm_flags_reset()).
    KernelError: vma_modify_flags() failed."""
    if newflags == vma.flags:
        return vma
    out: list[int] = []
    got = mm.modify_flags(mm.vmi(s), prev, vma, s, e, newflags, flags_out=out)
    got.set_flags(out[0])
    return got


def prev_of(mm: MM, vma: VMA, s: int) -> VMA | None:
    """The loops' prev: the VMA itself when the range starts inside it, else
    vma_prev() (adjacent or not)."""
    if s > vma.start:
        return vma
    before = [v for v in mm.vmas() if v.end <= vma.start]
    return before[-1] if before else None


def fixup_loop(k: Kernel, mm: MM, s: int, e: int, newflags_of: Callable[[VMA], int | str],
               after: Callable[[VMA], None] | None = None, holes_ok: bool = False) -> int:
    """The loop of mprotect/mlock/madvise/mseal over the VMAs of [s, e): each through
    fixup() with prev as the loop carries it.  A hole ends it with -ENOMEM
    (*holes_ok*: madvise's way, the rest applied and -ENOMEM at the end);
    *newflags_of* returns an errno name to stop with that error."""
    vma = next((v for v in mm.vmas() if v.end > s), None)
    if vma is None or (vma.start > s and not holes_ok) or vma.start >= e:
        return -errno.ENOMEM
    hole = vma.start > s
    at = max(s, vma.start)
    prev = prev_of(mm, vma, at)
    while True:
        end = min(vma.end, e)
        new = newflags_of(vma)
        if isinstance(new, str):
            return -getattr(errno, new)
        try:
            vma = fixup(k, mm, prev, vma, at, end, new)
        except KernelError as exc:
            return exc.ret
        if after is not None:
            after(vma)
        # a merge with the next VMA took its part too: carry on after it
        prev, at = vma, max(end, min(vma.end, e))
        if at >= e:
            return -errno.ENOMEM if hole else 0
        nxt = next((v for v in mm.vmas() if v.end > at), None)
        if nxt is None or nxt.start >= e:
            return -errno.ENOMEM
        if nxt.start != at:
            if not holes_ok:
                return -errno.ENOMEM
            hole, at = True, nxt.start
        vma = nxt


def fault(k: Kernel, mm: MM, vma: VMA) -> None:
    """A write fault (or populate) on a private writable mapping: anon_vma_prepare()."""
    if vma.flags & f(k, "VM_WRITE") and not vma.flags & f(k, "VM_SHARED"):
        mm.anon_vma_prepare(vma)


# -- the system calls ---------------------------------------------------------

def mprotect(k: Kernel, mm: MM, s: int, e: int, prot: str) -> int:
    """mprotect(2): per VMA, the access bits replaced (EACCES without the VM_MAY*
    bit, EPERM on a sealed VMA), VM_ACCOUNT taken on becoming writable (private,
    not NORESERVE) and dropped on an unfaulted anonymous one becoming read-only,
    through fixup_loop()."""
    acc, bits = f(k, *ACCESS), sum(f(k, n) for b, n in zip((1, 2, 4), ACCESS)
                                   if PROT[prot] & b)

    def new(vma: VMA) -> int | str:
        if vma.flags & f(k, "VM_SEALED"):
            return "EPERM"
        nf = (vma.flags & ~acc) | bits
        for a, m in MAY_OF.items():
            if nf & f(k, a) and not vma.flags & f(k, m):
                return "EACCES"
        if nf & f(k, "VM_WRITE"):
            if not vma.flags & f(k, "VM_ACCOUNT", "VM_WRITE", "VM_HUGETLB", "VM_SHARED",
                                 "VM_NORESERVE"):
                nf |= f(k, "VM_ACCOUNT")
        elif vma.flags & f(k, "VM_ACCOUNT") and vma.is_anonymous and vma.anon_vma is None:
            nf &= ~f(k, "VM_ACCOUNT")
        pending[:] = [vma.flags, nf, (min(e, vma.end) - max(s, vma.start)) // PAGE_SIZE]
        return nf

    def account(vma: VMA) -> None:
        """mprotect_fixup(): vm_stat_account() of the old flags out, the new in; a
        locked private VMA made writable populated (write faults)."""
        old, nf, pages = pending
        if old != nf:
            stat_account(k, mm, old, -pages)
            stat_account(k, mm, nf, pages)
        if old & f(k, "VM_WRITE", "VM_SHARED", "VM_LOCKED") == f(k, "VM_LOCKED") and \
                nf & f(k, "VM_WRITE") and not nf & f(k, "VM_LOCKONFAULT"):
            fault(k, mm, vma)           # populate_vma_page_range() (not LOCKONFAULT)
    pending: list = []
    return fixup_loop(k, mm, s, e, new, account)


def mlock(k: Kernel, mm: MM, s: int, e: int, how: str) -> int:
    """mlock(2) (``mlock``), mlock2(MLOCK_ONFAULT) (``onfault``), munlock(2)
    (``munlock``): mlock_fixup() per VMA (VM_SPECIAL ones left alone), locked_vm
    changed by the pages that changed, then (mlock) populated: a fault.  A hole
    ends apply_vma_lock_flags() with -ENOMEM, the VMAs before it changed."""
    lock = f(k, "VM_LOCKED") | (f(k, "VM_LOCKONFAULT") if how == "onfault" else 0)
    return _lock_range(k, mm, s, e, 0 if how == "munlock" else lock, populate=how == "mlock")


def _lock_range(k: Kernel, mm: MM, s: int, e: int, to_add: int, populate: bool) -> int:
    locked, special = f(k, *LOCKED_MASK), f(k, *SPECIAL)

    def new(vma: VMA) -> int:
        if vma.flags & special:
            return vma.flags
        return (vma.flags & ~locked) | to_add

    # mlock_fixup(): mm->locked_vm follows the pages whose VM_LOCKED changed
    before = _locked_pages(k, mm)
    ret = fixup_loop(k, mm, s, e, new)
    add_counter(mm, "locked_vm", _locked_pages(k, mm) - before)
    if populate and ret == 0:                   # __mm_populate() after a success only
        for v in vmas_in(mm, s, e):
            fault(k, mm, v)
    return ret


def _locked_pages(k: Kernel, mm: MM) -> int:
    bit = f(k, "VM_LOCKED")
    return sum((v.end - v.start) // PAGE_SIZE for v in mm.vmas() if v.flags & bit)


def mlockall(k: Kernel, mm: MM, how: str) -> int:
    """mlockall(MCL_CURRENT[|MCL_ONFAULT]) (``current``/``onfault``), munlockall()
    (``munlockall``): apply_mlockall_flags(), mlock_fixup() on every VMA."""
    # address ranges, not VMA objects: each fixup may merge or free VMAs
    ranges = [(v.start, v.end) for v in mm.vmas()]
    to_add = 0 if how == "munlockall" else f(k, "VM_LOCKED") | (
        f(k, "VM_LOCKONFAULT") if how == "onfault" else 0)
    ret = 0
    for start, end in ranges:
        # each VMA on its own (a hole between them is no error here)
        got = _lock_range(k, mm, start, end, to_add, populate=how == "current")
        ret = ret or got
    return ret


def madvise(k: Kernel, mm: MM, s: int, e: int, adv: str) -> int:
    """madvise(2): guard install (every VMA checked, then VM_MAYBE_GUARD set on the
    whole VMA where the tree has it, anon_vma_prepare()), guard remove (no VMA
    change), the fork/KSM advice through madvise_update_vma() (fixup_loop, holes
    skipped and -ENOMEM at the end)."""
    if adv == "GUARD_INSTALL":
        for v in vmas_in(mm, s, e):             # madvise_walk_vmas(): VMA by VMA
            if v.flags & f(k, "VM_HUGETLB", *LOCKED_MASK, *SPECIAL):
                return -errno.EINVAL
            if sealed_discard(k, v):
                return -errno.EPERM
            if k.has("maybe_guard"):
                v.set_flags(v.flags | f(k, "VM_MAYBE_GUARD"))
            if v.is_anonymous:
                mm.anon_vma_prepare(v)
        return 0 if covered(mm, s, e) else -errno.ENOMEM
    if adv == "GUARD_REMOVE":
        return 0 if covered(mm, s, e) else -errno.ENOMEM
    name, set_it = MADV_FLAG[adv]
    bit = f(k, name)
    if not bit:
        return -errno.EINVAL            # the tree has no such flag (CONFIG_KSM=n: no KSM)

    def new(vma: VMA) -> int | str:
        if adv in ("DONTFORK", "WIPEONFORK") and sealed_discard(k, vma):
            return "EPERM"
        if adv == "DOFORK" and vma.flags & f(k, "VM_IO"):
            return "EINVAL"
        if adv == "WIPEONFORK" and (not vma.is_anonymous or vma.flags & f(k, "VM_SHARED")):
            return "EINVAL"
        if adv == "MERGEABLE" and not callers_ksm.ksm_compatible(k, vma.flags):
            return vma.flags                # ksm_madvise(): the advice ignored
        return (vma.flags | bit) if set_it else (vma.flags & ~bit)
    return fixup_loop(k, mm, s, e, new, holes_ok=True)


def sealed_discard(k: Kernel, vma: VMA) -> bool:
    """can_madvise_modify() refuses: a discarding advice (DONTFORK, WIPEONFORK,
    GUARD_INSTALL) on a sealed anonymous VMA the user cannot write."""
    return bool(vma.flags & f(k, "VM_SEALED")) and vma.is_anonymous and \
        not vma.flags & f(k, "VM_WRITE")


def mseal(k: Kernel, mm: MM, s: int, e: int) -> int:
    """mseal(2): the whole range must be mapped (-ENOMEM), then VM_SEALED through
    fixup_loop(); -ENOSYS where the tree has no VM_SEALED."""
    if not k.has_flag("VM_SEALED"):
        return -errno.ENOSYS
    if not covered(mm, s, e):
        return -errno.ENOMEM
    sealed = f(k, "VM_SEALED")
    return fixup_loop(k, mm, s, e, lambda v: v.flags | sealed)


def sealed(k: Kernel, mm: MM, s: int, e: int) -> bool:
    return any(v.flags & f(k, "VM_SEALED") for v in vmas_in(mm, s, e))


def mremap(k: Kernel, mm: MM, s: int, old_len: int, new_len: int, dst: int | None,
           how: str) -> int:
    """mremap(2) of [s, s + old_len): ``resize`` shrinks (do_vmi_munmap() of the tail)
    or grows in place (vma_merge_extend(), vm_acct_memory() of VM_ACCOUNT pages,
    vm_stat_account(), locked_vm) or fails -ENOMEM; ``fixed`` and ``dontunmap``
    move to *dst* (mremap_to(): the target unmapped, a shrink's tail unmapped,
    then move_vma()).  The new address, or -errno."""
    if dst is not None and dst < s + old_len and s < dst + new_len:
        return -errno.EINVAL                    # check_mremap_params(): overlapping ranges
    if dst is not None and new_len == old_len and multi_vma_moves(k):
        return remap_move(k, mm, s, old_len, dst, how == "dontunmap")
    vma = vma_at(mm, s)
    shrink = how == "resize" and new_len <= old_len
    if vma is None:
        return -errno.EFAULT
    if sealed(k, mm, s, s + 1):     # check_prep_vma(): the VMA at s first (a shrink's
        return -errno.EPERM         # tail: do_vmi_munmap()'s own check)
    if s + old_len > vma.end and not shrink:
        return -errno.EFAULT
    if not shrink and dst is not None and sealed(k, mm, dst, dst + new_len):
        return -errno.EPERM
    if how == "resize":
        if new_len <= old_len:
            if new_len < old_len:
                try:                        # do_vmi_munmap() refuses a sealed VMA itself,
                    mm.munmap(s + new_len, s + old_len)     # the splits before it kept
                except KernelError as exc:
                    return exc.ret
            return s
        delta = new_len - old_len
        if vma.flags & f(k, "VM_DONTEXPAND", "VM_PFNMAP"):
            return -errno.EFAULT
        if s + old_len != vma.end or vmas_in(mm, vma.end, vma.end + delta):
            return -errno.ENOMEM                # vma_expandable() fails, no MAYMOVE
        pages = delta // PAGE_SIZE
        accounted = bool(vma.flags & f(k, "VM_ACCOUNT"))
        if accounted:
            charge(k, pages)
        got = mm.merge_extend(mm.vmi(vma.end), vma, delta)
        if got is None:
            if accounted:
                charge(k, -pages)
            return -errno.ENOMEM
        stat_account(k, mm, got.flags, pages)
        if got.flags & f(k, "VM_LOCKED"):
            add_counter(mm, "locked_vm", pages)
        return s
    assert dst is not None
    if how == "dontunmap" and (new_len != old_len or vma.flags & f(k, "VM_DONTEXPAND",
                                                                      "VM_PFNMAP")):
        return -errno.EINVAL
    if dst < s + old_len and s < dst + new_len:
        return -errno.EINVAL                    # overlapping source and target
    try:
        mm.munmap(dst, dst + new_len)           # MREMAP_FIXED: do_munmap() of the target
        if old_len > new_len:
            mm.munmap(s + new_len, s + old_len)
            old_len = new_len
    except KernelError as exc:
        return exc.ret
    vma = vma_at(mm, s)
    if vma is None:
        return -errno.EFAULT
    if new_len > old_len:
        return -errno.ENOMEM                    # a move that grows: not expressed here
    return move_vma(k, mm, vma, s, old_len, dst, how == "dontunmap")




def multi_vma_moves(k: Kernel) -> bool:
    """Whether the tree's mremap moves every VMA of the range (remap_move() in
    mm/mremap.c: a MREMAP_FIXED move of unchanged length across VMAs and gaps)."""
    return k.has("remap_move")


def remap_move(k: Kernel, mm: MM, s: int, length: int, dst: int, dontunmap: bool) -> int:
    """remap_move(): each VMA of [s, s + length) moved on its own to the same offset
    from *dst* (gaps kept), as mremap_to() of its part; a gap at the start (or no
    VMA) is -EFAULT; the first error ends it (the parts moved stay moved)."""
    pieces = [(max(v.start, s), min(v.end, s + length)) for v in vmas_in(mm, s, s + length)]
    if not pieces or pieces[0][0] > s:
        return -errno.EFAULT
    for a, b in pieces:
        vma = vma_at(mm, a)
        if vma is None:
            return -errno.EFAULT
        if sealed(k, mm, a, b):
            return -errno.EPERM
        if dontunmap and vma.flags & f(k, "VM_DONTEXPAND", "VM_PFNMAP"):
            return -errno.EINVAL
        t = dst + (a - s)
        try:
            mm.munmap(t, t + (b - a))           # mremap_to(): the target unmapped
        except KernelError as exc:
            return exc.ret
        vma = vma_at(mm, a)
        assert vma is not None
        ret = move_vma(k, mm, vma, a, b - a, t, dontunmap)
        if ret < 0:
            return ret
    return dst


def move_vma(k: Kernel, mm: MM, vma: VMA, s: int, length: int, dst: int,
             dontunmap: bool) -> int:
    """move_vma(): copy_vma() (keep_source = *dontunmap* where the tree's copy_vma()
    has the parameter; without it where not: that tree's own mremap), the page
    tables (none in the harness), vm_stat_account() of the new range, then either
    (MREMAP_DONTUNMAP) VM_LOCKED/VM_LOCKONFAULT cleared on the source, or the source
    range unmapped with VM_ACCOUNT concealed (the charge moves with it) and given
    back to the pieces left."""
    offset = (s - vma.start) // PAGE_SIZE
    accounted = vma.flags & f(k, "VM_ACCOUNT")
    pages = length // PAGE_SIZE
    if dontunmap and accounted:
        charge(k, pages)                        # the kept source stays charged
    kw: dict = {}
    if k.has("anon_pgoff"):
        kw["anon_pgoff"] = vma.anon_pgoff + offset
    if dontunmap and k.has("copy_vma_keep_source"):
        kw["keep_source"] = True
    new, src, _ = mm.copy_vma(vma, dst, length, vma.pgoff + offset, **kw)
    if new is None:
        if dontunmap and accounted:
            charge(k, -pages)
        return -errno.ENOMEM
    vma = src
    account_start = account_end = False
    if accounted and not dontunmap:
        vma.set_flags(vma.flags & ~accounted)   # conceal VM_ACCOUNT
        account_start, account_end = vma.start < s, vma.end > s + length
    stat_account(k, mm, vma.flags, pages)
    if dontunmap:
        vma.set_flags(vma.flags & ~f(k, *LOCKED_MASK))
        if (vma.start, vma.end) == (s, s + length) and vma.anon_vma is not None:
            # the whole VMA moved: unlink_anon_vmas(), unfaulted again (its chain
            # entries stay: the harness exports no unlink; anon_vma is what merges read)
            vma.set_anon_vma(None)
            if k.has("anon_pgoff"):
                vma.set_anon_pgoff(vma.start // PAGE_SIZE)
        return dst
    was_locked = vma.flags & f(k, "VM_LOCKED")
    try:
        mm.munmap(s, s + length)
    except KernelError as exc:
        return exc.ret
    if was_locked:
        add_counter(mm, "locked_vm", pages)
    for addr, want in ((s - 1, account_start), (s + length, account_end)):
        piece = vma_at(mm, addr) if want else None
        if piece is not None:
            piece.set_flags(piece.flags | accounted)
    return dst


def fork(k: Kernel, parent: MM, file_of: Callable[[object], File | None]) -> MM:
    """dup_mmap(): the child gets every VMA but VM_DONTCOPY ones, VM_LOCKED and
    VM_LOCKONFAULT cleared; a VMA with an anon_vma gets a new one chained to the
    parent's (anon_vma_fork()), except VM_WIPEONFORK ones, which get none.  The
    child's files are the parent's (*file_of*: the File of a VMA's file pointer)."""
    child = k.mm()
    for v in parent.vmas():
        if v.flags & f(k, "VM_DONTCOPY"):
            continue
        flags = v.flags & ~f(k, *LOCKED_MASK)
        file = file_of(v.file) if v.file != k.ffi.NULL else None
        nv = child.map(v.start, v.end, v.pgoff, flags, file=file)
        if k.has("anon_pgoff"):
            nv.set_anon_pgoff(v.anon_pgoff)
        if file is not None:
            nv.set_ops()
        else:
            nv.set_vm_ops(None)                 # vma_set_anonymous()
        if v.anon_vma is not None and not v.flags & f(k, "VM_WIPEONFORK"):
            av = k.anon_vma()
            nv.set_anon_vma(av)
            nv.add_avc(av)
            nv.add_avc(v.anon_vma)
        child.account(nv)
    return child


def apply_caller(w, op: Sequence) -> tuple[object, tuple]:
    """Run a caller operation on ops.World *w*: (the kernel's return, in pages for
    an address; flags the tree lacks)."""
    k, mm = w.k, w.mm
    name, *a = op
    P = PAGE_SIZE
    if name == "mremap":
        s, e, new, dst, how = a
        ret = mremap(k, mm, s * P, (e - s) * P, new * P, None if dst is None else dst * P,
                       how)
        return (ret // P if ret >= 0 else ret), ()
    if name == "mprotect_prot":
        return mprotect(k, mm, a[0] * P, a[1] * P, a[2]), ()
    if name == "madvise":
        return madvise(k, mm, a[0] * P, a[1] * P, a[2]), ()
    if name == "mlock":
        return mlock(k, mm, a[0] * P, a[1] * P, a[2]), ()
    if name == "mlockall":
        return mlockall(k, mm, a[0]), ()
    if name == "mseal":
        return mseal(k, mm, a[0] * P, a[1] * P), ()
    raise ValueError(f"unknown operation {name!r}")
