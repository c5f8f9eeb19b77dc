# SPDX-License-Identifier: GPL-2.0-or-later
"""The caller operations as ``pyvma diff`` runs them: one spec each (its arguments,
the feature or flag it needs, the kernel functions it calls, its fault sites, the
caller path that differs between trees), and from it the argument check
(``argcheck.OP_ARGS``), the description, validity and generation; the run on an
:class:`.ops.World` is :func:`.callers.apply_caller`.  Imports nothing of the API
(argcheck reads it before any build loads).

Operations (addresses in pages): ``("mremap", s, e, new_pages, dst, how)`` (how:
``MREMAP_HOW``; dst null for ``resize``), ``("mprotect_prot", s, e, prot)``
(``PROT``), ``("madvise", s, e, advice)`` (``ADVICE``),
``("mlock", s, e, how)`` (``mlock``, ``onfault``, ``munlock``), ``("mlockall", how)``
(``current``, ``onfault``, ``munlockall``), ``("mseal", s, e)``.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..api import Kernel

_PAGE, _NAME, _COUNT = "page", "name", "count"
#: mremap's ways: in place (no MREMAP_MAYMOVE), MREMAP_MAYMOVE|MREMAP_FIXED, and
#: that with MREMAP_DONTUNMAP
MREMAP_HOW = ("resize", "fixed", "dontunmap")
#: mprotect's prot by name (PROT_READ 1, PROT_WRITE 2, PROT_EXEC 4; PROT_NONE "none":
#: a replay line's names are never empty)
PROT = {"none": 0, "r": 1, "w": 2, "rw": 3, "rx": 5, "rwx": 7}
#: madvise advice -> (the flag, set or cleared); and the guard ones
MADV_FLAG = {"DONTFORK": ("VM_DONTCOPY", True), "DOFORK": ("VM_DONTCOPY", False),
             "WIPEONFORK": ("VM_WIPEONFORK", True), "KEEPONFORK": ("VM_WIPEONFORK", False),
             "MERGEABLE": ("VM_MERGEABLE", True), "UNMERGEABLE": ("VM_MERGEABLE", False)}
ADVICE = ("GUARD_INSTALL", "GUARD_REMOVE", *MADV_FLAG)
#: the flags loop's fault sites (vma_modify_flags(): split, merge)
LOOP_SITES = ("prealloc", "vma_alloc", "anon_vma_clone", "mas_store")


@dataclass(frozen=True)
class CallerSpec:
    """One system call as the harness performs it."""

    kind: int                             # its C kind (PYVMA_SEQ_* in csrc/pyvma_api.h)
    args: tuple[str, ...]                 # argcheck kinds, after the name
    calls: tuple[str, ...]                # the kernel functions it calls
    fault_sites: tuple[str, ...] = ()     # Kernel.fail sites its calls reach
    feature: str | None = None            # tree feature it needs (None: every tree)
    flag: str | None = None               # flag the tree must have
    #: argument value -> (feature, how the trees' callers differ without it)
    paths: tuple[tuple[str, str, str], ...] = ()
    values: tuple[tuple[int, tuple[str, ...]], ...] = ()   # (arg index, allowed names)
    #: the caller file and its functions this operation restates (once, for every
    #: tree: a change there shows only where a probed path follows it)
    restates: tuple[str, tuple[str, ...]] = ("", ())
    #: of those, the ones whose tree differences ``paths`` follow, with the value
    follows: tuple[tuple[str, str], ...] = ()


SPECS: dict[str, CallerSpec] = {
    "mremap": CallerSpec(
        31, (_PAGE, _PAGE, _COUNT, _COUNT, _NAME),
        ("vma_lookup", "do_vmi_munmap", "vma_merge_extend", "vm_acct_memory",
         "vm_stat_account", "copy_vma", "vm_unacct_memory"),
        LOOP_SITES,
        paths=(("dontunmap", "copy_vma_keep_source",
                "the source-keeping path differs: copy_vma() has no keep_source, "
                "so MREMAP_DONTUNMAP calls it without (that tree's own mremap)"),),
        values=((5, MREMAP_HOW),),
        restates=("mm/mremap.c", (
            "do_mremap", "mremap_to", "move_vma", "copy_vma_and_data", "dontunmap_complete",
            "unmap_source_vma", "prep_move_vma", "vma_to_resize", "resize_is_valid",
            "check_mremap_params", "remap_move", "mremap_at", "expand_vma",
            "expand_vma_in_place", "shrink_vma", "vma_expandable", "vrm_calc_charge",
            "vrm_uncharge", "vrm_stat_account", "vrm_set_delta", "vrm_set_new_addr",
            "vrm_implies_new_addr", "vrm_move_only", "vrm_overlaps", "vrm_remap_type",
            "vrm_will_map_new", "vrm_can_expand_in_place", "mremap_expand_in_place",
            "__check_map_count_against_split", "check_map_count_against_split",
            "check_map_count_against_split_early", "needs_pre_split", "check_prep_vma",
            "sys_mremap")),
        follows=(("move_vma", "dontunmap"), ("copy_vma_and_data", "dontunmap"))),
    "mprotect_prot": CallerSpec(
        32, (_PAGE, _PAGE, _NAME), ("vma_modify_flags", "vm_flags_reset"), LOOP_SITES,
        values=((3, tuple(PROT)),),
        restates=("mm/mprotect.c", ("do_mprotect_pkey", "mprotect_fixup", "sys_mprotect"))),
    "madvise": CallerSpec(
        33, (_PAGE, _PAGE, _NAME), ("vma_modify_flags", "vm_flags_reset", "anon_vma_prepare"),
        LOOP_SITES + ("anon_vma_prepare",), values=((3, ADVICE),),
        restates=("mm/madvise.c", (
            "madvise_update_vma", "madvise_vma_behavior", "madvise_guard_install",
            "madvise_guard_remove", "is_valid_guard_vma", "madvise_walk_vmas",
            "madvise_do_behavior", "do_madvise", "sys_madvise"))),
    "mlock": CallerSpec(
        34, (_PAGE, _PAGE, _NAME), ("vma_modify_flags", "vm_flags_reset", "anon_vma_prepare"),
        LOOP_SITES + ("anon_vma_prepare",), values=((3, ("mlock", "onfault", "munlock")),),
        restates=("mm/mlock.c", ("mlock_fixup", "apply_vma_lock_flags", "do_mlock",
                                 "sys_mlock", "sys_mlock2", "sys_munlock"))),
    "mlockall": CallerSpec(
        35, (_NAME,), ("vma_modify_flags", "vm_flags_reset", "anon_vma_prepare"),
        LOOP_SITES + ("anon_vma_prepare",),
        values=((1, ("current", "onfault", "munlockall")),),
        restates=("mm/mlock.c", ("apply_mlockall_flags", "sys_mlockall",
                                 "sys_munlockall"))),
    "mseal": CallerSpec(36, (_PAGE, _PAGE), ("vma_modify_flags", "vm_flags_reset"), LOOP_SITES,
                        flag="VM_SEALED",
                        restates=("mm/mseal.c", (
                            "do_mseal", "mseal_apply", "mseal_fixup", "apply_mm_seal",
                            "range_contains_unmapped", "check_mm_seal", "mseal_range",
                            "__mseal_range", "set_vma_sealed", "sys_mseal"))),
}
#: argcheck's argument kinds of each caller operation
OP_ARGS = {name: s.args for name, s in SPECS.items()}
#: fork runs in the oracle only (a second mm: diff's worlds hold one)
NOT_IN_DIFF = ("fork (dup_mmap(): a second mm; diff's worlds hold one, the oracle runs it)",)


def lacking(name: str, kernels: Sequence[Kernel]) -> str | None:
    """What one of *kernels* lacks for operation *name* (None: all can run it)."""
    s = SPECS[name]
    if s.feature and not all(k.has(s.feature) for k in kernels):
        return s.feature
    if s.flag and not all(k.has_flag(s.flag) for k in kernels):
        return s.flag
    return None


def paths_differ(a: Kernel, b: Kernel) -> list[str]:
    """Each caller path the two trees take differently (each runs its own), named:
    ``mremap dontunmap: the source-keeping path differs: tree A (6.12.107) has ...``."""
    out = []
    for name, s in SPECS.items():
        for value, feat, why in s.paths:
            have = [k.has(feat) for k in (a, b)]
            if have[0] != have[1]:
                side = "A" if not have[0] else "B"
                k = a if side == "A" else b
                out.append(f"{name} {value}: {why.split(':')[0]}: tree {side} ({k.version}) "
                           f"lacks {feat} ({why.split(': ', 1)[1]})")
    return out


def valid_caller(name: str, a: Sequence) -> bool | None:
    """Whether a caller operation's arguments are in its domain (None: not one);
    the system call itself refuses what its layout does not allow."""
    s = SPECS.get(name)
    if s is None:
        return None
    for i, names in s.values:
        if a[i - 1] not in names:
            return False
    if name == "mremap":
        return (0 <= a[0] < a[1] and a[2] is not None and a[2] > 0
                and (a[3] is None) == (a[4] == "resize"))
    if len(s.args) >= 2:
        return 0 <= a[0] < a[1]
    return True


def gen_caller(rnd: random.Random, layout: Sequence, name: str, pages: int) -> tuple | None:
    """A caller operation against *layout* (None: none fits): ranges mostly within
    or across the mapped VMAs, a move's target often next to its source (the
    self-merge copy_vma() handles, and MREMAP_DONTUNMAP must not make)."""
    if not layout:
        return None
    v = rnd.choice(layout)
    s = rnd.randint(v[0], v[1] - 1) if rnd.random() < 0.4 else v[0]
    e = rnd.randint(s + 1, v[1]) if rnd.random() < 0.4 else v[1]
    if rnd.random() < 0.2:
        e = min(pages, e + rnd.randint(1, 4))          # across the next VMA or a hole
    if name == "mremap":
        n = e - s
        how = rnd.choice(MREMAP_HOW)
        if how == "resize":
            new = max(1, n + rnd.choice((-2, -1, 1, 1, 2, 3)))
            return ("mremap", s, e, new, None, how)
        cands = [d for d in (e, s - n) if 0 <= d and d + n <= pages]
        dst = rnd.choice(cands) if cands and rnd.random() < 0.6 else \
            rnd.randrange(max(1, pages - n))
        if dst < e and s < dst + n:
            return None
        return ("mremap", s, e, n, dst, how)
    if name == "mprotect_prot":
        return ("mprotect_prot", s, e, rnd.choice(("r", "rw", "rw", "none", "rx")))
    if name == "madvise":
        return ("madvise", s, e, rnd.choice(ADVICE))
    if name == "mlock":
        return ("mlock", s, e, rnd.choice(("mlock", "onfault", "munlock")))
    if name == "mlockall":
        return ("mlockall", rnd.choice(("current", "onfault", "munlockall")))
    if name == "mseal":
        return ("mseal", s, e) if rnd.random() < 0.3 else None     # sealing sticks: rare
    return None


def describe_caller(op: Sequence) -> str | None:
    """The operation as a system call (None: not a caller operation)."""
    name, *a = op
    if name not in SPECS:
        return None
    if name == "mremap":
        s, e, new, dst, how = a
        if how == "resize":
            return f"mremap pages {s:#x}-{e:#x} to {new:#x} page(s) in place"
        flags = "MAYMOVE|FIXED" + ("|DONTUNMAP" if how == "dontunmap" else "")
        return f"mremap pages {s:#x}-{e:#x} to page {dst:#x} ({flags}, {new:#x} page(s))"
    if name == "mlockall":
        return f"mlockall({a[0]})" if a[0] != "munlockall" else "munlockall()"
    what = {"mprotect_prot": lambda: f"mprotect(PROT {a[2]})",
            "madvise": lambda: f"madvise(MADV_{a[2]})",
            "mlock": lambda: {"mlock": "mlock", "onfault": "mlock2(MLOCK_ONFAULT)",
                              "munlock": "munlock"}[a[2]],
            "mseal": lambda: "mseal"}[name]()
    return f"{what} pages {a[0]:#x}-{a[1]:#x}"


#: how one caller operation's kernel functions are named in the report's footer
def calls_text() -> str:
    return "; ".join(f"{n}: {', '.join(s.calls)}" for n, s in SPECS.items())



def caller_corpus() -> list[list[tuple]]:
    """Each caller operation after the layouts it behaves differently in: mremap
    next to its own source (before and after, faulted or not, anonymous or of a
    file), in place and across a neighbour; the flags loop over two VMAs."""
    base = ("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
    out: list[list[tuple]] = []
    for f in ("anon", "f0"):
        for faulted in (False, True):
            # map: every tree has it (6.12's mmap path is not in mm/vma.c)
            setup: list[tuple] = [("map", 4, 8, 4, base, None, f)]
            if faulted:
                setup.append(("fault", 4))
            for how in MREMAP_HOW[1:]:
                for dst in (8, 0, 12):                  # after, before, apart
                    out.append(setup + [("mremap", 4, 8, 4, dst, how)])
                out.append(setup + [("mremap", 5, 7, 2, 12, how)])     # the middle
            for new in (2, 6):
                out.append(setup + [("mremap", 4, 8, new, None, "resize")])
    two = [("map", 2, 6, 2, base, None, "anon"), ("fault", 2),
           ("map", 6, 10, 6, base, None, "anon")]
    for adv in ADVICE:
        out.append(two + [("madvise", 3, 8, adv)])
    for prot in ("r", "rw", "none"):
        out.append(two + [("mprotect_prot", 4, 10, prot)])
    for how in ("mlock", "onfault"):
        out.append(two + [("mlock", 3, 8, how), ("mlock", 3, 8, "munlock")])
    out.append(two + [("mlockall", "current"), ("mlockall", "munlockall")])
    out.append(two + [("mseal", 3, 5), ("mremap", 3, 5, 2, 14, "fixed")])
    # mmap of a file whose ->mmap_prepare sets VMA fields, merging into a neighbour
    # it did not make (the flags mmap gives a private writable file mapping)
    mapped = base + ("VM_ACCOUNT", "VM_SOFTDIRTY")
    for kind in ("fp", "fpa", "fps", "fph"):
        for pgoff in (1, 2):
            out.append([("map", 0, 2, 0, mapped, None, kind),
                        ("mmap_prepare", 2, 4, pgoff, base, kind)])
    return out
