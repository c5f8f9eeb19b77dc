# SPDX-License-Identifier: GPL-2.0-or-later
"""Sticky flags through vma_merge_existing_range() (the mprotect/madvise path).

The middle VMA differs from its neighbours in VM_EXEC; the change asks for the
neighbours' flags on part or all of it, so it merges left, right or both.

Participants, each made sticky in turn:

* ``prev`` / ``next``: the neighbour that absorbs the range;
* ``middle``: the middle VMA has the flag, and so does the request (real callers
  derive the new flags from the VMA's own, so a sticky flag of the middle VMA is
  in vmg->vma_flags);
* ``request``: only the requested flags carry it (the caller sets it on the range).

``*`` marks the range being changed.
"""
import pytest

from .sticky_helpers import P, other, row, show, spans

pytestmark = pytest.mark.requires("sticky")


def _middle_flags(sk, who):
    return sk.base | other(sk.k) | sk.sticky(who == "middle")


def _request(sk, who):
    return sk.base | sk.sticky(who in ("middle", "request"))


@pytest.mark.parametrize("who", ["none", "prev", "middle", "request"])
def test_existing_merge_left_partial(sk, who):
    """
    012345          012345
    AA*BBB    ->    AAABBB
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(2 * P, 6 * P, 2, _middle_flags(sk, who))

    vma, state = mm.merge_existing(b, 2 * P, 3 * P, _request(sk, who), prev=a)

    assert (vma, state) == (a, "success"), show(mm)
    assert row(mm) == "AAABBB"
    assert spans(mm) == [(0, 3, 0), (3, 6, 3)]
    assert a.flags == F | sk.sticky(who != "none"), show(mm)
    # the rest of the middle VMA keeps its own flags
    assert b.flags == _middle_flags(sk, who), show(mm)


@pytest.mark.parametrize("who", ["none", "prev", "middle", "request"])
def test_existing_merge_left_whole(sk, who):
    """
    0123            0123
    AA**     ->     AAAA      (B removed)
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(2 * P, 4 * P, 2, _middle_flags(sk, who))

    vma, state = mm.merge_existing(b, 2 * P, 4 * P, _request(sk, who), prev=a)

    assert (vma, state) == (a, "success"), show(mm)
    assert row(mm) == "AAAA"
    assert spans(mm) == [(0, 4, 0)]
    assert mm.map_count == 1
    assert a.flags == F | sk.sticky(who != "none"), show(mm)


@pytest.mark.parametrize("who", ["none", "middle", "request", "next"])
def test_existing_merge_right_partial(sk, who):
    """
    The range is offset into the middle VMA, so vmg->prev is the middle VMA.

    012345          012345
    AAA*BB    ->    AAABBB
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 4 * P, 0, _middle_flags(sk, who))
    b = mm.map(4 * P, 6 * P, 4, F | sk.sticky(who == "next"))

    vma, state = mm.merge_existing(a, 3 * P, 4 * P, _request(sk, who), prev=a)

    assert (vma, state) == (b, "success"), show(mm)
    assert row(mm) == "AAABBB"
    assert spans(mm) == [(0, 3, 0), (3, 6, 3)]
    assert b.flags == F | sk.sticky(who != "none"), show(mm)
    assert a.flags == _middle_flags(sk, who), show(mm)


@pytest.mark.parametrize("who", ["none", "middle", "request", "next", "bystander"])
def test_existing_merge_right_whole(sk, who):
    """
    A is vmg->prev but not adjacent, so it takes no part.

    0123456         0123456
    A  **BB   ->    A  BBBB    (the middle VMA removed)
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 1 * P, 0, F | sk.sticky(who == "bystander"))
    b = mm.map(3 * P, 5 * P, 3, _middle_flags(sk, who))
    c = mm.map(5 * P, 7 * P, 5, F | sk.sticky(who == "next"))

    vma, state = mm.merge_existing(b, 3 * P, 5 * P, _request(sk, who), prev=a)

    assert (vma, state) == (c, "success"), show(mm)
    assert row(mm) == "A  BBBB"
    assert spans(mm) == [(0, 1, 0), (3, 7, 3)]
    assert c.flags == F | sk.sticky(who not in ("none", "bystander")), show(mm)
    assert a.flags == F | sk.sticky(who == "bystander"), show(mm)


