# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma diff A B``: what two kernel builds do differently.

Both builds load in one process.  They run (a) a corpus of small scenarios (every
merge shape with each participant's flags, anon_vma and file varied) and (b) seeded
random operation sequences, in lockstep.  Each divergence — return value/state,
layout, flags by name, WARN conditions, BUG — is reported once (by its kind),
shrunk to a minimal sequence, with the layout before and the two layouts after
side by side.  The report replays with ``pyvma replay``.
"""
from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..api import Kernel
from ..api.diagram import draw, side_by_side
from .fast import FastDiff, refusal
from .fast import available as fast_available
from .ops import (
    BASE,
    ENTRY_OPS,
    FAIL_SITES,
    GEN_FLAGS,
    OP_FEATURES,
    STATE_FIELDS,
    STATE_NOT_EXPRESSIBLE,
    Op,
    OpGenerator,
    Outcome,
    World,
    apply,
    enabled_ops,
)
from .ops_paths import (
    MORE_FAIL_SITES,
    PATH_FLAGS,
    describe_path,
    entry_fault_scenarios,
    path_corpus,
)
from .ops_query import describe_query, query_corpus

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class Divergence:
    ops: list
    before: tuple
    a: Outcome
    b: Outcome
    origin: str                 # "corpus #N" or "seed S sequence I"
    shrunk_from: int
    missing: dict = field(default_factory=dict)
    skip: frozenset = frozenset()

    def differing_state(self) -> list[str]:
        """The compared state fields (beyond the layout) that differ, each as
        ``name A-value / B-value``."""
        return [f"{n} {self.a.state.get(n)} / {self.b.state.get(n)}" for n in STATE_FIELDS
                if n not in self.skip and self.a.state.get(n) != self.b.state.get(n)]

    def kind(self) -> tuple:
        """What differs, for reporting each divergence once."""
        op = self.ops[-1][0]
        parts: list[tuple] = []
        if bool(self.a.bug) != bool(self.b.bug):
            # what else differs follows from one tree stopping at its BUG
            return (op, (("bug", bool(self.a.bug), bool(self.b.bug)),))
        if self.a.ret != self.b.ret:
            parts.append(("ret", str(self.a.ret), str(self.b.ret)))
        if self.a.layout != self.b.layout:
            fa = {f for r in self.a.layout for f in r[3]}
            fb = {f for r in self.b.layout for f in r[3]}
            shape_a = [(r[0], r[1]) for r in self.a.layout]
            shape_b = [(r[0], r[1]) for r in self.b.layout]
            parts.append(("layout", shape_a != shape_b,
                          () if shape_a != shape_b else tuple(sorted(fa ^ fb))))
        fields = tuple(n for n in STATE_FIELDS
                       if n in self.a.state and self.a.state.get(n) != self.b.state.get(n)
                       and n not in self.skip)
        if fields:
            parts.append(("state", fields))
        if len(self.a.warns) != len(self.b.warns):
            parts.append(("warn", bool(self.a.warns), bool(self.b.warns)))
        if bool(self.a.bug) != bool(self.b.bug):
            parts.append(("bug", bool(self.a.bug), bool(self.b.bug)))
        return (op, tuple(parts))


def layout_diagram(layout: tuple) -> str:
    """An op layout (pages) drawn: one column a page, a letter a VMA, flags listed
    below (their VM_ prefix and the base flags left out)."""
    legend = []
    for s, e, pgoff, flags, av, f in layout:
        extra = (f" anon={av}" if av else "") + (f" file={f}" if f else "")
        short = " ".join(n.removeprefix("VM_") for n in flags if n not in BASE)
        legend.append(f"{s:#x}-{e:#x} pgoff {pgoff:#x} {short}{extra}".rstrip())
    return draw([(r[0], r[1]) for r in layout], legend, LETTERS)


def describe(op: Op) -> str:
    name, *a = op
    text = describe_path(op) or describe_query(op)
    if text is not None:
        return text
    if name == "mmap":
        s, e, pgoff, flags, f = a
        extra = [n.removeprefix("VM_") for n in flags if n not in BASE]
        return (f"mmap pages {s:#x}-{e:#x} pgoff {pgoff:#x}"
                + (f" +{'+'.join(extra)}" if extra else "") + (f" file={f}" if f else " anon"))
    if name == "insert":
        s, e, pgoff, flags, av, f = a
        extra = [n.removeprefix("VM_") for n in flags if n not in BASE]
        return (f"insert_vm_struct pages {s:#x}-{e:#x} pgoff {pgoff:#x}"
                + (f" +{'+'.join(extra)}" if extra else "")
                + (f" anon={av}" if av else "") + (f" file={f}" if f else ""))
    if name == "copy_vma":
        page, dst, move = a
        return f"copy_vma of the VMA at page {page:#x} to page {dst:#x}" + \
            (" and unmap the source (mremap move)" if move else " (source kept)")
    if name in ("brk", "vm_munmap"):
        return f"{'do_brk_flags' if name == 'brk' else '__vm_munmap'} pages {a[0]:#x}-{a[1]:#x}"
    if name == "fault":
        return f"fault at page {a[0]:#x} (anon_vma_prepare)"
    if name == "fail":
        return f"fail {a[0]} during the next operation (after {a[1]} call(s))"
    if name in ("map", "merge_new"):
        s, e, pgoff, flags, av, f = a
        extra = [n.removeprefix("VM_") for n in flags if n not in BASE]
        return (f"{name} pages {s:#x}-{e:#x} pgoff {pgoff:#x}"
                + (f" +{'+'.join(extra)}" if extra else "")
                + (f" anon={av}" if av else "") + (f" file={f}" if f else ""))
    if name in ("modify", "mprotect"):
        s, e, flags = a
        extra = [n.removeprefix("VM_") for n in flags if n not in BASE]
        less = [n.removeprefix("VM_") for n in BASE if n not in flags]
        what = "base" + "".join(f"-{n}" for n in less) + (f"+{'+'.join(extra)}" if extra else "")
        return (f"modify pages {s:#x}-{e:#x} to {what}" if name == "modify" else
                f"mprotect pages {s:#x}-{e:#x} to {what} (vma_modify_flags, flags set)")
    return f"{name} {' '.join(str(x) for x in a)}"


class Differ:
    def __init__(self, a: Kernel, b: Kernel, only: frozenset[str] | None = None) -> None:
        self.a, self.b = a, b
        self.ops_run = 0
        #: operations run per tree through ops.apply() and counted as exercised
        self.py_ops = 0
        # per operation, how often each outcome came back (A's side): what was exercised
        self.exercised: dict[str, dict[str, int]] = {}
        names = set(GEN_FLAGS) | set(BASE) | set(PATH_FLAGS) | {"VM_SHARED", "VM_MAYSHARE"}
        # flags one tree lacks: left out of the comparison, named once in the report
        self.lacking = frozenset(n for n in names if a.has_flag(n) != b.has_flag(n))
        # operations whose entry point one tree lacks: left out for both, named
        self.ops, self.ops_left_out = enabled_ops(a, b)
        if only is not None:
            # a run restricted on purpose (tests: what the other operations miss)
            self.ops_left_out.update({op: "not asked for" for op in self.ops - only})
            self.ops &= only
        # state fields one tree cannot express: left out of the comparison, named
        self.skip = state_skip([a, b])

    def lockstep(self, ops: Sequence[Op],
                 count: bool = True) -> tuple[int, tuple, Outcome, Outcome] | None:
        """Run *ops* on both; the first diverging step (index, layout before, outcomes).
        *count*: add them to what the report says was exercised (not while shrinking)."""
        for k in (self.a, self.b):
            k.clear_warnings()
            k.reset_services()
        with self.a.mm() as ma, self.b.mm() as mb:
            wa, wb = World(self.a, ma), World(self.b, mb)
            before: tuple = ()
            for i, op in enumerate(ops):
                oa, ob = apply(wa, op), apply(wb, op)
                self.ops_run += 2
                if not count:
                    if oa.key(self.lacking, self.skip) != ob.key(self.lacking, self.skip):
                        return i, before, oa, ob
                    if oa.bug:
                        return None
                    before = oa.layout
                    continue
                self.py_ops += 1
                ret = "BUG" if oa.bug else "ok" if oa.ret in (0, None) or (
                    isinstance(oa.ret, int) and oa.ret > 0) else str(oa.ret)
                per = self.exercised.setdefault(op[0], {})
                per[ret] = per.get(ret, 0) + 1
                if oa.key(self.lacking, self.skip) != ob.key(self.lacking, self.skip):
                    return i, before, oa, ob
                if oa.bug:
                    return None
                before = oa.layout
        return None

    def shrink(self, ops: list[Op]) -> list[Op]:
        """Delta-debugging, by single operations: the shortest prefix-free subsequence
        that still diverges at its last operation."""
        changed = True
        while changed:
            changed = False
            for i in range(len(ops) - 1):
                trial = ops[:i] + ops[i + 1:]
                got = self.lockstep(trial, count=False)
                if got is not None:
                    ops = trial[:got[0] + 1]
                    changed = True
                    break
        return ops

    def found(self, ops: list[Op], origin: str) -> Divergence:
        full = len(ops)
        ops = self.shrink(list(ops))
        got = self.lockstep(ops, count=False)
        assert got is not None, "found() is given a diverging sequence"
        i, before, oa, ob = got
        ops = ops[:i + 1]
        missing = {}
        if oa.missing or ob.missing:
            missing = {"a": list(oa.missing), "b": list(ob.missing)}
        return Divergence(ops, before, oa, ob, origin, full, missing, self.skip)


def state_skip(kernels: Sequence[Kernel]) -> frozenset[str]:
    """The state fields some of *kernels* cannot express (left out, and named)."""
    return frozenset() if all(k.has("anon_pgoff") for k in kernels) else \
        frozenset({"anon_pgoff"})


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
            + query_corpus(FAIL_SITES))


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


def diff(a: Kernel, b: Kernel, seed: int = 1, sequences: int = 200, length: int = 30,
         seconds: float = 60.0, use_corpus: bool = True,
         only: frozenset[str] | None = None,
         fast_sequences: int | None = None) -> tuple[list[Divergence], dict]:
    """Corpus and random sequences on *a* and *b* in lockstep (with the operations in
    *only*, default all both trees have): the divergences, each once, and stats.
    *sequences* random sequences are generated in Python (every operation kind) and
    *fast_sequences* (default FAST_PER_SEQUENCE a Python one, 0 where the builds
    lack it) in C (the kinds csrc/entry_seq.c has), interleaved; each runs in C
    when it can (engine/fast.py), a divergence is shrunk and reported the Python way."""
    d = Differ(a, b, only)
    seen: dict[tuple, Divergence] = {}
    t0 = time.monotonic()
    stats: dict[str, Any] = {"corpus": 0, "sequences": 0, "fast_sequences": 0,
                             "ran_in": {"c": {"sequences": 0, "operations": 0},
                                        "python": {"corpus": 0, "sequences": 0,
                                                   "operations": 0, "why": {}}}}
    if use_corpus:
        for n, ops in enumerate(corpus()):
            if any(op[0] not in d.ops for op in ops):
                continue        # an entry point one tree lacks (named in the report)
            got = d.lockstep(ops)
            stats["corpus"] += 1
            stats["ran_in"]["python"]["corpus"] += 1
            if got is not None:
                div = d.found(ops[:got[0] + 1], f"corpus #{n}")
                seen.setdefault(div.kind(), div)
    fd = fast_differ(d)
    per = FAST_PER_SEQUENCE if fast_sequences is None else \
        fast_sequences / max(sequences, 1)
    n_fast = 0 if fd is None else round(per * sequences) if fast_sequences is None \
        else fast_sequences
    fast_secs = 0.0
    gen_t0 = time.monotonic()
    gen_ops0 = d.ops_run
    i = j = 0
    while i < sequences or j < n_fast:
        if time.monotonic() - t0 > seconds:
            break
        if i < sequences and (j >= n_fast or j >= per * i):
            ops = sequence(a, seed, i, length, d.ops)
            stats["sequences"] += 1
            origin = f"seed {seed} sequence {i}"
            i += 1
        else:
            t = time.monotonic()
            assert fd is not None
            got_at = fd.generated(seed * 1_000_003 + j, length)
            fast_secs += time.monotonic() - t
            stats["fast_sequences"] += 1
            origin = f"seed {seed} C sequence {j}"
            j += 1
            if got_at is None:
                continue
            divergence(d, fd, fd.last_ops(), origin, seen, stats, got_at)
            continue
        divergence(d, fd, ops, origin, seen, stats)
    elapsed = time.monotonic() - gen_t0
    stats["ran_in"]["python"]["operations"] = d.py_ops
    stats["ran_in"]["python"]["why"] = dict(sorted(stats["ran_in"]["python"]["why"].items()))
    if fd is not None:
        # compared ones: a diverging sequence's operations after its divergence ran
        # but were not compared (Differ.lockstep stops there too)
        stats["ran_in"]["c"]["operations"] = fd.ops_compared
        stats["ran_in"]["c"]["sequences"] += stats["fast_sequences"]
        d.ops_run += 2 * fd.ops_run
        for op, counts in fd.exercised().items():
            mine = d.exercised.setdefault(op, {})
            for r, c in counts.items():
                mine[r] = mine.get(r, 0) + c
        # per tree as ops_per_second counts it: both trees ran them in that time
        stats["fast_ops_per_second"] = round(2 * fd.gen_run / fast_secs) if fast_secs > 0 else 0
        stats["fast_operations"] = sorted(fd.gen_ops | BASIC_OPS)
    # each tree runs every operation once; per tree, its operations over its share
    # of the time comes to the same figure as all operations over all the time
    stats["ops_per_second"] = round((d.ops_run - gen_ops0) / elapsed) if elapsed > 0 else 0
    stats["ops_run"] = d.ops_run
    stats["seconds"] = round(time.monotonic() - t0, 2)
    stats["flags_compared_without"] = sorted(d.lacking)
    stats["exercised"] = {op: dict(sorted(c.items())) for op, c in sorted(d.exercised.items())}
    stats["ops_left_out"] = dict(sorted(d.ops_left_out.items()))
    stats["state_compared"] = [n for n in STATE_FIELDS if n not in d.skip]
    stats["state_compared_without"] = sorted(d.skip)
    stats["state_not_expressible"] = dict(STATE_NOT_EXPRESSIBLE)
    stats["not_exercised"] = list(NOT_EXERCISED) + [
        f"{op} ({feat if feat == 'not asked for' else f'feature {feat} lacking in a tree'})"
        for op, feat in sorted(d.ops_left_out.items())]
    return list(seen.values()), stats


#: C-generated random sequences per Python-generated one (diff's default)
FAST_PER_SEQUENCE = 20
#: the operations every sequence has (the entry-point ones are chosen per run)
BASIC_OPS = frozenset(OP_FEATURES) - ENTRY_OPS


def fast_differ(d: Differ) -> FastDiff | None:
    """The C runners of *d*'s two trees (None: a build lacks them)."""
    if not fast_available(d.a, d.b):
        return None
    try:
        return FastDiff(d.a, d.b, d.lacking, d.skip, d.ops)
    except ValueError:
        return None


def divergence(d: Differ, fd: FastDiff | None, ops: list[Op], origin: str,
               seen: dict[tuple, Divergence], stats: dict, at: int | None = None) -> None:
    """Run *ops* on both trees (in C when it can; *at*: where the C runners already
    saw them diverge) and hand a divergence to the Python path: shrunk, reported once."""
    why = None
    if at is None:
        # a Python-generated sequence (the C generator's ran in C: counted by diff())
        ran_in = stats["ran_in"]
        why = "no C runner in a build" if fd is None else refusal(ops)
        if why is None:
            assert fd is not None
            at = fd.lockstep(ops)
            why = "a layout beyond a C record" if at == -1 else None
        if why is None:
            ran_in["c"]["sequences"] += 1
            if at is None:
                return
        else:
            # ops.apply() runs it: what the C runner cannot, counted by the reason
            ran_in["python"]["sequences"] += 1
            ran_in["python"]["why"][why] = ran_in["python"]["why"].get(why, 0) + 1
    if why is None and at is not None and at >= 0:
        ops = ops[:at + 1]
        got = d.lockstep(ops, count=False)
        if got is None:
            # the C runner and ops.apply() disagree: a harness bug, named in the stats
            stats.setdefault("fast_unreproduced", []).append(origin)
            return
    else:
        got = d.lockstep(ops, count=why is not None)
    if got is not None:
        div = d.found(ops[:got[0] + 1], origin)
        seen.setdefault(div.kind(), div)


#: Entry points of mm/vma.c the suites drive and diff's operations do not (yet): a
#: change there cannot show up as a divergence.
NOT_EXERCISED = ("expand_upwards (CONFIG_STACK_GROWSUP: not an x86 harness config)",
                 "fault sites shmem_zero_setup/uffd_unmap_prep (shared anonymous mmap, "
                 "userfaultfd unmap lists: no operation makes them)",
                 "line/branch coverage (no --coverage)")


#: in what was not exercised unless the run measured coverage (diff_coverage())
NO_COVERAGE = "line/branch coverage (no --coverage)"


def exercised_text(stats: dict) -> str:
    """What the run exercised (operations and their outcomes) and what it cannot."""
    ops = "; ".join(f"{op} {sum(c.values())} (" + ", ".join(f"{r} {n}" for r, n in c.items())
                    + ")" for op, c in stats.get("exercised", {}).items())
    state = ", ".join(stats.get("state_compared", []))
    without = ", ".join(stats.get("state_compared_without", []))
    return (f"exercised (tree A's outcomes): {ops or 'nothing'}\n"
            f"compared per operation: return value, layout (flags by name, pgoff, anon_vma "
            f"sharing, file), {state}, WARN count, BUG\n"
            + (f"state not compared (one tree cannot express it): {without}\n"
               if without else "")
            + "".join(f"state no harness build expresses: {n} ({why})\n"
                      for n, why in stats.get("state_not_expressible", {}).items())
            + f"not exercised by diff: {', '.join(stats.get('not_exercised', []))}\n"
            + coverage_text(stats))


def diff_coverage(a: Kernel, b: Kernel, **kw: Any) -> tuple[list[Divergence], dict]:
    """diff() of two coverage builds (sanitizer="coverage") with the gcov counters
    zeroed before and read after: ``stats["coverage"]`` per tree, what the run
    reached of mm/vma.c (and mm/vma_init.c, mm/vma_exec.c where the tree has them)."""
    from ..build.coverage import measure
    (divs, stats), cov = measure([(a.build, a.lib), (b.build, b.lib)],
                                 lambda: diff(a, b, **kw))
    stats["not_exercised"] = [x for x in stats["not_exercised"]
                              if not x.startswith(NO_COVERAGE.split(" (")[0])]
    stats["coverage"] = {
        side: {"label": k.label, "build": k.build.key,
               # one library ran both sides: its counts are of both
               "same_build_as_a": side == "b" and k.build.key == a.build.key,
               "files": {name: c.as_dict() for name, c in cov[k.build.key].items()}}
        for side, k in (("a", a), ("b", b))}
    return divs, stats


def coverage_text(stats: dict) -> str:
    """The coverage footer (``--coverage``): per tree and file, lines and branches
    reached, and the functions never entered, one greppable line each."""
    from ..build.coverage import pct
    cov = stats.get("coverage")
    if not cov:
        return ""
    out = []
    for side in ("a", "b"):
        t = cov[side]
        tag = f"coverage {side.upper()} {t['label']}"
        if t.get("same_build_as_a"):
            out.append(f"{tag}: the same build as A (one library ran both sides: "
                       "the lines above)")
            continue
        for name, f in t["files"].items():
            entered = f["functions"] - len(f["never_entered"])
            out.append(f"{tag} {name}: lines {f['lines_reached']}/{f['lines']} "
                       f"({pct(f['lines_reached'], f['lines'])}), branches "
                       f"{f['branches_taken']}/{f['branches']} "
                       f"({pct(f['branches_taken'], f['branches'])}), functions "
                       f"{entered}/{f['functions']} entered")
            out.append(f"{tag} {name} never entered ({len(f['never_entered'])}): "
                       + (" ".join(f["never_entered"]) or "none"))
    return "".join(line + "\n" for line in out)


def sequence(k: Kernel, seed: int, index: int, length: int,
             ops_enabled: frozenset[str] | None = None) -> list[Op]:
    """Random sequence *index* of *seed*, generated against kernel *k*'s layouts
    (with the entry-point operations in *ops_enabled*, default: all *k* has)."""
    if ops_enabled is None:
        ops_enabled = enabled_ops(k)[0]
    gen = OpGenerator(seed * 1_000_003 + index, ops_enabled)
    ops: list[Op] = []
    k.clear_warnings()
    k.reset_services()
    with k.mm() as mm:
        w = World(k, mm)
        for _ in range(length):
            op = gen.next_op(w.layout())
            out = apply(w, op)
            ops.append(op)
            if out.bug:
                break
    k.clear_warnings()
    return ops


def replay_line(kernels: Sequence[Kernel], ops: list) -> str:
    """``pyvma replay --kernel A [--series ...] --kernel B ... --ops '[...]'``."""
    import shlex
    args = [arg for k in kernels for arg in k.replay_args]
    return f"pyvma replay {shlex.join(args)} --ops {shlex.quote(json.dumps(ops))}"


def report_text(a: Kernel, b: Kernel, divs: list[Divergence], stats: dict) -> str:
    import shlex
    head = (f"pyvma diff: A = {a.label} ({shlex.join(a.replay_args[1:])})\n"
            f"            B = {b.label} ({shlex.join(b.replay_args[1:])})\n"
            f"{stats['corpus']} corpus scenarios, {stats['sequences']} random sequences, "
            f"{stats['ops_run']} operations, {stats['ops_per_second']} ops/s per tree, "
            f"{stats['seconds']} s\n" + fast_text(stats) + paths_text(stats)
            + (f"flags left out of the comparison (one tree lacks them): "
               f"{', '.join(stats['flags_compared_without'])}\n"
               if stats.get("flags_compared_without") else ""))
    if not divs:
        return head + "no divergence in what was exercised:\n" + exercised_text(stats)
    out = [head + exercised_text(stats) + f"{len(divs)} divergence(s)\n"]
    for n, d in enumerate(divs, 1):
        out.append(f"--- divergence {n}: {describe(d.ops[-1])}  "
                   f"[{d.origin}, {len(d.ops)} op(s), shrunk from {d.shrunk_from}]")
        for i, op in enumerate(d.ops, 1):
            out.append(f"  {i}. {describe(op)}")
        if d.missing:
            for side, miss in d.missing.items():
                if miss:
                    out.append(f"  note: {', '.join(miss)} not a flag of "
                               f"{(a if side == 'a' else b).version} (left out there)")
        for line in (d.differing_state() if bool(d.a.bug) == bool(d.b.bug) else []):
            out.append(f"  state differs (A / B): {line}")
        out.append("  before the last operation (both):")
        out += ["    " + l for l in layout_diagram(d.before).splitlines()]
        left = f"ret {d.a.ret}" + (f"  WARN {'; '.join(d.a.warns)}" if d.a.warns else "") + \
            (f"  BUG {d.a.bug}" if d.a.bug else "") + "\n" + layout_diagram(d.a.layout)
        right = f"ret {d.b.ret}" + (f"  WARN {'; '.join(d.b.warns)}" if d.b.warns else "") + \
            (f"  BUG {d.b.bug}" if d.b.bug else "") + "\n" + layout_diagram(d.b.layout)
        out.append("  after:")
        out += ["    " + l for l in side_by_side(left, right, (f"A {a.name}",
                                                              f"B {b.name}")).splitlines()]
        out.append(f"  replay: {replay_line([a, b], d.ops)}")
        out.append("")
    return "\n".join(out)


def fast_text(stats: dict) -> str:
    """The line on the random sequences generated and run in C (engine/fast.py)."""
    if not stats.get("fast_sequences"):
        return ""
    bad = stats.get("fast_unreproduced")
    return (f"+ {stats['fast_sequences']} random sequences generated and run in C "
            f"({stats.get('fast_ops_per_second', 0)} ops/s per tree; operations "
            f"{', '.join(stats.get('fast_operations', []))})\n"
            + (f"harness bug: the C runner's divergence not reproduced by ops.apply() in "
               f"{', '.join(bad)}\n" if bad else ""))


def paths_text(stats: dict) -> str:
    """Which path ran what: the C runner (engine/fast.py) or ops.apply(), and why a
    sequence could not run in C (an operation kind or fault site it lacks...)."""
    ran = stats.get("ran_in")
    if not ran:
        return ""
    c, py = ran["c"], ran["python"]
    why = py.get("why", {})
    return (f"ran in C: {c['sequences']} sequences, {c['operations']} operations per tree; "
            f"ran by ops.apply(): {py['corpus']} corpus scenarios, {py['sequences']} "
            f"sequences, {py['operations']} operations per tree"
            + (" (sequences not in C: " + ", ".join(f"{r} {n}" for r, n in why.items()) + ")"
               if why else "") + "\n")


def report_json(a: Kernel, b: Kernel, divs: list[Divergence], stats: dict) -> str:
    def outcome(o: Outcome) -> dict:
        return {"ret": o.ret, "layout": o.layout, "warns": o.warns, "bug": o.bug,
                "state": o.state}
    return json.dumps({
        "a": {"label": a.label, "args": a.replay_args, "version": a.version,
              "build": a.build.key},
        "b": {"label": b.label, "args": b.replay_args, "version": b.version,
              "build": b.build.key},
        "stats": stats,
        "divergences": [{"ops": d.ops, "origin": d.origin, "shrunk_from": d.shrunk_from,
                         "before": d.before, "a": outcome(d.a), "b": outcome(d.b),
                         "missing_flags": d.missing, "state_differs": d.differing_state(),
                         "replay": replay_line([a, b], d.ops)}
                        for d in divs],
    }, indent=1, default=str)
