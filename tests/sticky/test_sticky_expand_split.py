# SPDX-License-Identifier: GPL-2.0-or-later
"""Sticky flags through vma_expand(), vma_shrink(), split_vma() and munmap.

A split copies the VMA, so both parts keep a sticky flag; merging the parts back
(or merging a hole that munmap left) unions it again.  Shrinking never changes
flags.  ``*`` marks a range being expanded over, unmapped or merged.
"""
import pytest

from .sticky_helpers import P, other, row, show, spans

pytestmark = pytest.mark.requires("sticky")


@pytest.mark.parametrize("who", ["none", "target"])
def test_expand_into_gap(sk, who):
    """
    0123            0123
    AA**     ->     AAAA
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "target"))

    mm.expand(a, 0, 4 * P)
    assert row(mm) == "AAAA"
    assert spans(mm) == [(0, 4, 0)]
    assert a.flags == F | sk.sticky(who == "target"), show(mm)


@pytest.mark.parametrize("who", ["none", "target", "next", "both"])
def test_expand_over_next(sk, who):
    """
    vma_expand() to the end of next removes next; their sticky flags unite.

    012345          012345
    AA**BB    ->    AAAAAA
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who in ("target", "both")))
    b = mm.map(4 * P, 6 * P, 4, F | sk.sticky(who in ("next", "both")))

    mm.expand(a, 0, 6 * P, next=b)
    assert row(mm) == "AAAAAA"
    assert spans(mm) == [(0, 6, 0)]
    assert mm.map_count == 1
    assert a.flags == F | sk.sticky(who != "none"), show(mm)


@pytest.mark.parametrize("who", ["target", "next"])
def test_expand_short_of_next_takes_nothing_from_it(sk, who):
    """
    Expanding up to (not over) next: next is not removed, so its sticky flag
    stays its own, and the target's does not spread to it.

    012345          012345
    AA*BBB    ->    AAABBB
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "target"))
    b = mm.map(3 * P, 6 * P, 3, F | sk.sticky(who == "next"))

    mm.expand(a, 0, 3 * P, next=b)
    assert row(mm) == "AAABBB"
    assert spans(mm) == [(0, 3, 0), (3, 6, 3)]
    assert a.flags == F | sk.sticky(who == "target"), show(mm)
    assert b.flags == F | sk.sticky(who == "next"), show(mm)


@pytest.mark.parametrize("sticky", [False, True], ids=["plain", "sticky"])
def test_shrink_keeps_flags(sk, sticky):
    """
    012345          012345
    AAAA**    ->    AAAA
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 6 * P, 0, F | sk.sticky(sticky))

    mm.shrink(a, 0, 4 * P)
    assert row(mm) == "AAAA"
    assert spans(mm) == [(0, 4, 0)]
    assert a.flags == F | sk.sticky(sticky)


@pytest.mark.parametrize("new_below", [False, True],
                         ids=["new-above", "new-below"])
@pytest.mark.parametrize("who", ["none", "whole", "lower", "upper"])
def test_split_then_merge_back(sk, who, new_below):
    """
    Split (a sticky flag of the whole VMA goes to both parts); then mark one part
    (``lower``/``upper``: as installing a guard region marks only its range);
    then merge the upper part back into the lower one.

    0123            0123            0123
    AAAA     ->     AABB     ->     AAAA
          split at 2      merge [2,4) of B into A
    """
    mm, F, S = sk.mm, sk.base, sk.S
    whole = mm.map(0, 4 * P, 0, F | sk.sticky(who == "whole"))

    mm.split(whole, 2 * P, new_below)
    assert row(mm) == "AABB"
    assert spans(mm) == [(0, 2, 0), (2, 4, 2)]
    lower, upper = mm.vmas()
    assert whole in (lower, upper)          # one part is the original VMA
    assert lower.flags == upper.flags == F | sk.sticky(who == "whole"), show(mm)

    if who == "lower":
        lower.set_flags(lower.flags | S)
    if who == "upper":
        upper.set_flags(upper.flags | S)

    vma, state = mm.merge_existing(upper, 2 * P, 4 * P, prev=lower)

    assert (vma, state) == (lower, "success"), show(mm)
    assert row(mm) == "AAAA"
    assert spans(mm) == [(0, 4, 0)]
    assert lower.flags == F | sk.sticky(who != "none"), show(mm)


@pytest.mark.parametrize("sticky", [False, True], ids=["plain", "sticky"])
def test_munmap_splits_sticky_vma_and_hole_merges_back(sk, sticky):
    """
    munmap of the inside of A splits it: both remainders keep A's flags.  A plain
    mapping of the hole then merges with both and the flag is kept.

    012345          012345          012345
    AAAAAA   ->     AA  BB   ->     AAAAAA
        munmap [2,4)      merge_new [2,4) without the flag
    """
    mm, F = sk.mm, sk.base
    mm.account(mm.map(0, 6 * P, 0, F | sk.sticky(sticky)))    # as mmap would have

    mm.munmap(2 * P, 4 * P)
    assert row(mm) == "AA  BB"
    assert spans(mm) == [(0, 2, 0), (4, 6, 4)]
    assert [v.flags for v in mm.vmas()] == [F | sk.sticky(sticky)] * 2, show(mm)

    vma, state = mm.merge_new_range(2 * P, 4 * P, 2, F)
    assert state == "success", show(mm)
    assert row(mm) == "AAAAAA"
    assert spans(mm) == [(0, 6, 0)]
    assert vma.flags == F | sk.sticky(sticky), show(mm)


@pytest.mark.parametrize("who", ["none", "lower", "upper"])
def test_munmap_across_two_vmas_keeps_each_ones_flags(sk, who):
    """
    munmap across the boundary of two VMAs trims both; nothing merges, so each
    remainder keeps exactly its own flags.

    012345          012345
    AAABBB   ->     AA  BB
    """
    mm, F = sk.mm, sk.base
    X = other(sk.k)                 # A and B must differ, or they could be one VMA
    a = mm.map(0, 3 * P, 0, F | sk.sticky(who == "lower"))
    b = mm.map(3 * P, 6 * P, 3, F | X | sk.sticky(who == "upper"))
    mm.account(a)
    mm.account(b)

    mm.munmap(2 * P, 4 * P)
    assert row(mm) == "AA  BB"
    assert spans(mm) == [(0, 2, 0), (4, 6, 4)]
    lo, hi = mm.vmas()
    assert lo.flags == F | sk.sticky(who == "lower"), show(mm)
    assert hi.flags == F | X | sk.sticky(who == "upper"), show(mm)