@pytest.mark.parametrize("who", ["none", "prev", "middle", "request", "next"])
def test_existing_merge_both(sk, who):
    """
    012345          012345
    AA**CC    ->    AAAAAA    (B and C removed)
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(2 * P, 4 * P, 2, _middle_flags(sk, who))
    mm.map(4 * P, 6 * P, 4, F | sk.sticky(who == "next"))

    vma, state = mm.merge_existing(b, 2 * P, 4 * P, _request(sk, who), prev=a)

    assert (vma, state) == (a, "success"), show(mm)
    assert row(mm) == "AAAAAA"
    assert spans(mm) == [(0, 6, 0)]
    assert mm.map_count == 1
    assert a.flags == F | sk.sticky(who != "none"), show(mm)


@pytest.mark.parametrize("who", ["prev", "middle", "request", "next"])
def test_existing_inner_range_merges_nothing(sk, who):
    """
    The range touches neither end of the middle VMA: no merge is possible and no
    flag moves.

    0123456         0123456
    AAB*BCC   ->    AABBBCC   (nomerge; unchanged)
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(2 * P, 5 * P, 2, _middle_flags(sk, who))
    c = mm.map(5 * P, 7 * P, 5, F | sk.sticky(who == "next"))

    vma, state = mm.merge_existing(b, 3 * P, 4 * P, _request(sk, who), prev=b)

    assert (vma, state) == (None, "nomerge"), show(mm)
    assert row(mm) == "AABBBCC"
    assert a.flags == F | sk.sticky(who == "prev")
    assert b.flags == _middle_flags(sk, who)
    assert c.flags == F | sk.sticky(who == "next")


@pytest.mark.parametrize("who", ["none", "prev", "middle", "next"])
def test_existing_sticky_only_difference_merges_both(sk, who):
    """
    The middle VMA differs from its neighbours only by the sticky flag, and the
    request keeps the middle's flags (a no-op change, as mprotect to the same
    protection would ask): the three merge, the flag survives.

    012345          012345
    AA**CC    ->    AAAAAA
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(2 * P, 4 * P, 2, F | sk.sticky(who == "middle"))
    mm.map(4 * P, 6 * P, 4, F | sk.sticky(who == "next"))

    vma, state = mm.merge_existing(b, 2 * P, 4 * P, prev=a)   # flags: b's own

    assert (vma, state) == (a, "success"), show(mm)
    assert row(mm) == "AAAAAA"
    assert a.flags == F | sk.sticky(who != "none"), show(mm)


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "partial"])
def test_existing_request_speaks_for_the_middle(sk, whole):
    """
    vma_merge_existing_range() takes the sticky flags from the request and the
    surviving neighbour, never from the middle VMA's own flags: a request
    without the middle's sticky flag (no caller in the tree builds one - they
    derive it from vma->vm_flags) moves the range into A without it.

    0123            0123
    AA**     ->     AAAA      (whole: B's flag is gone with B)
    AA*B     ->     AAAB      (partial: the rest of B keeps it)
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F)
    b = mm.map(2 * P, 4 * P, 2, F | other(sk.k) | sk.S)
    end = 4 * P if whole else 3 * P

    vma, state = mm.merge_existing(b, 2 * P, end, F, prev=a)

    assert (vma, state) == (a, "success"), show(mm)
    assert row(mm) == ("AAAA" if whole else "AAAB")
    assert a.flags == F, show(mm)
    if not whole:
        assert b.flags == F | other(sk.k) | sk.S
