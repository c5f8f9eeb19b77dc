# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma diff``'s corpus: small scenarios run on both trees before the random
sequences (every merge shape with each participant's flags, anon_vma and file
varied; each entry point a kernel caller uses; each fault site during them)."""
from __future__ import annotations

import itertools

from .callers_spec import caller_corpus
from .ops import BASE, FAIL_SITES, Op
from .ops_paths import MORE_FAIL_SITES, entry_fault_scenarios, path_corpus
from .ops_query import query_corpus


def corpus() -> list[list[Op]]:
    """Small scenarios: every merge shape, each participant's flags/anon/file varied."""
    flag_sets = [BASE, BASE + ("VM_DONTDUMP",), BASE + ("VM_MAYBE_GUARD",),
                 BASE + ("VM_SOFTDIRTY",)]
    out: list[list[Op]] = []
    # new range between prev and next:  AA*BB / AA* / *BB
    for fp, fn, fm in itertools.product(flag_sets, repeat=3):
        for shape in ("both", "left", "right"):
            ops: list[Op] = []
            if shape in ("both", "left"):
                ops.append(("map", 0, 2, 0, fp, "av0", None))
            if shape in ("both", "right"):
                ops.append(("map", 3, 5, 3, fn, "av0", None))
            ops.append(("merge_new", 2, 3, 2, fm, None, None))
            out.append(ops)
    # existing range: AABBCC, modify part or all of B
    for fp, fn, fm in itertools.product(flag_sets, repeat=3):
        for s, e in ((2, 4), (2, 3), (3, 4)):
            out.append([("map", 0, 2, 0, fp, "av0", None), ("map", 2, 4, 2, BASE, "av0", None),
                        ("map", 4, 6, 4, fn, "av0", None), ("modify", s, e, fm)])
    # anon_vma and file variants of a plain merge
    for av_a, av_b, f in itertools.product([None, "av0", "av1"], [None, "av0", "av1"],
                                           [None, "f0"]):
        out.append([("map", 0, 2, 0, BASE, av_a, f), ("map", 3, 5, 3, BASE, av_b, f),
                    ("merge_new", 2, 3, 2, BASE, None, f)])
    # expand, shrink, split and munmap of a sticky VMA
    for fl in flag_sets:
        out.append([("map", 0, 2, 0, fl, "av0", None), ("map", 4, 6, 4, BASE, "av0", None),
                    ("expand", 0, 3)])
        out.append([("map", 0, 4, 0, fl, None, None), ("shrink", 0, 2)])
        out.append([("map", 0, 4, 0, fl, None, None), ("split", 2, False),
                    ("merge_new", 4, 5, 4, BASE, None, None)])
        out.append([("map", 0, 6, 0, fl, None, None), ("munmap", 2, 3),
                    ("merge_new", 2, 3, 2, BASE, None, None)])
    out += entry_corpus()
    return out


def entry_corpus() -> list[list[Op]]:
    """Scenarios of the entry points a kernel caller uses: mmap (anonymous, private
    and shared file, over a mapping), brk, copy_vma (moved next to itself, above and
    below, faulted or not, a file), __vm_munmap, a first fault sharing a neighbour's
    anon_vma or not, insert_vm_struct, and each fault site during each of them."""
    sh = BASE + ("VM_SHARED", "VM_MAYSHARE")
    dd = BASE + ("VM_DONTDUMP",)
    rx = BASE + ("VM_EXEC",)     # no merge with BASE, an anon_vma it may share
    out: list[list[Op]] = [
        [("map", 0, 2, 0, BASE, "av0", None), ("mmap", 2, 4, 2, BASE, None)],
        [("mmap", 0, 2, 0, BASE, None), ("mmap", 2, 4, 2, BASE, None)],
        [("map", 0, 6, 0, BASE, None, None), ("mmap", 2, 4, 0, BASE, "fc"),
         ("munmap", 2, 4)],
        [("mmap", 0, 2, 0, BASE, "f0"), ("mmap", 2, 4, 2, BASE, "f0")],
        [("mmap", 0, 2, 0, sh, "f0"), ("mmap", 2, 4, 2, sh, "f0")],
        [("mmap", 0, 4, 0, BASE, "fc"), ("mmap", 4, 6, 4, BASE, "fc"), ("munmap", 3, 5)],
        [("brk", 0, 4)],
        [("brk", 0, 4), ("brk", 4, 6)],
        [("map", 0, 2, 0, BASE, None, None), ("brk", 2, 4)],
        [("mmap", 0, 2, 0, BASE, None), ("fault", 0), ("brk", 2, 4)],
        [("mmap", 0, 2, 0, BASE, None), ("copy_vma", 0, 2, True)],
        [("mmap", 4, 6, 4, BASE, None), ("copy_vma", 4, 2, True)],
        [("mmap", 0, 2, 0, BASE, None), ("copy_vma", 0, 2, False)],
        [("mmap", 0, 2, 0, BASE, None), ("fault", 0), ("copy_vma", 0, 2, True)],
        [("mmap", 0, 2, 0, BASE, None), ("fault", 0), ("copy_vma", 0, 8, True)],
        [("mmap", 0, 2, 0, BASE, None), ("fault", 0), ("copy_vma", 0, 8, False)],
        [("mmap", 0, 2, 0, BASE, "f0"), ("copy_vma", 0, 2, True)],
        [("mmap", 0, 2, 0, BASE, "fc"), ("copy_vma", 0, 6, True)],
        [("mmap", 0, 2, 0, BASE, None), ("mmap", 4, 6, 4, BASE, None), ("fault", 4),
         ("copy_vma", 4, 2, True)],
        [("map", 0, 6, 0, BASE, None, None), ("vm_munmap", 2, 3)],
        [("map", 0, 2, 0, BASE, "av0", None), ("map", 2, 4, 2, dd, "av0", None),
         ("vm_munmap", 1, 3)],
        [("mmap", 0, 2, 0, BASE, None), ("fault", 0), ("mmap", 2, 4, 2, BASE, None),
         ("fault", 2)],
        [("mmap", 0, 2, 0, BASE, None), ("fault", 0), ("mmap", 2, 4, 2, dd, None),
         ("fault", 2)],
        [("mmap", 0, 2, 0, BASE, None), ("fault", 0), ("mmap", 3, 5, 3, BASE, None),
         ("fault", 3)],
        [("mmap", 0, 2, 0, BASE, None), ("fault", 0), ("mmap", 2, 4, 2, rx, None),
         ("fault", 2)],
        [("mmap", 2, 4, 2, BASE, None), ("fault", 2), ("mmap", 0, 2, 0, rx, None),
         ("fault", 0)],
        [("mmap", 0, 6, 0, BASE, None), ("fault", 0), ("modify", 2, 4, rx),
         ("mmap", 8, 10, 8, rx, None), ("fault", 8), ("copy_vma", 8, 6, True)],
        [("mmap", 0, 6, 0, BASE, None), ("fault", 0), ("modify", 2, 4, dd), ("fault", 2),
         ("modify", 2, 4, BASE)],
        [("mmap", 0, 6, 0, BASE, None), ("fault", 0), ("split", 2, False),
         ("mmap", 8, 10, 8, BASE, None), ("copy_vma", 0, 10, True)],
        # a new range next to a moved, faulted file VMA (its anonymous offset moved
        # with it or not): merge_new and mmap of the file there
        [("insert", 8, 9, 8, BASE, None, "f0"), ("fault", 8), ("copy_vma", 8, 12, True),
         ("merge_new", 13, 15, 9, BASE, None, "f0")],
        [("mmap", 8, 9, 8, BASE, "f0"), ("fault", 8), ("copy_vma", 8, 12, True),
         ("mmap", 13, 15, 9, BASE, "f0")],
        [("insert", 2, 4, 0x15, BASE, None, None)],
        [("insert", 5, 7, 0x17, BASE, None, "f0")],
        [("map", 0, 2, 0, BASE, None, None), ("insert", 2, 4, 2, BASE, None, None)],
        [("insert", 0, 2, 0, BASE, "av0", None)],
    ]
    for site in FAIL_SITES:
        for after in (0, 1):
            out += entry_fault_scenarios(site, after)
    # vma_modify_name/policy/flags_uffd, vma_merge_extend, stacks, special mappings,
    # mm_take_all_locks, ->mmap/->mmap_prepare behaviours, limits, other fault sites
    return (out + mprotect_corpus() + path_corpus(FAIL_SITES, MORE_FAIL_SITES)
            + query_corpus(FAIL_SITES) + caller_corpus())


