# SPDX-License-Identifier: GPL-2.0-or-later
"""Seeded random operation sequences for ``pyvma oracle --random``.

A sequence starts with one to three mmaps and goes on with the scenario format's
operations (:mod:`.scenario`), ranges drawn mostly inside or across what is mapped
(a rough page map follows the sequence), move targets often right next to a
mapping (where merges happen).  Sequence *i* of seed *s* is the same on every run.
"""
from __future__ import annotations

import random

from .scenario import BACKINGS, Scenario, needs_of

#: operation -> weight
WEIGHTS: dict[str, float] = {
    "mmap": 3, "mmap_fixed": 0.5, "mprotect": 3, "munmap": 1, "mremap": 2,
    "mremap_dontunmap": 0.7, "mremap_resize": 1, "madvise": 1.5, "touch": 2, "mlock": 0.5,
    "mlock_onfault": 0.4, "munlock": 0.4, "mseal": 0.15, "fork": 0.3, "ksm_merge_any": 0.3,
}
PROTS = ("r", "rw", "rw", "rw", "", "rx")
ADVICE = ("DONTFORK", "DOFORK", "WIPEONFORK", "KEEPONFORK", "GUARD_INSTALL", "GUARD_REMOVE",
          "MERGEABLE", "UNMERGEABLE")


class _Gen:
    def __init__(self, rnd: random.Random, window: int) -> None:
        self.rnd, self.window = rnd, window
        self.mapped = [False] * window
        self.backings = [rnd.choice(BACKINGS)]
        if rnd.random() < 0.3:
            self.backings.append(rnd.choice(BACKINGS))

    def runs(self) -> list[tuple[int, int]]:
        out, s = [], None
        for p, m in enumerate(self.mapped + [False]):
            if m and s is None:
                s = p
            elif not m and s is not None:
                out.append((s, p))
                s = None
        return out

    def span(self, length_max: int = 8) -> tuple[int, int]:
        """A range: mostly within or across a mapped run, else anywhere."""
        rnd, runs = self.rnd, self.runs()
        if runs and rnd.random() < 0.85:
            s0, e0 = rnd.choice(runs)
            s = s0 if rnd.random() < 0.4 else rnd.randrange(s0, e0)
            e = e0 if rnd.random() < 0.4 else rnd.randint(s + 1, e0)
            if rnd.random() < 0.15:
                e = min(self.window, e + rnd.randint(1, 3))
            return s, e
        s = rnd.randrange(self.window - 1)
        return s, min(self.window, s + rnd.randint(1, length_max))

    def free_span(self, n: int) -> tuple[int, int] | None:
        """A free range of *n* pages, next to a mapping when one fits."""
        free = [s for s in range(self.window - n + 1) if not any(self.mapped[s:s + n])]
        if not free:
            return None
        near = [s for s in free if (s > 0 and self.mapped[s - 1])
                or (s + n < self.window and self.mapped[s + n])]
        s = self.rnd.choice(near if near and self.rnd.random() < 0.7 else free)
        return s, s + n

    def mark(self, s: int, e: int, val: bool) -> None:
        for p in range(max(0, s), min(self.window, e)):
            self.mapped[p] = val

    def op(self, name: str) -> list | None:
        rnd = self.rnd
        if name in ("mmap", "mmap_fixed"):
            n = rnd.randint(1, 6)
            if name == "mmap":
                got = self.free_span(n)
                if got is None:
                    return None
                s, e = got
            else:
                s, e = self.span()
            self.mark(s, e, True)
            backing = rnd.choice(self.backings)
            pgoff = s if rnd.random() < 0.7 else rnd.randrange(0, self.window)
            return [name, s, e, rnd.choice(("rw", "rw", "r", "rx")), backing, pgoff]
        if name == "mremap":
            s, e = self.span()
            got = self.free_span(e - s)
            if got is None:
                return None
            self.mark(s, e, False)
            self.mark(*got, True)
            return [name, s, e, got[0]]
        if name == "mremap_dontunmap":
            s, e = self.span()
            got = self.free_span(e - s)
            if got is None:
                return None
            self.mark(*got, True)
            return [name, s, e, got[0]]
        if name == "mremap_resize":
            s, e = self.span()
            new_e = max(s + 1, min(self.window, e + rnd.choice((-2, -1, 1, 2, 3))))
            if new_e < e:
                self.mark(new_e, e, False)
            elif not any(self.mapped[e:new_e]):
                self.mark(e, new_e, True)
            return [name, s, e, new_e]
        s, e = self.span()
        if name == "munmap":
            self.mark(s, e, False)
            return [name, s, e]
        if name == "mprotect":
            return [name, s, e, rnd.choice(PROTS)]
        if name == "madvise":
            return [name, s, e, rnd.choice(ADVICE)]
        if name == "fork":
            return ["fork"]
        if name == "ksm_merge_any":
            return [name, rnd.choice((1, 1, 0))]
        return [name, s, e]


def sequence(seed: int, index: int, window: int = 24, length: int = 8) -> list:
    """Sequence *index* of *seed*: up to *length* operations in a *window*."""
    rnd = random.Random(f"pyvma-oracle {seed} {index}")
    g = _Gen(rnd, window)
    ops: list = []
    for _ in range(rnd.randint(1, 3)):
        op = g.op("mmap")
        if op:
            ops.append(op)
    names, weights = list(WEIGHTS), list(WEIGHTS.values())
    forks = 0
    while len(ops) < length:
        name = rnd.choices(names, weights)[0]
        if name == "fork" and forks >= 2:
            continue
        op = g.op(name)
        if op is not None:
            forks += name == "fork"
            ops.append(op)
    return ops


def scenario(seed: int, index: int, window: int = 24, length: int = 8) -> Scenario:
    ops = sequence(seed, index, window, length)
    return Scenario(f"random/{seed}/{index}", tuple(tuple(o) for o in ops), needs_of(ops),
                    window)
