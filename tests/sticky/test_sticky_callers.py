# SPDX-License-Identifier: GPL-2.0-or-later
"""Sticky flags through the tree's own callers of the merge code.

* vma_modify_flags() (mprotect, madvise, mlock): merge, or split when no merge;
* copy_vma() (mremap's move): the copy merges with its new neighbours;
* __mmap_region() (mmap): a new mapping merges with its neighbours, also when it
  replaces part of an existing mapping (MAP_FIXED).

``*`` marks the range operated on.
"""
import pytest

from .sticky_helpers import P, other, row, show, spans

pytestmark = pytest.mark.requires("sticky")


# --- vma_modify_flags() ------------------------------------------------------


@pytest.mark.parametrize("who", ["none", "prev", "middle", "request", "next"])
def test_modify_flags_merge_unites_sticky(sk, who):
    """
    mprotect-like: B's range takes its neighbours' flags, all three merge, and
    vma_modify_flags() hands back the merged VMA with every sticky flag.

    012345          012345
    AA**CC    ->    AAAAAA
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(2 * P, 4 * P, 2, F | other(sk.k) | sk.sticky(who == "middle"))
    mm.map(4 * P, 6 * P, 4, F | sk.sticky(who == "next"))
    want = F | sk.sticky(who in ("middle", "request"))

    ret = mm.modify_flags(mm.vmi(2 * P), a, b, 2 * P, 4 * P, want)

    assert ret == a, show(mm)
    assert row(mm) == "AAAAAA"
    assert a.flags == F | sk.sticky(who != "none"), show(mm)


@pytest.mark.parametrize("sticky", [False, True], ids=["plain", "sticky"])
def test_modify_flags_split_keeps_sticky_on_all_parts(sk, sticky):
    """
    Nothing to merge with: the range is split out (its flags are then the
    caller's to set); all three parts keep A's flags, sticky flag included.

    012345          012345
    AA**AA    ->    AABBCC
    """
    mm, F = sk.mm, sk.base
    flags = F | sk.sticky(sticky)
    a = mm.map(0, 6 * P, 0, flags)

    # the range starts inside A, so (as mprotect passes it) prev is A itself
    ret = mm.modify_flags(mm.vmi(2 * P), a, a, 2 * P, 4 * P, F | other(sk.k) | sk.sticky(sticky))

    assert (ret.start, ret.end) == (2 * P, 4 * P)
    assert row(mm) == "AABBCC"
    assert spans(mm) == [(0, 2, 0), (2, 4, 2), (4, 6, 4)]
    assert [v.flags for v in mm.vmas()] == [flags] * 3, show(mm)


# --- copy_vma() ----------------------------------------------------------------


@pytest.mark.parametrize("who", ["none", "prev", "source", "next"])
def test_copy_vma_merge_unites_sticky(sk, who):
    """
    mremap moves C into the hole between A and B: the copy merges with both, and
    the result has the sticky flags of A, B and the source C.  (copy_vma() leaves
    the source in place; mremap unmaps it afterwards.)

    0123456789      0123456789
    AA**BB  CC ->   AAAAAA  BB
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    mm.map(4 * P, 6 * P, 4, F | sk.sticky(who == "next"))
    c = mm.map(8 * P, 10 * P, 8, F | sk.sticky(who == "source"))

    new, src, _ = mm.copy_vma(c, 2 * P, 2 * P, 2)

    assert new == a and src == c, show(mm)
    assert row(mm) == "AAAAAA  BB"
    assert spans(mm) == [(0, 6, 0), (8, 10, 8)]
    assert a.flags == F | sk.sticky(who != "none"), show(mm)
    assert c.flags == F | sk.sticky(who == "source"), show(mm)


@pytest.mark.parametrize("sticky", [False, True], ids=["plain", "sticky"])
def test_copy_vma_without_merge_copies_sticky(sk, sticky):
    """
    The new neighbours differ from the source (VM_EXEC): the copy is a new VMA
    with the source's flags, sticky flag included; the neighbours gain nothing.

    0123456789      0123456789
    AA**BB  CC ->   AACCBB  DD
    """
    mm, F = sk.mm, sk.base
    X = other(sk.k)
    a = mm.map(0, 2 * P, 0, F | X)
    b = mm.map(4 * P, 6 * P, 4, F | X)
    c = mm.map(8 * P, 10 * P, 8, F | sk.sticky(sticky))

    new, src, _ = mm.copy_vma(c, 2 * P, 2 * P, 2)

    assert new not in (None, a, b, c), show(mm)
    assert row(mm) == "AABBCC  DD"
    assert (new.start, new.end) == (2 * P, 4 * P)
    assert new.flags == c.flags == F | sk.sticky(sticky), show(mm)
    assert a.flags == b.flags == F | X, show(mm)


# --- __mmap_region() -------------------------------------------------------------


@pytest.mark.requires("mmap_region")
@pytest.mark.parametrize("who", ["none", "prev", "next"])
def test_mmap_fills_hole_unites_sticky(sk, who):
    """
    A and B were mmap()ed; one of them later got the sticky flag (as a guard
    region install or soft-dirty tracking would set it).  mmap() of the hole
    merges all three.

    012345          012345
    AA**BB    ->    AAAAAA
    """
    mm, F = sk.mm, sk.base
    assert mm.mmap_region(0, 2 * P, F) == 0
    assert mm.mmap_region(4 * P, 2 * P, F) == 4 * P
    a, b = mm.vmas()
    base = a.flags                       # as mmap made it (VM_ACCOUNT, soft-dirty, ...)
    assert b.flags == base
    if who == "prev":
        a.set_flags(base | sk.S)
    if who == "next":
        b.set_flags(base | sk.S)

    assert mm.mmap_region(2 * P, 2 * P, F) == 2 * P

    assert row(mm) == "AAAAAA", show(mm)
    assert mm.vmas()[0] == a
    assert a.flags == base | sk.sticky(who != "none"), show(mm)


@pytest.mark.requires("mmap_region")
@pytest.mark.parametrize("sticky", [False, True], ids=["plain", "sticky"])
def test_mmap_fixed_over_sticky_vma_merges_back(sk, sticky):
    """
    MAP_FIXED over the inside of A: the old range is unmapped (A splits in two,
    both keep the flag), the new mapping merges with both halves.

    012345          012345
    AA**AA    ->    AAAAAA
    """
    mm, F = sk.mm, sk.base
    assert mm.mmap_region(0, 6 * P, F) == 0
    (a,) = mm.vmas()
    base = a.flags
    a.set_flags(base | sk.sticky(sticky))

    assert mm.mmap_region(2 * P, 2 * P, F) == 2 * P

    assert row(mm) == "AAAAAA", show(mm)
    assert spans(mm) == [(0, 6, 0)]
    assert mm.vmas()[0].flags == base | sk.sticky(sticky), show(mm)