def mprotect_corpus() -> list[list[Op]]:
    """mprotect (vma_modify_flags(), then the flags set) in each merge shape:
    AAABBBCCC with all of B, its left, right or middle page changed, B's neighbours
    compatible with the new flags or not (sticky flags, a flag that blocks merging,
    read-only), anonymous with an anon_vma or a file; a neighbour across a gap (the
    vma_prev() mprotect passes); each fault site during a split and a merge."""
    dd = BASE + ("VM_DONTDUMP",)
    mg = BASE + ("VM_MAYBE_GUARD",)
    sd = BASE + ("VM_SOFTDIRTY",)
    ro = ("VM_READ", "VM_MAYREAD", "VM_MAYWRITE")
    out: list[list[Op]] = []
    for fp, fn in ((BASE, BASE), (mg, BASE), (BASE, sd), (mg, sd), (dd, dd), (ro, ro),
                   (ro, BASE)):
        for new in (BASE, dd, ro, mg):
            for av, f in (("av0", None), (None, "f0")):
                scene = [("map", 0, 3, 0, fp, av, f), ("map", 3, 6, 3, dd, av, f),
                         ("map", 6, 9, 6, fn, av, f)]
                for s, e in ((3, 6), (3, 4), (5, 6), (4, 5)):
                    out.append(scene + [("mprotect", s, e, new)])
    # prev across a gap, next across a gap, the VMA alone
    for new in (BASE, dd):
        out += [[("map", 0, 2, 0, BASE, "av0", None), ("map", 3, 6, 3, dd, "av0", None),
                 ("mprotect", 3, 5, new)],
                [("map", 3, 6, 3, dd, "av0", None), ("map", 7, 9, 7, BASE, "av0", None),
                 ("mprotect", 4, 6, new)],
                [("mmap", 3, 6, 3, dd, None), ("mprotect", 3, 6, new)]]
    # faulted: the anon_vma a merge or split must keep
    out += [[("mmap", 0, 3, 0, BASE, None), ("fault", 0), ("mmap", 3, 6, 3, dd, None),
             ("mprotect", 3, 6, BASE)],
            [("mmap", 0, 3, 0, BASE, None), ("mmap", 3, 6, 3, dd, None), ("fault", 3),
             ("mprotect", 3, 6, BASE)],
            [("mmap", 0, 6, 0, BASE, None), ("fault", 0), ("mprotect", 2, 4, ro),
             ("mprotect", 2, 4, BASE)]]
    for site in FAIL_SITES + MORE_FAIL_SITES:
        for after in (0, 1):
            out += [[("map", 0, 6, 0, BASE, "av0", None), ("fail", site, after),
                     ("mprotect", 2, 4, dd)],
                    [("map", 0, 3, 0, BASE, "av0", None), ("map", 3, 6, 3, dd, "av0", None),
                     ("fail", site, after), ("mprotect", 3, 6, BASE)]]
    return out
