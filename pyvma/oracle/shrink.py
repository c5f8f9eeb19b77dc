# SPDX-License-Identifier: GPL-2.0-or-later
"""Shrink a disagreeing operation sequence to a smaller one that still disagrees
(delta debugging: drop chunks of operations, halving the chunk until single
operations, then narrow each operation's range by a page at each end)."""
from __future__ import annotations

from collections.abc import Callable

#: operations whose first two arguments are a range that may be narrowed
_RANGED = ("mprotect", "munmap", "madvise", "touch", "mlock", "mlock_onfault", "munlock",
           "mseal")


def shrink(ops: list, still: Callable[[list], bool], budget: int = 300) -> list:
    """The smallest sequence found (within *budget* runs of *still*) for which
    *still* holds; *ops* itself must hold."""
    runs = 0

    def test(cand: list) -> bool:
        nonlocal runs
        runs += 1
        return still(cand)

    cur = list(ops)
    chunk = max(1, len(cur) // 2)
    while chunk >= 1 and runs < budget:
        i, changed = 0, False
        while i < len(cur) and runs < budget:
            cand = cur[:i] + cur[i + chunk:]
            if cand and test(cand):
                cur, changed = cand, True
            else:
                i += chunk
        if not changed:
            chunk //= 2
    for i in range(len(cur)):
        while runs < budget and cur[i][0] in _RANGED and cur[i][2] - cur[i][1] > 1:
            s, e = cur[i][1], cur[i][2]
            for cand_op in ([cur[i][0], s + 1, e, *cur[i][3:]], [cur[i][0], s, e - 1,
                                                                   *cur[i][3:]]):
                cand = cur[:i] + [cand_op] + cur[i + 1:]
                if test(cand):
                    cur = cand
                    break
            else:
                break
    return cur
