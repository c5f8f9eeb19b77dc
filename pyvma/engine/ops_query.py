# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma diff``'s operations on the mm/vma.c entry points that answer questions
about a layout (vma_wants_writenotify() / vma_needs_dirty_tracking(),
unmapped_area() / unmapped_area_topdown(), vma_mmu_pagesize()) and on exec's stack
in mm/vma_exec.c (create_init_stack_vma(), relocate_vma_down()).

Each operation is a tuple ``(name, *args)`` as in :mod:`.ops` (addresses in pages,
flags by name).  A query's answer is the operation's return value (compared as every
return value is; layout and state are compared as always).  This module runs them
(:func:`apply_query`), says whether one is valid in a layout (:func:`valid_query`),
generates them (:func:`gen_query`), names them (:func:`describe_query`) and holds
their scenarios (:func:`query_corpus`).  It works on an :class:`.ops.World` without
importing :mod:`.ops`.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from ..api import PAGE_SIZE
from ..api.objects import _OPS_NAMES as VM_OPS  # the harness vm_operations
from ..errors import KernelError

BASE = ("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
SHARED = BASE + ("VM_SHARED", "VM_MAYSHARE")

#: operation -> the tree feature it needs (None: every tree the harness builds)
QUERY_FEATURES: dict[str, str | None] = {
    "writenotify": None,            # vma_wants_writenotify(), vma_needs_dirty_tracking()
    "unmapped_area": "unmapped_area",
    "pagesize": "vma_mmu_pagesize",
    "init_stack": "vma_exec.c",     # create_init_stack_vma(), then relocate_vma_down()
    "relocate": "relocate_vma_down",    # mm/vma_exec.c, or 6.12's mm/mmap.c
}
#: page_prot values a writenotify asks with: the harness's pgprot_modify() gives 0,
#: so a non-zero one is protections a driver's ->mmap changed
PROTS = (0, 0x25)
#: the vm_ops a writenotify installs first, harness ones with these callbacks (None:
#: the VMA's own left as they are)
WN_OPS: tuple[tuple[str, ...] | None, ...] = (None, (), ("page_mkwrite",), ("pfn_mkwrite",),
                                              ("open", "close"))
#: flags only these operations' scenarios set
QUERY_FLAGS = ("VM_PFNMAP", "VM_GROWSDOWN")
#: the top of the address space where exec's stack starts (STACK_TOP_MAX, x86-64)
STACK_TOP_MAX = (1 << 47) - PAGE_SIZE
MAX_ERRNO = 4095


def apply_query(w, op: Sequence) -> tuple[object, tuple]:
    """Run one of QUERY_FEATURES' operations on World *w*: (return value, flags the
    tree lacks).  KernelError/KernelBug propagate to ops.apply."""
    mm = w.mm
    name, *a = op
    if name == "writenotify":
        # a driver's ->mmap installed *ops*, the file can write back or not: what
        # mmap and mprotect ask of the VMA (vma_set_page_prot() and its callers)
        page, prot, ops, writeback = a
        vma = w.vma_at(page)
        if vma is None:
            return "novma", ()
        if ops is not None:
            vma.set_ops(*ops)
        f = _file_of(w, vma)
        if f is not None:
            f.behave(can_writeback=writeback)
        wants = vma.wants_writenotify(page_prot=prot)
        dirty = vma.needs_dirty_tracking()
        return f"writenotify {int(wants)} dirty_tracking {int(dirty)}", ()
    if name == "unmapped_area":
        # get_unmapped_area()'s search of [low, high) for *length* pages aligned to
        # *align* pages (a power of two), bottom-up or top-down
        length, low, high, align, topdown = a
        try:
            got = mm.unmapped_area(length * PAGE_SIZE, low * PAGE_SIZE, high * PAGE_SIZE,
                                   align_mask=(align - 1) * PAGE_SIZE, topdown=topdown)
        except KernelError as exc:
            if not -MAX_ERRNO <= exc.ret < 0:
                # an address "below 0" (the search wrapped), not an -errno
                return f"address {exc.ret & (1 << 64) - 1:#x}", ()
            raise
        return got // PAGE_SIZE if got % PAGE_SIZE == 0 else f"address {got:#x}", ()
    if name == "pagesize":
        vma = w.vma_at(a[0])
        return ("novma" if vma is None else vma.mmu_pagesize), ()
    if name == "init_stack":
        # exec: the stack made at STACK_TOP_MAX, its arguments written (a fault),
        # then moved down to *page* (setup_arg_pages()); a failed exec drops the
        # mm, here: what is left of the stack above the harness's pages is
        # unmapped (its return value kept)
        vma = mm.create_init_stack_vma()
        try:
            _written(mm, vma)
            mm.relocate_vma_down(vma, vma.start - a[0] * PAGE_SIZE)
        finally:
            for v in mm.vmas():
                if v.end == STACK_TOP_MAX:
                    mm.munmap(v.start, v.end)
        return 0, ()
    if name == "relocate":
        page, shift = a
        vma = w.vma_at(page)
        if vma is None:
            return "novma", ()
        _written(mm, vma)
        mm.relocate_vma_down(vma, shift * PAGE_SIZE)
        return 0, ()
    raise ValueError(f"unknown operation {name!r}")


def _written(mm, vma) -> None:
    """An anonymous VMA exec moves has been written to (copy_strings() faulted its
    arguments in): anon_vma_prepare() first, as that fault does.  (An unfaulted one
    moved makes 7.3's assert_sane_pgoff() WARN; exec never moves one.)"""
    if vma.is_anonymous and vma.anon_vma is None:
        mm.anon_vma_prepare(vma)


def _file_of(w, vma):
    """The named File of World *w* that *vma* maps (None: anonymous or unnamed)."""
    ptr = int(w.k.ffi.cast("uintptr_t", vma.file))
    for f in w.files.values():
        if int(w.k.ffi.cast("uintptr_t", f.ptr)) == ptr and ptr:
            return f
    return None


def valid_query(name: str, a: Sequence, free: Callable[[int, int], bool],
                within: Callable[[int], tuple | None]) -> bool | None:
    """Whether one of QUERY_FEATURES' operations is one a kernel caller could make
    (None: not one of them)."""
    if name == "writenotify":
        return within(a[0]) is not None and (a[2] is None or all(n in VM_OPS for n in a[2]))
    if name == "unmapped_area":
        length, low, high, align, _ = a
        return length > 0 and low < high and align > 0 and align & (align - 1) == 0
    if name == "pagesize":
        return within(a[0]) is not None
    if name == "init_stack":
        # (a VMA at or above *page*: relocate_vma_down() refuses it itself, -EFAULT)
        return 0 < a[0]
    if name == "relocate":
        v = within(a[0])
        return v is not None and 0 < a[1] <= v[0]
    return None


def gen_query(rnd: random.Random, layout: Sequence, name: str, pages: int) -> tuple | None:
    """One of QUERY_FEATURES' operations valid against *layout* (None: none fits).
    Where the layout has nothing it asks about (a shared file VMA, a stack with its
    guard gap), now and then the basic operation that makes it."""
    used = [(r[0], r[1]) for r in layout]

    def free(s: int, e: int) -> bool:
        return not any(x < e and s < y for x, y in used)
    if name == "unmapped_area":
        if rnd.random() < 0.15:
            gaps = [p for p in range(2, pages - 1) if free(p, p + 2)]
            if gaps:
                s = rnd.choice(gaps)
                return ("map", s, s + 2, s, BASE + ("VM_GROWSDOWN",), None, None)
        length = rnd.randint(1, 4)
        low = rnd.randrange(pages // 2)
        high = rnd.randint(low + 1, pages + 8)
        return ("unmapped_area", length, low, high, rnd.choice((1, 1, 2, 4)),
                rnd.random() < 0.5)
    if name == "init_stack":
        top = max([r[1] for r in layout] + [1])
        page = rnd.randint(top, pages) if top < pages and rnd.random() < 0.8 \
            else rnd.randint(1, pages)
        return ("init_stack", page)
    if not layout:
        return None
    v = rnd.choice(layout)
    if name == "pagesize":
        return ("pagesize", rnd.randint(v[0], v[1] - 1))
    if name == "relocate":
        if v[0] == 0:
            return None
        below = max([r[1] for r in layout if r[1] <= v[0]] + [0])
        shift = rnd.randint(1, v[0] - below) if below < v[0] and rnd.random() < 0.8 \
            else rnd.randint(1, v[0])
        return ("relocate", v[0], shift)
    # writenotify: a shared file mapping, soft-dirty or not, VM_PFNMAP now and then
    r = rnd.random()
    if r < 0.2 and v[5] is not None and "VM_SHARED" not in v[3]:
        return ("set_flags", v[0], ("VM_SHARED", "VM_MAYSHARE"))
    if r < 0.25:
        return ("set_flags", v[0], ("VM_PFNMAP",))
    return ("writenotify", rnd.randint(v[0], v[1] - 1), rnd.choice(PROTS), rnd.choice(WN_OPS),
            rnd.random() < 0.5)


def describe_query(op: Sequence) -> str | None:
    """One line for one of QUERY_FEATURES' operations (None: not one of them)."""
    name, *a = op
    if name == "writenotify":
        page, prot, ops, wb = a
        what = ("its vm_ops" if ops is None else "vm_ops " + ("+".join(ops) or "(no callbacks)"))
        return (f"vma_wants_writenotify page_prot {prot:#x} and vma_needs_dirty_tracking of "
                f"the VMA at page {page:#x} ({what}, file "
                f"{'can' if wb else 'cannot'} write back)")
    if name == "unmapped_area":
        length, low, high, align, topdown = a
        return (f"unmapped_area{'_topdown' if topdown else ''} of {length:#x} page(s) in "
                f"pages {low:#x}-{high:#x}" + (f" aligned to {align} pages" if align > 1 else ""))
    if name == "pagesize":
        return f"vma_mmu_pagesize of the VMA at page {a[0]:#x}"
    if name == "init_stack":
        return (f"create_init_stack_vma, a fault in it, then relocate_vma_down of the stack "
                f"to page {a[0]:#x} (exec)")
    if name == "relocate":
        return (f"relocate_vma_down of the VMA at page {a[0]:#x} (faulted first if "
                f"anonymous) by {a[1]:#x} page(s)")
    return None


def query_corpus(fail_sites: Sequence[str]) -> list[list[tuple]]:
    """Scenarios of these operations: writenotify of private, shared, shared
    read-only, soft-dirty and VM_PFNMAP file VMAs with each kind of vm_ops, page_prot
    and writeback; unmapped_area both ways beside VMAs and a stack's guard gap,
    aligned or not, with room and without; vma_mmu_pagesize of an anonymous and a
    file VMA; exec's stack into an empty mm, above VMAs, onto one; relocate_vma_down
    into a gap, up to a neighbour, over one; each of *fail_sites* during the exec
    operations."""
    ro = ("VM_READ", "VM_MAYREAD", "VM_SHARED", "VM_MAYSHARE")
    out: list[list[tuple]] = []
    for flags in (BASE, SHARED, ro, SHARED + ("VM_SOFTDIRTY",), SHARED + ("VM_PFNMAP",),
                  SHARED + ("VM_SOFTDIRTY", "VM_PFNMAP")):
        for ops in (None, ("page_mkwrite",), ("pfn_mkwrite",)):
            for wb in (False, True):
                for prot in PROTS:
                    out.append([("map", 0, 4, 0, flags, None, "f0"),
                                ("writenotify", 1, prot, ops, wb)])
    out.append([("map", 0, 4, 0, SHARED, None, None), ("writenotify", 0, 0, None, True)])
    gd = BASE + ("VM_GROWSDOWN",)
    for lay in ([], [("map", 2, 4, 2, BASE, None, None), ("map", 8, 10, 8, BASE, None, None)],
                [("map", 2, 4, 2, BASE, None, None), ("map", 12, 14, 12, gd, None, None)]):
        for length, low, high, align in ((1, 0, 24, 1), (2, 0, 24, 4), (3, 4, 8, 1),
                                         (4, 0, 12, 1), (2, 9, 40, 2), (30, 0, 24, 1)):
            for topdown in (False, True):
                out.append([*lay, ("unmapped_area", length, low, high, align, topdown)])
    out.append([("map", 0, 4, 0, BASE, None, None), ("pagesize", 1)])
    out.append([("map", 0, 4, 0, SHARED, None, "f0"), ("pagesize", 3)])
    exec_cases: list[list[tuple]] = [
        [("init_stack", 20)],
        [("map", 2, 4, 2, BASE, None, None), ("init_stack", 20)],
        [("map", 2, 4, 2, BASE, None, None), ("init_stack", 4)],
        [("map", 2, 4, 2, BASE, None, None), ("init_stack", 3)],
        [("init_stack", 20), ("relocate", 20, 4)],
        [("map", 8, 10, 8, BASE, None, None), ("relocate", 8, 2)],
        [("map", 2, 4, 2, BASE, None, None), ("map", 8, 10, 8, BASE, None, None),
         ("relocate", 8, 4)],
        [("map", 2, 4, 2, BASE, None, None), ("map", 8, 10, 8, BASE, None, None),
         ("relocate", 8, 7)],
        [("map", 8, 12, 8, SHARED, None, "f0"), ("relocate", 8, 2)],
    ]
    out += exec_cases
    for site in fail_sites:
        for after in (0, 1):
            out += [[("fail", site, after), ("init_stack", 20)],
                    [("map", 8, 10, 8, BASE, None, None), ("fail", site, after),
                     ("relocate", 8, 2)]]
    return out
