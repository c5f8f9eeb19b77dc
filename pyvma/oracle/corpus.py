# SPDX-License-Identifier: GPL-2.0-or-later
"""The oracle's operation sequences: two neighbours A = pages [2, 6) and
B = [6, 10) of one backing, faulted or not, then one family of operations.

An operation is a JSON list, pages relative to the live window:
``["mmap", s, e, prot, backing, pgoff]`` (backing ``anon``, ``anon-noreserve``,
``memfd-private``, ``memfd-shared``), ``["mprotect", s, e, prot]``,
``["munmap", s, e]``, ``["mremap", s, e, new_s]`` (a move),
``["mremap_resize", s, e, new_e]`` (in place), ``["madvise", s, e, ADVICE]``,
``["touch", s, e]`` (MADV_POPULATE_WRITE: faults pages in), ``["mlock", s, e]``,
``["mlock_onfault", s, e]``, ``["munlock", s, e]``, ``["mseal", s, e]``, ``["fork"]``
(the rest runs in the child).
"""
from __future__ import annotations

from dataclasses import dataclass

BACKINGS = ("anon", "anon-noreserve", "memfd-private", "memfd-shared")
FAULTED = ("none", "A", "B", "AB")


@dataclass(frozen=True)
class Scenario:
    name: str
    ops: tuple
    needs: frozenset = frozenset()      # live.probe() names this needs


FAMILIES: dict[str, tuple[list, set]] = {
    "mprotect-merge": ([["mprotect", 6, 10, "rw"]], set()),
    "mprotect-split": ([["mprotect", 3, 5, "r"]], set()),
    "mprotect-whole": ([["mprotect", 2, 10, "r"]], set()),
    "munmap-across": ([["munmap", 4, 8]], set()),
    "mremap-away-back": ([["mremap", 3, 5, 20], ["mremap", 20, 22, 3]], set()),
    "mremap-grow": ([["mremap", 6, 10, 12], ["mremap_resize", 2, 6, 8]], set()),
    "dontfork-fork": ([["madvise", 3, 5, "DONTFORK"], ["fork"], ["mprotect", 2, 6, "r"]],
                      set()),
    "wipeonfork-fork": ([["madvise", 2, 6, "WIPEONFORK"], ["fork"],
                         ["mprotect", 6, 10, "rw"]], {"wipeonfork"}),
    "guard-merge": ([["madvise", 3, 4, "GUARD_INSTALL"], ["mprotect", 6, 10, "rw"]],
                    {"guard"}),
    "mlock-munlock": ([["mlock", 3, 5], ["munlock", 3, 5]], {"mlock"}),
    "mlock-onfault": ([["mlock_onfault", 2, 8]], {"mlock"}),
    "mseal-munmap": ([["mseal", 3, 5], ["munmap", 2, 6], ["mprotect", 2, 4, "r"]],
                     {"mseal"}),
    "fork-merge": ([["fork"], ["mprotect", 6, 10, "rw"]], set()),
    "touch-mremap": ([["mprotect", 6, 10, "rw"], ["touch", 2, 10], ["mremap", 4, 8, 16]],
                     {"populate_write"}),
    "refill": ([["munmap", 5, 7], ["mmap", 5, 7, "rw", "@", 3]], set()),
}


def setup(backing: str, faulted: str) -> list:
    """B mapped (and faulted) first, made read-only, then A: two VMAs."""
    ops: list = [["mmap", 6, 10, "rw", backing, 4]]
    if "B" in faulted:
        ops.append(["touch", 6, 10])
    ops.append(["mprotect", 6, 10, "r"])
    ops.append(["mmap", 2, 6, "rw", backing, 0])
    if "A" in faulted:
        ops.append(["touch", 2, 6])
    return ops


def scenarios(small: bool = False) -> list[Scenario]:
    """Every backing x faulted x family (240); *small*: one of each family on
    anonymous and shared memfd mappings, A faulted."""
    out = []
    for backing in BACKINGS:
        for faulted in FAULTED:
            if small and (backing not in ("anon", "memfd-shared") or faulted != "A"):
                continue
            for fam, (tail, needs) in FAMILIES.items():
                ops = setup(backing, faulted) + [[backing if x == "@" else x for x in op]
                                                 for op in tail]
                need = set(needs) | ({"populate_write"} if faulted != "none" else set())
                out.append(Scenario(f"{backing}/faulted-{faulted}/{fam}",
                                    tuple(tuple(o) for o in ops), frozenset(need)))
    return out
