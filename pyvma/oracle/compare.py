# SPDX-License-Identifier: GPL-2.0-or-later
"""Run a scenario on the running kernel and on a tree; compare the layouts after
every operation: ranges (so which VMAs merged), flags by name, file offsets,
anonymous vs file, and each operation's return."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..api import Kernel
from . import harness, live, maps
from .scenario import Scenario

#: flag differences a kernel change explains: (feature of pyvma/tree/features.py,
#: the flag it is about).  Applies where the tree has the feature and the running
#: kernel does not show the flag (or the other way round).
EXPLAINED_BY: tuple[tuple[str, str], ...] = (
    ("maybe_guard", "VM_MAYBE_GUARD"),
    ("sticky", "VM_SOFTDIRTY"),
)

#: merge decisions a kernel change explains: feature -> (the live probe of the
#: behaviour it changes, where in the scenario it applies (see _at), flags that may
#: differ with the merge).  Applies where the tree has the feature, the running
#: kernel behaves as a kernel without it (the probe), the scenario has the shape, and
#: the tree's layout is the running kernel's with more boundaries (same pages, flags
#: but those, offsets, backing).  Tried in this order.
EXPLAINED_MERGES: dict[str, tuple[str, str, frozenset]] = {
    # the running kernel's copy_vma() merges the new VMA into its own source, whose
    # VM_LOCKED MREMAP_DONTUNMAP then clears on both: at the MREMAP_DONTUNMAP move,
    # one live VMA spanning both its source and its target
    "copy_vma_keep_source": ("dontunmap_merges_into_source", "dontunmap self-merge",
                             frozenset({"VM_LOCKED", "VM_LOCKONFAULT"})),
    # a VMA moved before (or at) the operation, its anonymous offset no longer its
    # file offset's
    "anon_pgoff": ("merges_moved_anon_of_file", "after a move", frozenset()),
}

#: merge decisions a change the tree predates explains: feature -> the live probe of
#: the behaviour it brought.  Applies where the tree LACKS the feature, the running
#: kernel has the behaviour (the probe), and the tree's layout is the running
#: kernel's with more boundaries.  mergeable_anon_vma_vmg: is_mergeable_anon_vma()
#: judging the merge request lets an unfaulted VMA merge with a faulted neighbour
#: that it could not before (selftests/mm/merge.c mprotect_unfaulted_left & co).
EXPLAINED_BY_ABSENCE: dict[str, str] = {
    "mergeable_anon_vma_vmg": "merges_unfaulted_with_faulted",
}

#: the live behaviour probes: name -> operations; the probe is true where they
#: merge (the window then holds one VMA).  merges_moved_anon_of_file: a faulted
#: private memfd mapping moved next to one whose file offset it continues but whose
#: anonymous offset it does not (selftests/mm/merge.c
#: anon_and_page_offset_mismatch_memfd); dontunmap_merges_into_source: an
#: unfaulted anonymous VMA moved with MREMAP_DONTUNMAP right before itself.
BEHAVIOUR_PROBES: dict[str, list] = {
    "merges_moved_anon_of_file": [["mmap", 0, 5, "rw", "memfd-private", 0],
                                  ["mmap", 10, 15, "rw", "memfd-private", 5],
                                  ["touch", 10, 11], ["mremap", 10, 15, 5]],
    "dontunmap_merges_into_source": [["mmap", 4, 8, "rw", "anon", 4],
                                     ["mremap_dontunmap", 4, 8, 0]],
    "merges_unfaulted_with_faulted": [["mmap", 0, 10, "rw", "anon", 0],
                                      ["mprotect", 0, 5, "r"], ["touch", 5, 10],
                                      ["mprotect", 0, 5, "rw"]],
}


@dataclass
class Verdict:
    scenario: Scenario
    status: str                     # agree | explained | disagree | skipped | error
    live: list = field(default_factory=list)       # comparable rows (at `step`)
    tree: list = field(default_factory=list)
    live_rets: list = field(default_factory=list)
    tree_rets: list = field(default_factory=list)
    why: str = ""
    step: int | None = None         # the first operation after which the two differ


@dataclass
class Context:
    k: Kernel
    allowed: dict                   # live.probe()
    flags: frozenset                # names compared
    live_flags: frozenset           # names the running kernel showed in the probe runs
    behaviour: dict = field(default_factory=dict)   # BEHAVIOUR_PROBES name -> merged?

    @classmethod
    def make(cls, k: Kernel) -> Context:
        allowed = live.probe()
        names = frozenset(n for n in maps.NAMES if k.has_flag(n))
        if k.config.enabled("CONFIG_MEM_SOFT_DIRTY") != live_soft_dirty():
            # a config difference, not a kernel one (pyvma oracle builds the tree as
            # the running kernel shows soft-dirty; a test's kernel may not be)
            names -= {"VM_SOFTDIRTY"}
        behaviour = {}
        for name, ops in BEHAVIOUR_PROBES.items():
            res = live.run(ops)
            inside = [v for v in res.vmas if v.start >= live.BASE]
            behaviour[name] = not res.error and not any(res.rets) and len(inside) == 1
        return cls(k, allowed, names, frozenset(), behaviour)


def live_rows(vmas: list, memfd_inode: int, names: frozenset, window: int) -> list[tuple]:
    rows = []
    for v in vmas:
        if v.end <= live.BASE or v.start >= live.BASE + window * live.PAGE:
            continue
        backing = "anon" if v.inode == 0 else "memfd" if v.inode == memfd_inode else \
            f"inode {v.inode}"
        rows.append(((v.start - live.BASE) // live.PAGE, (v.end - live.BASE) // live.PAGE,
                     v.pgoff if backing != "anon" else None,
                     tuple(sorted((v.flags or frozenset()) & names)), backing))
    return rows


def tree_rows(layout: list, names: frozenset) -> list[tuple]:
    return [(s, e, pgoff if backing != "anon" else None, tuple(sorted(fl & names)), backing)
            for s, e, pgoff, fl, backing, _ in layout]


def _drop(rows: list[tuple], flags: set) -> list[tuple]:
    return [r[:3] + (tuple(f for f in r[3] if f not in flags),) + r[4:] for r in rows]


def _pages(rows: list[tuple], ignore: frozenset = frozenset()) -> dict:
    """Page -> (its file offset, flags but *ignore*, backing): a layout without its
    boundaries."""
    return {p: (None if r[2] is None else r[2] + p - r[0],
                tuple(f for f in r[3] if f not in ignore), r[4])
            for r in rows for p in range(r[0], r[1])}


def refines(fine: list[tuple], coarse: list[tuple], ignore: frozenset = frozenset()) -> bool:
    """*fine* is *coarse* with more boundaries: the same pages, offsets, flags (but
    *ignore*) and backing, every boundary of *coarse* one of *fine*, more VMAs."""
    ends = {x for r in fine for x in r[:2]}
    return (len(fine) > len(coarse) and _pages(fine, ignore) == _pages(coarse, ignore)
            and all(r[0] in ends and r[1] in ends for r in coarse))


def judge(ctx: Context, sc: Scenario) -> Verdict:
    missing = [n for n in sorted(sc.needs) if ctx.allowed.get(n)]
    if missing:
        return Verdict(sc, "skipped", why="; ".join(f"the running kernel forbids {n}: "
                                                    f"{ctx.allowed[n]}" for n in missing))
    ops = [list(o) for o in sc.ops]
    lr = live.run(ops, sc.window, steps=True)
    if lr.error:
        return Verdict(sc, "error", why=f"live child: {lr.error}")
    hr = harness.run(ctx.k, ops, steps=True)
    return compare(ctx, sc, lr, hr)


def compare(ctx: Context, sc: Scenario, lr: live.LiveResult,
            hr: harness.HarnessResult) -> Verdict:
    """The verdict on one run of *sc* on both sides, step by step."""
    n = len(sc.ops)
    lsteps = [live_rows(st, lr.memfd_inode, ctx.flags, sc.window) for st in lr.steps]
    tsteps = [tree_rows(st, ctx.flags) for st in hr.steps]
    final_l = live_rows(lr.vmas, lr.memfd_inode, ctx.flags, sc.window)
    final_t = tree_rows(hr.layout, ctx.flags)
    if hr.bug:
        return Verdict(sc, "disagree", final_l, final_t, lr.rets, hr.rets,
                       f"the tree's code: {hr.bug}", len(hr.rets) - 1 if hr.rets else None)
    dropped: set = set()
    notes: list[str] = []
    info: list[str] = []
    step, why = checkpoints(ctx, sc, hr, info)
    if step is not None and step < len(lsteps) and step < len(tsteps):
        absent = _absent_explained(ctx, tsteps[step], lsteps[step]) or _move_explained(
            ctx, sc.ops[step], lr.rets[step] if step < len(lr.rets) else None,
            hr.rets[step] if step < len(hr.rets) else None)
        if absent:
            return Verdict(sc, "explained", lsteps[step], tsteps[step], lr.rets, hr.rets,
                           f"{why}: {absent} (later operations not compared)", step)
    if step is not None:
        return Verdict(sc, "disagree", lsteps[step] if step < len(lsteps) else final_l,
                       tsteps[step] if step < len(tsteps) else final_t, lr.rets, hr.rets,
                       why, step)
    for i in range(n):
        lrow = _drop(lsteps[i], dropped) if i < len(lsteps) else []
        trow = _drop(tsteps[i], dropped) if i < len(tsteps) else []
        lret = lr.rets[i] if i < len(lr.rets) else None
        tret = hr.rets[i] if i < len(hr.rets) else None
        if sc.ops[i][0] == "expect_flag" and not ctx.k.has_flag(sc.ops[i][2]) and \
                lret != tret:       # a flag the tree has not: its check says nothing
            feat = next((f for f, fl in EXPLAINED_BY if fl == sc.ops[i][2]), "")
            notes.append(f"op {i + 1} {list(sc.ops[i])}: the tree has no {sc.ops[i][2]}"
                         + (f" (it lacks feature {feat}: {_change(feat)})" if feat else ""))
            tret = lret
        if lrow == trow and lret == tret:
            continue
        # a flag only one side shows, as a kernel change explains
        for feature, flag in EXPLAINED_BY:
            in_live = any(flag in r[3] for r in lrow)
            in_tree = any(flag in r[3] for r in trow)
            if in_live != in_tree and ctx.k.has(feature) == in_tree and flag not in dropped:
                dropped.add(flag)
                notes.append(f"{flag} only on the {'tree' if in_tree else 'running kernel'}: "
                             f"feature {feature} ({_change(feature)})")
                lrow, trow = _drop(lrow, {flag}), _drop(trow, {flag})
        if lrow == trow and lret == tret:
            continue
        v = Verdict(sc, "disagree", lrow, trow, lr.rets, hr.rets, "", i)
        why = _merge_explained(ctx, sc, i, lrow, trow,
                               lret == tret or sc.ops[i][0].startswith("expect")) or \
            _move_explained(ctx, sc.ops[i], lret, tret)
        if why:
            v.status = "explained"
            v.why = "; ".join(notes + [f"after op {i + 1}: {why} (later operations not "
                                       "compared)"])
            return v
        if lret != tret:
            v.why = f"op {i + 1} returns differ"
        elif [r[:2] for r in lrow] != [r[:2] for r in trow]:
            v.why = f"after op {i + 1}: VMA boundaries differ (merges/splits)"
        else:
            v.why = f"after op {i + 1}: flags, offsets or backing differ"
        return v
    v = Verdict(sc, "agree", _drop(final_l, dropped), _drop(final_t, dropped), lr.rets,
                hr.rets)
    if notes:
        v.status = "explained"
    v.why = "; ".join(notes + info)
    return v


def checkpoints(ctx: Context, sc: Scenario, hr: harness.HarnessResult,
                notes: list[str]) -> tuple[int | None, str]:
    """The first checkpoint or asserted return the tree fails: (op index, why);
    (None, "") when it holds them all (*notes* gets what was not asserted)."""
    if sc.feature and not ctx.k.has(sc.feature):
        notes.append(f"checkpoints not asserted: the tree lacks {sc.feature} "
                     f"({_change(sc.feature)})")
        return None, ""
    for i, o in enumerate(sc.ops):
        if i >= len(hr.rets):
            break
        want = sc.returns[i] if sc.returns is not None else None
        if want is None and o[0].startswith("expect"):
            want = 0
        if want is None or hr.rets[i] == want:
            continue
        if o[0] == "expect_flag" and not ctx.k.has_flag(o[2]):
            notes.append(f"checkpoint op {i + 1} {list(o)}: the tree has no {o[2]}")
            continue
        return i, f"op {i + 1} {list(o)} returns {hr.rets[i]} on the tree, the scenario " \
            f"asserts {want}"
    return None, ""


def _at(shape: str, ops: tuple, lrow: list) -> bool:
    """Whether operations *ops* (up to the one after which the two differ) have
    *shape*, the live layout *lrow* after the last."""
    if shape == "after a move":
        return any(o[0] in ("mremap", "mremap_dontunmap") for o in ops)
    last = ops[-1]
    if last[0] != "mremap_dontunmap":
        return False
    s, e, d = last[1], last[2], last[3]
    lo, hi = min(s, d), max(e, d + e - s)
    return any(r[0] <= lo and hi <= r[1] for r in lrow)


def _merge_explained(ctx: Context, sc: Scenario, step: int, lrow: list, trow: list,
                     ok_ret: bool) -> str:
    """Why the tree keeps a boundary the running kernel merged ("" if nothing
    explains it): a feature of EXPLAINED_MERGES.  *ok_ret*: the returns agree (or
    differ at a checkpoint, which the boundary explains)."""
    absent = _absent_explained(ctx, trow, lrow) if ok_ret else ""
    if absent:
        return absent
    for feature, (probe, shape, ignore) in EXPLAINED_MERGES.items():
        if not ctx.k.has(feature) or not ctx.behaviour.get(probe):
            continue
        if not _at(shape, sc.ops[:step + 1], lrow):
            continue
        if ok_ret and refines(trow, lrow, ignore):
            return (f"the tree keeps a boundary the running kernel merges: feature "
                    f"{feature} ({_change(feature)}); the running kernel merges in probe "
                    f"{probe}")
    return ""


def _absent_explained(ctx: Context, trow: list, lrow: list) -> str:
    """Why the tree keeps a boundary the running kernel merges, by a change the tree
    predates (EXPLAINED_BY_ABSENCE), or ""."""
    for feature, probe in EXPLAINED_BY_ABSENCE.items():
        if ctx.k.has(feature) or not ctx.behaviour.get(probe):
            continue
        if refines(trow, lrow):
            return (f"the tree keeps a boundary the running kernel merges: the tree "
                    f"lacks feature {feature} ({_change(feature)}); the running kernel "
                    f"merges in probe {probe}")
    return ""


def _move_explained(ctx: Context, op: tuple, lret: object, tret: object) -> str:
    """An mremap move across several VMAs that the tree refuses (-EFAULT) and the
    running kernel makes: the tree's mm/mremap.c moves one VMA (no remap_move())."""
    if op[0] in ("mremap", "mremap_dontunmap") and lret == 0 and tret == "EFAULT" and \
            not ctx.k.has("remap_move"):
        return (f"the tree lacks feature remap_move ({_change('remap_move')}); the "
                "running kernel moves every VMA of the range")
    return ""


def _change(feature: str) -> str:
    from ..tree.features import REGISTRY
    return REGISTRY[feature].change


def live_soft_dirty() -> bool:
    """Whether the running kernel marks a new mapping soft-dirty (CONFIG_MEM_SOFT_DIRTY)."""
    res = live.run([["mmap", 0, 1, "rw", "anon", 0]])
    return any(v.flags and "VM_SOFTDIRTY" in v.flags for v in res.vmas)
