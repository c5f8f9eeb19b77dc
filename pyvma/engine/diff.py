# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma diff A B``: what two kernel builds do differently (the comparison; its
scenarios are ``corpus``, its text and JSON ``report``).

Both builds load in one process.  They run (a) a corpus of small scenarios (every
merge shape with each participant's flags, anon_vma and file varied) and (b) seeded
random operation sequences, in lockstep.  Each divergence — return value/state,
layout, flags by name, WARN conditions, BUG — is reported once (by its kind),
shrunk to a minimal sequence, with the layout before and the two layouts after
side by side.  The report replays with ``pyvma replay``.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..api import Kernel
from .callers_spec import NOT_IN_DIFF, paths_differ
from .corpus import corpus
from .fast import FastDiff, refusal
from .fast import available as fast_available
from .generator import OpGenerator
from .ops import (
    BASE,
    ENTRY_OPS,
    GEN_FLAGS,
    OP_FEATURES,
    STATE_FIELDS,
    STATE_NOT_EXPRESSIBLE,
    Op,
    Outcome,
    World,
    apply,
    enabled_ops,
)
from .ops_paths import (
    PATH_FLAGS,
)


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


def diff(a: Kernel, b: Kernel, seed: int = 1, sequences: int = 200, length: int = 30,
         seconds: float = 60.0, use_corpus: bool = True,
         only: frozenset[str] | None = None,
         fast_sequences: int | None = None) -> tuple[list[Divergence], dict]:
    """Corpus and random sequences on *a* and *b* in lockstep (with the operations in
    *only*, default all both trees have): the divergences, each once, and stats.
    *sequences* random sequences are generated in Python (every operation kind) and
    *fast_sequences* (default FAST_PER_SEQUENCE a Python one, 0 where the builds
    lack it) in C (the kinds csrc/entry_seq_gen.c draws), interleaved; each runs in C
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
    # a caller path the trees take differently: each ran its own, named
    stats["caller_paths_differ"] = paths_differ(a, b)
    stats["not_exercised"] = list(NOT_EXERCISED) + list(NOT_IN_DIFF) + [
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
    # per divergence, the lines its operations run on each tree: which changed
    # function a divergence enters (scripts/history.py)
    stats["coverage"]["divergences"] = [
        {side: reached(k, d.ops) for side, k in (("a", a), ("b", b))} for d in divs]
    return divs, stats


def reached(k: Kernel, ops: Sequence[Op]) -> dict[str, list[int]]:
    """The lines of mm/vma.c (and the other measured sources) that *ops* run on
    coverage build *k*, from an empty mm, per file."""
    from ..build.coverage import measure

    def run() -> None:
        k.clear_warnings()
        k.reset_services()
        with k.mm() as mm:
            w = World(k, mm)
            for op in ops:
                if apply(w, op).bug:
                    break
        k.clear_warnings()
    _, cov = measure([(k.build, k.lib)], run)
    return {name: c.reached for name, c in cov[k.build.key].items()}


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


