# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma diff``'s operations on mm/vma.c's other entry points: the vma_modify_*()
front ends other than flags (name, policy, userfaultfd), vma_merge_extend(), stack
growth, __install_special_mapping(), mm_take_all_locks(), mmap of files whose
->mmap / ->mmap_prepare do something, and the limits the harness applies.

Each operation is a tuple ``(name, *args)`` as in :mod:`.ops` (addresses in pages,
flags by name).  This module runs them (:func:`apply_path`), says whether one is
valid in a layout (:func:`valid_path`), generates them (:func:`gen_path`), names
them (:func:`describe_path`) and holds their scenarios (:func:`path_corpus`).  It
works on an :class:`.ops.World` without importing :mod:`.ops`.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from ..api import PAGE_SIZE
from ..api.objects import _OPS_NAMES as VM_OPS  # the harness vm_operations

BASE = ("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
EINVAL = -22

#: operation -> the tree feature it needs (None: every tree the harness builds)
PATH_FEATURES: dict[str, str | None] = {
    "name": None,               # vma_modify_name() (vma_modify_flags_name() on 6.12)
    "policy": None,             # vma_modify_policy()
    "uffd": None,               # vma_modify_flags_uffd()
    "extend": None,             # vma_merge_extend() (mremap growing in place)
    "stack": "expand_downwards",
    "special": "install_special_mapping",
    "all_locks": None,          # mm_take_all_locks() / mm_drop_all_locks()
    "mmap_file": "mmap_region",
    "mmap_prepare": "mmap_prepare",
    "limit": None,
}
#: the fault sites beyond ops.FAIL_SITES a ``fail`` operation may arm
MORE_FAIL_SITES = ("mas_store", "may_expand_vm", "vm_enough_memory", "mlock_future_ok",
                   "anon_vma_prepare", "dup_policy", "signal_pending",
                   "mmap_action_prepare", "mmap_action_complete")
#: the limits a ``limit`` operation sets (Kernel.set_limit names; values in pages)
LIMITS = ("as", "memlock", "stack", "commit")
#: flags only these operations' scenarios set (compared by name like GEN_FLAGS)
PATH_FLAGS = ("VM_GROWSDOWN", "VM_LOCKED", "VM_IO", "VM_DONTEXPAND")
#: files whose ->mmap / ->mmap_prepare do something, by the name an op gives them:
#: name -> (Kernel.file() keyword arguments, the names of other files they use)
FILE_KINDS: dict[str, dict] = {
    # ->mmap that fails with -EINVAL after the VMA exists
    "fe": {"mmap": True, "err": EINVAL},
    # ->mmap setting VM_IO | VM_DONTEXPAND and installing vm_ops with ->close
    "fm": {"mmap": True, "set_flags": ("VM_IO", "VM_DONTEXPAND"), "ops": ("close",)},
    # ->mmap_prepare installing vm_ops with ->open/->close, page offset + 1
    "fp": {"mmap_prepare": True, "ops": ("open", "close"), "pgoff_delta": 1},
    # ->mmap_prepare failing with -EINVAL
    "fpe": {"mmap_prepare": True, "err": EINVAL},
    # ->mmap_prepare asking for an anonymous VMA (NULL vm_ops, /dev/zero's way)
    "fpa": {"mmap_prepare": True, "ops": None},
    # ->mmap_prepare mapping file f0 instead
    "fps": {"mmap_prepare": True, "swap": "f0"},
    # ->mmap_prepare hiding the VMA from rmap until its action completes
    "fph": {"mmap_prepare": True, "hide_rmap": True},
}
MMAP_FILE_KINDS = ("fe", "fm")
PREPARE_KINDS = ("fp", "fpe", "fpa", "fps", "fph")


def make_file(w, name: str):
    """The file *name* of FILE_KINDS for World *w* (None: not one of them)."""
    spec = FILE_KINDS.get(name)
    if spec is None:
        return None
    kw = dict(spec)
    if "set_flags" in kw:
        kw["set_flags"] = w.k.flag(*kw["set_flags"])
    if "swap" in kw:
        kw["swap"] = w.file(kw["swap"])
    return w.k.file(**kw)


def _prev_for(w, vma, s: int):
    """mprotect_fixup()'s prev: the VMA itself when the range starts inside it,
    else the VMA before it (if adjacent)."""
    if s * PAGE_SIZE > vma.start:
        return vma
    vmas = w.mm.vmas()
    i = vmas.index(vma)
    return vmas[i - 1] if i > 0 and vmas[i - 1].end == vma.start else None


def _returned(vma, s: int, e: int) -> object:
    """A vma_modify_*() front end's VMA: 0 when it covers [s, e) as it must (the
    merged VMA, or the one split off), else what it covers."""
    if vma.start <= s * PAGE_SIZE and e * PAGE_SIZE <= vma.end:
        return 0
    return f"returned {vma.start // PAGE_SIZE:#x}-{vma.end // PAGE_SIZE:#x}"


def apply_path(w, op: Sequence) -> tuple[object, tuple]:
    """Run one of PATH_FEATURES' operations on World *w*: (return value, flags the
    tree lacks).  KernelError/KernelBug propagate to ops.apply."""
    k, mm = w.k, w.mm
    name, *a = op
    missing: tuple = ()
    if name in ("name", "policy", "uffd"):
        # madvise(MADV_..)/prctl(PR_SET_VMA_ANON_NAME), mbind(), userfaultfd register:
        # pages [s, e) of the VMA at s, prev as mprotect_fixup() passes it
        s, e = a[0], a[1]
        vma = w.vma_at(s)
        if vma is None:
            return "novma", missing
        e = min(e, vma.end // PAGE_SIZE)
        prev = _prev_for(w, vma, s)
        vmi = mm.vmi(s * PAGE_SIZE)
        if name == "name":
            got = mm.modify_name(vmi, prev, vma, s * PAGE_SIZE, e * PAGE_SIZE,
                                 None if a[2] is None else str(a[2]))
        elif name == "policy":
            got = mm.modify_policy(vmi, prev, vma, s * PAGE_SIZE, e * PAGE_SIZE)
        else:
            flags, missing = w.flags(a[2])
            got = mm.modify_flags_uffd(vmi, prev, vma, s * PAGE_SIZE, e * PAGE_SIZE, flags,
                                       give_up_on_oom=a[3])
            if got.start == s * PAGE_SIZE and got.end == e * PAGE_SIZE:
                # userfaultfd_register_range() sets the flags on the VMA that came
                # back unmerged (as the modify operation does after its split)
                got.set_flags(flags)
        return _returned(got, s, e), missing
    if name == "extend":
        # mremap growing the VMA at *page* in place by *delta* pages
        page, delta = a
        vma = w.vma_at(page)
        vmi = mm.vmi(vma.end)
        got = mm.merge_extend(vmi, vma, delta * PAGE_SIZE)
        if got is None:
            return "nomerge", missing
        # mremap accounts the pages it grew by (vm_stat_account())
        k.lib.pyvma_account_range(mm.ptr, got.flags, delta)
        return 0, missing
    if name == "stack":
        # a fault below a VM_GROWSDOWN stack: expand_downwards(vma, address)
        page, addr = a
        return mm.expand_downwards(w.vma_at(page), addr * PAGE_SIZE) or 0, missing
    if name == "special":
        # a vDSO-like mapping: __install_special_mapping() with harness vm_ops
        s, e, names, ops = a
        flags, missing = w.flags(names)
        mm.install_special_mapping(s * PAGE_SIZE, (e - s) * PAGE_SIZE, flags,
                                   ops=None if ops is None else list(ops))
        return 0, missing
    if name == "all_locks":
        # mm_take_all_locks(), then (taken) mm_drop_all_locks(): the locks it held
        ret = mm.take_all_locks() or 0
        w.peak_locks = k.locks_held
        if ret == 0:
            mm.drop_all_locks()
        return ret, missing
    if name == "limit":
        which, pages = a
        value = None if pages is None else pages * (PAGE_SIZE if which != "commit" else 1)
        k.set_limit(which, value)
        return 0, missing
    raise ValueError(f"unknown operation {name!r}")


def valid_path(name: str, a: Sequence, free: Callable[[int, int], bool],
               within: Callable[[int], tuple | None]) -> bool | None:
    """Whether one of PATH_FEATURES' operations is one a kernel caller could make
    (None: not one of them)."""
    if name in ("name", "policy", "uffd"):
        v = within(a[0])
        if v is None or not a[0] < a[1] <= v[1]:
            return False
        # give_up_on_oom is only asked for whole VMAs (userfaultfd's promise)
        return not (name == "uffd" and a[3] and (a[0], a[1]) != v)
    if name == "extend":
        v = within(a[0])
        return v is not None and a[1] > 0 and free(v[1], v[1] + a[1])
    if name == "stack":
        v = within(a[0])
        # (expand_downwards() refuses a VMA without VM_GROWSDOWN itself: -EFAULT)
        return v is not None and 0 <= a[1] < v[0] and free(a[1], v[0])
    if name == "special":
        return 0 <= a[0] < a[1] and (a[3] is None or all(n in VM_OPS for n in a[3]))
    if name in ("mmap_file", "mmap_prepare"):
        kinds = MMAP_FILE_KINDS if name == "mmap_file" else PREPARE_KINDS
        return 0 <= a[0] < a[1] and a[4] in kinds
    if name == "limit":
        return a[0] in LIMITS and (a[1] is None or a[1] >= 0)
    if name == "all_locks":
        return True
    return None


def gen_path(rnd: random.Random, layout: Sequence, name: str, flags: Callable[[], tuple],
             pages: int) -> tuple | None:
    """One of PATH_FEATURES' operations valid against *layout* (None: none fits).
    Where the layout has nothing it needs (a stack), the op that makes it."""
    used = [(r[0], r[1]) for r in layout]

    def free(s: int, e: int) -> bool:
        return not any(x < e and s < y for x, y in used)
    if name == "limit":
        which = rnd.choice(LIMITS)
        return ("limit", which, rnd.choice((None, 0, 2, 4, 8, 16)))
    if name == "all_locks":
        return ("all_locks",)
    if name in ("special", "mmap_file", "mmap_prepare"):
        s = rnd.randrange(pages - 1)
        e = min(pages, s + rnd.randint(1, 4))
        if name == "special":
            return ("special", s, e, rnd.choice((("VM_READ", "VM_MAYREAD"), BASE)),
                    rnd.choice((None, (), ("close",), ("open", "close"))))
        kind = rnd.choice(MMAP_FILE_KINDS if name == "mmap_file" else PREPARE_KINDS)
        locked: tuple[str, ...] = ("VM_LOCKED",) if rnd.random() < 0.15 else ()
        return (name, s, e, s + rnd.choice((0, 0, 3)), flags() + locked, kind)
    if name == "stack":
        stacks = [r for r in layout if "VM_GROWSDOWN" in r[3]
                  and r[0] > 0 and free(r[0] - 1, r[0])]
        if stacks and rnd.random() < 0.8:
            r = rnd.choice(stacks)
            low = r[0] - 1
            while low > 0 and free(low - 1, low) and rnd.random() < 0.6:
                low -= 1
            return ("stack", r[0], low)
        # no stack to grow: map one (a locked one now and then)
        s = rnd.randrange(2, pages - 1)
        e = min(pages, s + rnd.randint(1, 3))
        extra: tuple[str, ...] = ("VM_GROWSDOWN",)
        if rnd.random() < 0.3:
            extra += ("VM_LOCKED",)
        return ("mmap", s, e, s, BASE + extra, None)
    if not layout:
        return None
    v = rnd.choice(layout)
    if name == "extend":
        nxt = min([x[0] for x in layout if x[0] >= v[1]] + [pages])
        if nxt <= v[1]:
            return None
        return ("extend", v[0], rnd.randint(1, nxt - v[1]))
    s = rnd.randint(v[0], v[1] - 1)
    e = rnd.randint(s + 1, v[1])
    if name == "name":
        return ("name", s, e, rnd.choice((None, "heap", "buf")))
    if name == "policy":
        return ("policy", s, e)
    whole = rnd.random() < 0.5
    if whole:
        s, e = v[0], v[1]
    return ("uffd", s, e, flags(), whole and rnd.random() < 0.5)


def _extra(flags: Sequence[str]) -> str:
    extra = [n.removeprefix("VM_") for n in flags if n not in BASE]
    return f" +{'+'.join(extra)}" if extra else ""


def describe_path(op: Sequence) -> str | None:
    """One line for one of PATH_FEATURES' operations (None: not one of them)."""
    name, *a = op
    if name == "name":
        return (f"vma_modify_name pages {a[0]:#x}-{a[1]:#x} to "
                + (f"name {a[2]!r}" if a[2] is not None else "no name"))
    if name == "policy":
        return f"vma_modify_policy pages {a[0]:#x}-{a[1]:#x} (no mempolicy)"
    if name == "uffd":
        return (f"vma_modify_flags_uffd pages {a[0]:#x}-{a[1]:#x} to base{_extra(a[2])}"
                + (" give_up_on_oom" if a[3] else ""))
    if name == "extend":
        return f"vma_merge_extend of the VMA at page {a[0]:#x} by {a[1]:#x} page(s)"
    if name == "stack":
        return f"expand_downwards of the stack at page {a[0]:#x} to page {a[1]:#x}"
    if name == "special":
        ops = "no vm_ops" if a[3] is None else "vm_ops " + ("+".join(a[3]) or "(none)")
        return (f"__install_special_mapping pages {a[0]:#x}-{a[1]:#x} "
                f"{'+'.join(n.removeprefix('VM_') for n in a[2])}, {ops}")
    if name == "all_locks":
        return "mm_take_all_locks, then mm_drop_all_locks"
    if name in ("mmap_file", "mmap_prepare"):
        s, e, pgoff, flags, f = a
        return (f"mmap pages {s:#x}-{e:#x} pgoff {pgoff:#x}{_extra(flags)} file={f} "
                f"({describe_file(f)})")
    if name == "limit":
        unit = "pages" if a[0] == "commit" else "pages (bytes / 4096)"
        return (f"limit {a[0]} " + ("unlimited" if a[1] is None else f"{a[1]} {unit}")
                + " for the rest of the sequence")
    return None


def describe_file(name: str) -> str:
    spec = FILE_KINDS.get(name, {})
    hook = "->mmap_prepare" if spec.get("mmap_prepare") else "->mmap"
    if "err" in spec:
        return f"{hook} fails with {spec['err']}"
    what = []
    if "set_flags" in spec:
        what.append("sets " + "|".join(spec["set_flags"]))
    if "ops" in spec:
        what.append("no vm_ops" if spec["ops"] is None else "vm_ops " + "+".join(spec["ops"]))
    if "pgoff_delta" in spec:
        what.append(f"pgoff +{spec['pgoff_delta']}")
    if "swap" in spec:
        what.append(f"maps {spec['swap']} instead")
    if spec.get("hide_rmap"):
        what.append("hides the VMA from rmap until complete")
    return f"{hook}: {', '.join(what)}"


def entry_fault_scenarios(site: str, after: int, every: bool = True) -> list[list[tuple]]:
    """A fault at *site* (after *after* calls) during each entry point a kernel caller
    uses: mmap beside a compatible mapping, over a mapping (a file whose ->mmap
    installs vm_ops), over an anon_vma'd one; munmap; copy_vma of a faulted VMA;
    brk; a first fault; insert_vm_struct.  *every*: also __vm_munmap, copy_vma next
    to itself, the flags path (modify) and a split (the four the main fault sites
    are armed during too)."""
    dd = BASE + ("VM_DONTDUMP",)
    fail = ("fail", site, after)
    out: list[list[tuple]] = [
        [("mmap", 0, 2, 0, BASE, None), fail, ("mmap", 2, 4, 2, BASE, None)],
        [("map", 0, 6, 0, BASE, None, None), fail, ("mmap", 2, 4, 0, BASE, "fc")],
        [("map", 2, 4, 2, BASE, "av0", None), fail, ("mmap", 2, 4, 2, BASE, None)],
        [("map", 0, 6, 0, BASE, "av0", None), fail, ("munmap", 2, 3)],
        [("mmap", 0, 2, 0, BASE, None), ("fault", 0), fail, ("copy_vma", 0, 4, True)],
        [("map", 0, 2, 0, BASE, None, None), fail, ("brk", 2, 4)],
        [("mmap", 0, 2, 0, BASE, None), fail, ("fault", 0)],
        [fail, ("insert", 2, 4, 2, BASE, None, "f0")],
    ]
    if every:
        out += [
            [("map", 0, 6, 0, BASE, "av0", None), fail, ("vm_munmap", 2, 3)],
            [("mmap", 0, 2, 0, BASE, None), fail, ("copy_vma", 0, 2, True)],
            [("map", 0, 6, 0, BASE, "av0", None), fail, ("modify", 2, 3, dd)],
            [("mmap", 0, 4, 0, BASE, None), ("fault", 0), fail, ("split", 2, True)],
        ]
    return out


def path_corpus(fail_sites: Sequence[str], more_sites: Sequence[str]) -> list[list[tuple]]:
    """Scenarios of these operations: each vma_modify_*() front end on a whole VMA
    next to an identical one, on part of one, on a sticky/anon/file neighbour;
    vma_merge_extend() into a compatible next or not; a stack growing with and
    without a neighbour below, locked, under each limit; special mappings with and
    without vm_ops, over a VMA; mm_take_all_locks() with files and anon_vmas, a
    signal backing it out; each ->mmap / ->mmap_prepare behaviour beside a
    compatible neighbour and over a mapping; each of *fail_sites* and *more_sites*
    during them, each of *more_sites* during the other entry points too."""
    dd: tuple[str, ...] = BASE + ("VM_DONTDUMP",)
    mg: tuple[str, ...] = BASE + ("VM_MAYBE_GUARD",)
    rx = BASE + ("VM_EXEC",)
    gd = BASE + ("VM_GROWSDOWN",)
    lk = BASE + ("VM_LOCKED",)
    out: list[list[tuple]] = []
    # the modify front ends: AABBCC, B (or part of it) modified, neighbours varied
    for fp, fn in ((BASE, BASE), (dd, BASE), (mg, mg), (BASE, rx)):
        for av, f in ((None, None), ("av0", None), (None, "f0")):
            for s, e in ((2, 4), (2, 3), (3, 4)):
                scene = [("map", 0, 2, 0, fp, av, f), ("map", 2, 4, 2, BASE, av, f),
                         ("map", 4, 6, 4, fn, av, f)]
                out.append(scene + [("name", s, e, "heap")])
                out.append(scene + [("name", s, e, None)])
                out.append(scene + [("policy", s, e)])
                out.append(scene + [("uffd", s, e, BASE, False)])
                out.append(scene + [("uffd", s, e, fp, (s, e) == (2, 4))])
    # vma_merge_extend: into the gap, up to a compatible next, an incompatible one
    for fn in (BASE, dd, mg):
        for av, f in ((None, None), ("av0", None), (None, "f0")):
            scene = [("map", 0, 2, 0, BASE, av, f), ("map", 4, 6, 4, fn, av, f)]
            out += [scene + [("extend", 0, 1)], scene + [("extend", 0, 2)]]
    out.append([("mmap", 0, 2, 0, BASE, None), ("fault", 0), ("extend", 0, 3)])
    # stacks: alone, below a guard gap neighbour, locked, under each limit
    for fl in (gd, gd + ("VM_LOCKED",), gd + ("VM_DONTDUMP",)):
        out += [
            [("mmap", 8, 10, 8, fl, None), ("stack", 8, 6)],
            [("mmap", 8, 10, 8, fl, None), ("fault", 8), ("stack", 8, 4)],
            [("mmap", 0, 2, 0, BASE, None), ("mmap", 8, 10, 8, fl, None), ("stack", 8, 6)],
            [("mmap", 0, 2, 0, ("VM_MAYREAD",), None), ("mmap", 8, 10, 8, fl, None),
             ("stack", 8, 5)],
            [("mmap", 2, 4, 2, gd, None), ("mmap", 8, 10, 8, fl, None), ("stack", 8, 4)],
            [("mmap", 8, 10, 8, fl, None), ("stack", 8, 0)],
            [("mmap", 3, 5, 3, fl, None), ("stack", 3, 1)],
        ]
        for which, pages in (("as", 3), ("stack", 3), ("memlock", 3), ("commit", 1)):
            out.append([("mmap", 8, 10, 8, fl, None), ("limit", which, pages),
                        ("stack", 8, 6)])
    out.append([("map", 8, 10, 8, BASE, None, None), ("stack", 8, 6)])
    # special mappings
    for names in (("VM_READ", "VM_MAYREAD"), BASE, lk):
        for ops in (None, (), ("close",), ("open", "close")):
            out.append([("special", 2, 4, names, ops)])
        out.append([("map", 0, 2, 0, BASE, None, None), ("special", 2, 4, names, ("close",)),
                    ("merge_new", 4, 6, 4, BASE, None, None)])
        out.append([("map", 0, 6, 0, BASE, None, None), ("special", 2, 4, names, None)])
    # mm_take_all_locks with files, shared and lone anon_vmas; a signal in each loop
    locks_scene = [("mmap", 0, 2, 0, BASE, None), ("fault", 0), ("mmap", 2, 4, 2, rx, None),
                   ("fault", 2), ("mmap", 5, 7, 0, BASE, "f0"), ("mmap", 7, 9, 9, BASE, "f0"),
                   ("fault", 7)]
    out.append(locks_scene + [("all_locks",)])
    out.append([("all_locks",)])
    for after in range(0, 13, 2):
        out.append(locks_scene + [("fail", "signal_pending", after), ("all_locks",)])
        out.append(locks_scene + [("fail", "fatal_signal", after), ("all_locks",)])
    # files whose ->mmap / ->mmap_prepare do something: alone, beside a mapping of the
    # same file it could merge with, over a mapping (MAP_FIXED), locked
    for op, kinds in (("mmap_file", MMAP_FILE_KINDS), ("mmap_prepare", PREPARE_KINDS)):
        for kind in kinds:
            fls: tuple[tuple[str, ...], ...] = (BASE, lk, BASE + ("VM_SHARED", "VM_MAYSHARE"))
            for fk in fls:
                out += [
                    [(op, 0, 2, 0, fk, kind)],
                    [("mmap", 0, 2, 0, BASE, kind), (op, 2, 4, 2, fk, kind)],
                    [("mmap", 0, 6, 0, BASE, None), ("fault", 0), (op, 2, 4, 0, fk, kind)],
                    [("mmap", 0, 2, 0, BASE, "f0"), (op, 2, 4, 1, fk, kind)],
                ]
            out.append([("limit", "as", 1), (op, 0, 2, 0, BASE, kind)])
            for site in ("vma_alloc", "prealloc", "mmap_action_prepare",
                         "mmap_action_complete", "mas_store"):
                out.append([("mmap", 0, 6, 0, BASE, None), ("fail", site, 0),
                            (op, 2, 4, 0, BASE, kind)])
    # the limits on mmap, brk and mremap's copy
    limits: tuple[tuple[str, int | None], ...] = (("as", 2), ("memlock", 1), ("commit", 1),
                                                  ("as", None))
    for lim, n in limits:
        for fk in (BASE, lk):
            out += [
                [("limit", lim, n), ("mmap", 0, 3, 0, fk, None)],
                [("mmap", 0, 2, 0, fk, None), ("limit", lim, n),
                 ("mmap", 2, 4, 2, fk, None)],
                [("mmap", 0, 2, 0, fk, None), ("limit", lim, n), ("brk", 2, 4)],
                [("mmap", 0, 2, 0, fk, None), ("limit", lim, n), ("extend", 0, 2)],
                [("mmap", 0, 2, 0, fk, None), ("limit", lim, n),
                 ("copy_vma", 0, 4, False)],
            ]
    # every fault site during these operations
    for site in (*fail_sites, *more_sites):
        for after in (0, 1):
            out += [
                [("mmap", 0, 2, 0, BASE, None), ("fail", site, after),
                 ("extend", 0, 2)],
                [("map", 0, 6, 0, BASE, "av0", None), ("fail", site, after),
                 ("name", 2, 3, "heap")],
                [("map", 0, 2, 0, BASE, "av0", None), ("map", 2, 4, 2, dd, "av0", None),
                 ("fail", site, after), ("uffd", 2, 4, BASE, True)],
                [("map", 0, 2, 0, BASE, "av0", None), ("map", 2, 4, 2, dd, "av0", None),
                 ("fail", site, after), ("policy", 2, 4)],
                [("mmap", 8, 10, 8, gd, None), ("fail", site, after), ("stack", 8, 6)],
                [("fail", site, after), ("special", 2, 4, BASE, ("close",))],
            ]
    # the other fault sites, during the other entry points they sit on
    for site in more_sites:
        for after in (0, 1):
            out += entry_fault_scenarios(site, after, every=False)
    return out
