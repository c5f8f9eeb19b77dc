# SPDX-License-Identifier: GPL-2.0-or-later
"""Sticky flags through vma_merge_new_range(): merge left, right and both.

The sticky flag is put on each participant in turn (and on none, and on a
bystander that does not take part): the merged VMA must carry it exactly when a
participant had it, every other flag must be the common flags, and VMAs that did
not merge must keep their own flags.  ``*`` marks the new range.
"""
import pytest

from .sticky_helpers import P, row, show, spans

pytestmark = pytest.mark.requires("sticky")


@pytest.mark.parametrize("who", ["none", "prev", "new", "bystander"])
def test_new_range_merge_left(sk, who):
    """
    B is a bystander, not adjacent to the new range.

    0123456          0123456
    AA*   B    ->    AAA   B
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(6 * P, 7 * P, 6, F | sk.sticky(who == "bystander"))

    vma, state = mm.merge_new_range(2 * P, 3 * P, 2, F | sk.sticky(who == "new"))

    assert (vma, state) == (a, "success"), show(mm)
    assert row(mm) == "AAA   B"
    assert spans(mm) == [(0, 3, 0), (6, 7, 6)]
    assert a.flags == F | sk.sticky(who in ("prev", "new")), show(mm)
    assert b.flags == F | sk.sticky(who == "bystander"), show(mm)


@pytest.mark.parametrize("who", ["none", "new", "next", "bystander"])
def test_new_range_merge_right(sk, who):
    """
    The bystander A sits before the gap: it is vmg->prev but not adjacent.

    0123456          0123456
    A  *BB     ->    A  BBB
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 1 * P, 0, F | sk.sticky(who == "bystander"))
    b = mm.map(4 * P, 6 * P, 4, F | sk.sticky(who == "next"))

    vma, state = mm.merge_new_range(3 * P, 4 * P, 3, F | sk.sticky(who == "new"))

    assert (vma, state) == (b, "success"), show(mm)
    assert row(mm) == "A  BBB"
    assert spans(mm) == [(0, 1, 0), (3, 6, 3)]
    assert b.flags == F | sk.sticky(who in ("new", "next")), show(mm)
    assert a.flags == F | sk.sticky(who == "bystander"), show(mm)


@pytest.mark.parametrize("who", ["none", "prev", "new", "next", "all"])
def test_new_range_merge_both(sk, who):
    """
    01234           01234
    AA*BB     ->    AAAAA
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who in ("prev", "all")))
    mm.map(3 * P, 5 * P, 3, F | sk.sticky(who in ("next", "all")))

    vma, state = mm.merge_new_range(2 * P, 3 * P, 2, F | sk.sticky(who in ("new", "all")))

    assert (vma, state) == (a, "success"), show(mm)
    assert row(mm) == "AAAAA"
    assert spans(mm) == [(0, 5, 0)]
    assert mm.map_count == 1
    assert a.flags == F | sk.sticky(who != "none"), show(mm)


@pytest.mark.parametrize("who", ["prev", "new", "next"])
def test_new_range_blocked_merge_moves_no_sticky_flag(sk, who):
    """
    The new range differs from both neighbours in a non-sticky flag (VM_EXEC):
    nothing merges, and no sticky flag moves.

    01234           01234
    AA*BB     ->    AA BB      (nomerge; A and B as they were)
    """
    mm, F = sk.mm, sk.base
    X = sk.k.flag("VM_EXEC")
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(3 * P, 5 * P, 3, F | sk.sticky(who == "next"))

    vma, state = mm.merge_new_range(2 * P, 3 * P, 2, F | X | sk.sticky(who == "new"))

    assert (vma, state) == (None, "nomerge"), show(mm)
    assert row(mm) == "AA BB"
    assert a.flags == F | sk.sticky(who == "prev")
    assert b.flags == F | sk.sticky(who == "next")


def test_new_range_union_of_different_sticky_flags(kernel, mm):
    """
    Each participant brings a different sticky flag: the result has all of them
    (the union, not just "some sticky flag").

    01234           01234
    AA*BB     ->    AAAAA
    """
    names = sorted(kernel.names_of(kernel.sticky_mask))
    if len(names) < 2:
        pytest.skip(f"{kernel.version} has only {names} sticky with this config")
    F = kernel.flag("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
    first, second = kernel.flag(names[0]), kernel.flag(names[1])
    a = mm.map(0, 2 * P, 0, F | first)
    mm.map(3 * P, 5 * P, 3, F | second)

    vma, state = mm.merge_new_range(2 * P, 3 * P, 2, F)

    assert (vma, state) == (a, "success")
    assert row(mm) == "AAAAA"
    assert a.flags == F | first | second, show(mm)
