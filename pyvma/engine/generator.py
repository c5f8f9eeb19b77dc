# SPDX-License-Identifier: GPL-2.0-or-later
"""Seeded random operation sequences (``pyvma diff``'s Python-generated ones; the C
generator in csrc/entry_seq_gen.c draws the same kinds), valid by construction against
the layout the sequence builds."""
from __future__ import annotations

import random

from .callers_spec import SPECS as CALLER_SPECS
from .callers_spec import gen_caller
from .ops import ALL_FAIL_SITES, BASE, ENTRY_OPS, FAIL_SITES, GEN_FLAGS, GEN_PAGES, OP_FEATURES, Op
from .ops_paths import PATH_FEATURES, gen_path
from .ops_query import QUERY_FEATURES, gen_query


class OpGenerator:
    """Seeded random operation sequences, valid by construction against the layout
    the sequence builds (computed on a reference kernel as it goes)."""

    def __init__(self, seed: int, ops: frozenset[str] | None = None) -> None:
        self.rnd = random.Random(seed)
        #: the entry-point operations it may generate (default: all of them)
        self.entry = sorted((set(OP_FEATURES) if ops is None else ops) & ENTRY_OPS)

    def _flags(self) -> tuple[str, ...]:
        extra = [f for f in GEN_FLAGS if self.rnd.random() < 0.2]
        return BASE + tuple(extra)

    def _gap(self, layout) -> tuple[int, int] | None:
        used = [(r[0], r[1]) for r in layout]
        free = [p for p in range(GEN_PAGES) if not any(s <= p < e for s, e in used)]
        if not free:
            return None
        p = self.rnd.choice(free)
        s = p
        while s - 1 >= 0 and s - 1 in free and self.rnd.random() < 0.5:
            s -= 1
        e = p + 1
        while e in free and self.rnd.random() < 0.5:
            e += 1
        return s, e

    def _pgoff(self, layout, s: int) -> int:
        left = [r for r in layout if r[1] == s]
        if left and self.rnd.random() < 0.8:
            r = left[0]
            return r[2] + (s - r[0])
        return s if self.rnd.random() < 0.8 else s + self.rnd.randint(1, 5)

    def next_op(self, layout) -> Op:
        if self.entry and self.rnd.random() < 0.35:
            op = self._entry_op(layout, self.rnd.choice(self.entry))
            if op is not None:
                return op
        return self._basic_op(layout)

    def _entry_op(self, layout, name: str) -> Op | None:
        """One of the ENTRY_OPS, valid against *layout* (None: none fits)."""
        rnd = self.rnd
        if name == "fail":
            sites = FAIL_SITES if rnd.random() < 0.6 else ALL_FAIL_SITES
            return ("fail", rnd.choice(sites), rnd.choice((0, 0, 1)))
        if name == "mprotect":
            if not layout:
                return None
            v = rnd.choice(layout)
            s, e = v[0], v[1]
            if rnd.random() < 0.6:
                s = rnd.randint(v[0], v[1] - 1)
                e = rnd.randint(s + 1, v[1])
            flags = self._flags()
            if rnd.random() < 0.3:
                flags = tuple(f for f in flags if f != "VM_WRITE")     # read-only
            return ("mprotect", s, e, flags)
        if name in QUERY_FEATURES:
            return gen_query(rnd, layout, name, GEN_PAGES)
        if name in CALLER_SPECS:
            return gen_caller(rnd, layout, name, GEN_PAGES)
        if name in PATH_FEATURES:
            op = gen_path(rnd, layout, name, self._flags, GEN_PAGES)
            # (a stack is mapped by mmap: not in a run without it)
            return op if op is None or op[0] == name or op[0] in self.entry else None
        if name in ("mmap", "vm_munmap"):
            s = rnd.randrange(GEN_PAGES - 1)
            e = min(GEN_PAGES, s + rnd.randint(1, 5))
            if name == "vm_munmap":
                return ("vm_munmap", s, e)
            f = rnd.choice([None, None, None, "f0", "fc"])
            flags = self._flags() + (("VM_SHARED", "VM_MAYSHARE") if f and rnd.random() < 0.3
                                     else ())
            if rnd.random() < 0.25 and "VM_EXEC" not in flags:
                # executable: no merge with its neighbour, yet their anon_vma may be
                # shared (anon_vma_compatible() ignores the access flags)
                flags += ("VM_EXEC",)
            # an anonymous mapping's offset is its address (do_mmap's rule)
            return ("mmap", s, e, self._pgoff(layout, s) if f else s, flags, f)
        if name in ("brk", "insert"):
            gap = self._gap(layout)
            if gap is None:
                return None
            s, e = gap
            if name == "brk":
                return ("brk", s, e)
            # an anon_vma preset is a misuse (a BUG on some trees, which ends the
            # sequence): rare
            av = "av0" if rnd.random() < 0.03 else None
            f = None if rnd.random() < 0.7 else "f0"
            return ("insert", s, e, self._pgoff(layout, s), self._flags(), av, f)
        if not layout:
            return None
        v = rnd.choice(layout)
        if name == "fault":
            return ("fault", rnd.randint(v[0], v[1] - 1))
        # copy_vma: often right next to the source (mremap's self-merge case)
        n = v[1] - v[0]
        cands = [d for d in (v[1], v[0] - n) if d >= 0 and d + n <= GEN_PAGES]
        free = [p for p in range(GEN_PAGES - n + 1)
                if not any(x < p + n and p < y for x, y, *_ in layout)]
        picks = [d for d in cands if d in free] if rnd.random() < 0.5 else free
        if not picks:
            return None
        return ("copy_vma", v[0], rnd.choice(picks), rnd.random() < 0.7)

    def _basic_op(self, layout) -> Op:
        r = self.rnd.random()
        av = self.rnd.choice([None, None, "av0", "av1"])
        f = None if self.rnd.random() < 0.85 else "f0"
        if not layout or r < 0.35:
            gap = self._gap(layout)
            if gap is None:
                s = self.rnd.randrange(GEN_PAGES)
                return ("munmap", s, min(GEN_PAGES, s + self.rnd.randint(1, 4)))
            s, e = gap
            kind = "map" if not layout or self.rnd.random() < 0.3 else "merge_new"
            return (kind, s, e, self._pgoff(layout, s), self._flags(), av, f)
        vma = self.rnd.choice(layout)
        s, e = vma[0], vma[1]
        if r < 0.55:
            a = self.rnd.randint(s, e - 1)
            b = self.rnd.randint(a + 1, e)
            return ("modify", a, b, self._flags())
        if r < 0.62:
            return ("set_flags", s, (self.rnd.choice(GEN_FLAGS),))
        if r < 0.72 and e - s > 1:
            return ("split", self.rnd.randint(s + 1, e - 1), self.rnd.random() < 0.5)
        if r < 0.80:
            nxt = min([x[0] for x in layout if x[0] >= e] + [GEN_PAGES])
            if nxt > e:
                return ("expand", s, self.rnd.randint(e + 1, nxt))
        if r < 0.86 and e - s > 1:
            return ("shrink", s, self.rnd.randint(s + 1, e - 1))
        a = self.rnd.randrange(GEN_PAGES)
        return ("munmap", a, min(GEN_PAGES, a + self.rnd.randint(1, 4)))
