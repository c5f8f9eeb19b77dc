# SPDX-License-Identifier: GPL-2.0-or-later
"""Run a scenario on the running kernel and on a tree; compare the layouts:
ranges (so which VMAs merged), flags by name, file offsets, anonymous vs file,
and each operation's return."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..api import Kernel
from . import harness, live, maps
from .corpus import Scenario

#: differences a kernel change explains: (feature of pyvma/features.py, the flag
#: it is about).  Applies where the tree has the feature and the running kernel
#: does not show the flag (or the other way round).
EXPLAINED_BY: tuple[tuple[str, str], ...] = (
    ("maybe_guard", "VM_MAYBE_GUARD"),
    ("sticky", "VM_SOFTDIRTY"),
)


@dataclass
class Verdict:
    scenario: Scenario
    status: str                     # agree | explained | disagree | skipped | error
    live: list = field(default_factory=list)       # comparable rows
    tree: list = field(default_factory=list)
    live_rets: list = field(default_factory=list)
    tree_rets: list = field(default_factory=list)
    why: str = ""


@dataclass
class Context:
    k: Kernel
    allowed: dict                   # live.probe()
    flags: frozenset                # names compared
    live_flags: frozenset           # names the running kernel showed in the probe runs

    @classmethod
    def make(cls, k: Kernel) -> Context:
        allowed = live.probe()
        names = frozenset(n for n in maps.NAMES if k.has_flag(n))
        return cls(k, allowed, names, frozenset())


def live_rows(res: live.LiveResult, names: frozenset) -> list[tuple]:
    rows = []
    for v in res.vmas:
        if v.end <= live.BASE or v.start >= live.BASE + live.SPAN * live.PAGE:
            continue
        backing = "anon" if v.inode == 0 else "memfd" if v.inode == res.memfd_inode else \
            f"inode {v.inode}"
        rows.append(((v.start - live.BASE) // live.PAGE, (v.end - live.BASE) // live.PAGE,
                     v.pgoff if backing != "anon" else None,
                     tuple(sorted((v.flags or frozenset()) & names)), backing))
    return rows


def tree_rows(res: harness.HarnessResult, names: frozenset) -> list[tuple]:
    return [(s, e, pgoff if backing != "anon" else None, tuple(sorted(fl & names)), backing)
            for s, e, pgoff, fl, backing, _ in res.layout]


def _drop(rows: list[tuple], flag: str) -> list[tuple]:
    return [r[:3] + (tuple(f for f in r[3] if f != flag),) + r[4:] for r in rows]


def judge(ctx: Context, sc: Scenario) -> Verdict:
    missing = [n for n in sorted(sc.needs) if ctx.allowed.get(n)]
    if missing:
        return Verdict(sc, "skipped", why="; ".join(f"the running kernel forbids {n}: "
                                                    f"{ctx.allowed[n]}" for n in missing))
    lr = live.run([list(o) for o in sc.ops])
    if lr.error:
        return Verdict(sc, "error", why=f"live child: {lr.error}")
    hr = harness.run(ctx.k, [list(o) for o in sc.ops])
    v = Verdict(sc, "agree", live_rows(lr, ctx.flags), tree_rows(hr, ctx.flags),
                lr.rets, hr.rets)
    if hr.bug:
        v.status, v.why = "disagree", f"the tree's code: {hr.bug}"
        return v
    if v.live == v.tree and v.live_rets == v.tree_rets:
        return v
    lrows, trows = v.live, v.tree
    for feature, flag in EXPLAINED_BY:
        in_live = any(flag in r[3] for r in lrows)
        in_tree = any(flag in r[3] for r in trows)
        if in_live != in_tree and ctx.k.has(feature) == in_tree:
            lrows, trows = _drop(lrows, flag), _drop(trows, flag)
            if lrows == trows and v.live_rets == v.tree_rets:
                v.status = "explained"
                v.why = (f"{flag} only on the {'tree' if in_tree else 'running kernel'}: "
                         f"feature {feature} ({_change(feature)})")
                return v
    v.status = "disagree"
    if v.live_rets != v.tree_rets:
        v.why = "returns differ"
    elif [r[:2] for r in v.live] != [r[:2] for r in v.tree]:
        v.why = "VMA boundaries differ (merges/splits)"
    else:
        v.why = "flags, offsets or backing differ"
    return v


def _change(feature: str) -> str:
    from ..tree.features import REGISTRY
    return REGISTRY[feature].change


def live_soft_dirty() -> bool:
    """Whether the running kernel marks a new mapping soft-dirty (CONFIG_MEM_SOFT_DIRTY)."""
    res = live.run([["mmap", 0, 1, "rw", "anon", 0]])
    return any(v.flags and "VM_SOFTDIRTY" in v.flags for v in res.vmas)
