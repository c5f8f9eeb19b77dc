# SPDX-License-Identifier: GPL-2.0-or-later
"""Failure paths leave no sticky flag on a VMA that did not merge.

Three ways a merge does not happen after the sticky flags were gathered:

* anon_vma_clone() fails (``kernel.fail_anon_vma_clone()``): the merge target is
  unfaulted and must take the anon_vma of a faulted VMA it absorbs;
* a VMA with a ->close hook cannot be removed, so the merge is cut down (or
  abandoned when the middle VMA itself would go);
* the maple tree preallocation fails (when the API offers it).

In each, the sticky flag sits on one participant in turn; afterwards every VMA
must have exactly the flags it had unless it really merged.
"""
import pytest

from ..helpers import errno_of
from .sticky_helpers import P, faulted, other, row, show, spans

pytestmark = pytest.mark.requires("sticky")

ENOMEM = -12


def _middle_flags(sk, who):
    return sk.base | other(sk.k) | sk.sticky(who == "middle")


def _request(sk, who):
    return sk.base | sk.sticky(who in ("middle", "request"))


# --- anon_vma_clone() failure ------------------------------------------------


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "partial"])
@pytest.mark.parametrize("who", ["prev", "middle", "request"])
def test_clone_failure_existing_left(sk, who, whole):
    """
    A is unfaulted, B faulted: merging B's range into A clones B's anon_vma into
    A, which fails.  Nothing may change.

    0123            0123
    AA**     ->     AABB     (whole; nomem)
    AA*B     ->     AABB     (partial; nomem)
    """
    mm, F, k = sk.mm, sk.base, sk.k
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(2 * P, 4 * P, 2, _middle_flags(sk, who))
    faulted(mm, b, k.anon_vma())
    end = 4 * P if whole else 3 * P

    k.fail_anon_vma_clone(True)
    vma, state = mm.merge_existing(b, 2 * P, end, _request(sk, who), prev=a)
    k.fail_anon_vma_clone(False)

    assert (vma, state) == (None, "nomem"), show(mm)
    assert row(mm) == "AABB"
    assert spans(mm) == [(0, 2, 0), (2, 4, 2)]
    assert a.flags == F | sk.sticky(who == "prev"), show(mm)
    assert b.flags == _middle_flags(sk, who), show(mm)


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "partial"])
@pytest.mark.parametrize("who", ["middle", "request", "next"])
def test_clone_failure_existing_right(sk, who, whole):
    """
    A (the middle VMA) is faulted, B unfaulted: merging into B fails.

    0123            0123
    **BB     ->     AABB     (whole; nomem)
    A*BB     ->     AABB     (partial; nomem)
    """
    mm, F, k = sk.mm, sk.base, sk.k
    a = mm.map(0, 2 * P, 0, _middle_flags(sk, who))
    b = mm.map(2 * P, 4 * P, 2, F | sk.sticky(who == "next"))
    faulted(mm, a, k.anon_vma())
    start = 0 if whole else 1 * P

    k.fail_anon_vma_clone(True)
    vma, state = mm.merge_existing(a, start, 2 * P, _request(sk, who),
                                   prev=None if whole else a)
    k.fail_anon_vma_clone(False)

    assert (vma, state) == (None, "nomem"), show(mm)
    assert row(mm) == "AABB"
    assert spans(mm) == [(0, 2, 0), (2, 4, 2)]
    assert a.flags == _middle_flags(sk, who), show(mm)
    assert b.flags == F | sk.sticky(who == "next"), show(mm)


@pytest.mark.parametrize("who", ["prev", "middle", "request", "next"])
def test_clone_failure_existing_both(sk, who):
    """
    A and C unfaulted, B faulted: A would take B's anon_vma and fails.

    012345          012345
    AA**CC    ->    AABBCC    (nomem)
    """
    mm, F, k = sk.mm, sk.base, sk.k
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(2 * P, 4 * P, 2, _middle_flags(sk, who))
    c = mm.map(4 * P, 6 * P, 4, F | sk.sticky(who == "next"))
    faulted(mm, b, k.anon_vma())

    k.fail_anon_vma_clone(True)
    vma, state = mm.merge_existing(b, 2 * P, 4 * P, _request(sk, who), prev=a)
    k.fail_anon_vma_clone(False)

    assert (vma, state) == (None, "nomem"), show(mm)
    assert row(mm) == "AABBCC"
    assert a.flags == F | sk.sticky(who == "prev"), show(mm)
    assert b.flags == _middle_flags(sk, who), show(mm)
    assert c.flags == F | sk.sticky(who == "next"), show(mm)


@pytest.mark.parametrize("who", ["prev", "new", "next"])
def test_clone_failure_new_range_both(sk, who):
    """
    A unfaulted, B faulted: filling the gap expands A over B, which must clone
    B's anon_vma into A, and that fails.  vma_expand() returns the error without
    setting vmg->state, so vma_merge_new_range() reports "nomerge", not "nomem"
    (mm/vma.c: "by convention, callers ignore OOM for this case").

    01234           01234
    AA*BB     ->    AA BB     (nomerge)
    """
    mm, F, k = sk.mm, sk.base, sk.k
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(3 * P, 5 * P, 3, F | sk.sticky(who == "next"))
    faulted(mm, b, k.anon_vma())

    k.fail_anon_vma_clone(True)
    vma, state = mm.merge_new_range(2 * P, 3 * P, 2, F | sk.sticky(who == "new"))
    k.fail_anon_vma_clone(False)

    assert (vma, state) == (None, "nomerge"), show(mm)
    assert row(mm) == "AA BB"
    assert spans(mm) == [(0, 2, 0), (3, 5, 3)]
    assert a.flags == F | sk.sticky(who == "prev"), show(mm)
    assert b.flags == F | sk.sticky(who == "next"), show(mm)


@pytest.mark.parametrize("who", ["target", "next"])
def test_clone_failure_expand_over_next(sk, who):
    """
    012345          012345
    AA**BB    ->    AA  BB    (-ENOMEM)
    """
    mm, F, k = sk.mm, sk.base, sk.k
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "target"))
    b = mm.map(4 * P, 6 * P, 4, F | sk.sticky(who == "next"))
    faulted(mm, b, k.anon_vma())

    k.fail_anon_vma_clone(True)
    err = errno_of(mm.expand, a, 0, 6 * P, next=b)
    k.fail_anon_vma_clone(False)

    assert err == ENOMEM
    assert row(mm) == "AA  BB"
    assert spans(mm) == [(0, 2, 0), (4, 6, 4)]
    assert a.flags == F | sk.sticky(who == "target"), show(mm)
    assert b.flags == F | sk.sticky(who == "next"), show(mm)


@pytest.mark.parametrize("new_below", [False, True], ids=["new-above", "new-below"])
def test_clone_failure_split_leaves_sticky_vma_whole(sk, new_below):
    """
    0123            0123
    AAAA     ->     AAAA      (split at 2 fails: -ENOMEM)
    """
    mm, F, k = sk.mm, sk.base, sk.k
    a = mm.map(0, 4 * P, 0, F | sk.S)
    faulted(mm, a, k.anon_vma())

    k.fail_anon_vma_clone(True)
    err = errno_of(mm.split, a, 2 * P, new_below)
    k.fail_anon_vma_clone(False)

    assert err == ENOMEM
    assert row(mm) == "AAAA"
    assert a.flags == F | sk.S


def test_clone_failure_munmap_leaves_sticky_vma_whole(sk):
    """
    munmap of the inside of a faulted VMA must split it; the split fails and the
    unmap is abandoned.

    012345          012345
    AA**AA   ->     AAAAAA    (-ENOMEM)
    """
    mm, F, k = sk.mm, sk.base, sk.k
    a = mm.map(0, 6 * P, 0, F | sk.S)
    mm.account(a)
    faulted(mm, a, k.anon_vma())

    k.fail_anon_vma_clone(True)
    err = errno_of(mm.munmap, 2 * P, 4 * P)
    k.fail_anon_vma_clone(False)

    assert err == ENOMEM
    assert row(mm) == "AAAAAA"
    assert spans(mm) == [(0, 6, 0)]
    assert a.flags == F | sk.S


# --- a ->close hook that forbids removing a VMA ------------------------------


@pytest.mark.parametrize("who", ["none", "prev", "new", "next"])
def test_close_next_new_range_merges_left_only(sk, who):
    """
    B has ->close, so it cannot be removed: the merge shrinks to A + the range.
    B's sticky flag must not reach A, and nothing reaches B.

    01234           01234
    AA*BB     ->    AAABB
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(3 * P, 5 * P, 3, F | sk.sticky(who == "next"))
    b.set_vm_ops(close=True)

    vma, state = mm.merge_new_range(2 * P, 3 * P, 2, F | sk.sticky(who == "new"))

    assert (vma, state) == (a, "success"), show(mm)
    assert row(mm) == "AAABB"
    assert spans(mm) == [(0, 3, 0), (3, 5, 3)]
    assert a.flags == F | sk.sticky(who in ("prev", "new")), show(mm)
    assert b.flags == F | sk.sticky(who == "next"), show(mm)


@pytest.mark.parametrize("who", ["none", "prev", "middle", "request", "next"])
def test_close_next_existing_merges_left_only(sk, who):
    """
    C has ->close: the three-way merge is cut down to A absorbing B.

    012345          012345
    AA**CC    ->    AAAABB
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(2 * P, 4 * P, 2, _middle_flags(sk, who))
    c = mm.map(4 * P, 6 * P, 4, F | sk.sticky(who == "next"))
    c.set_vm_ops(close=True)

    vma, state = mm.merge_existing(b, 2 * P, 4 * P, _request(sk, who), prev=a)

    assert (vma, state) == (a, "success"), show(mm)
    assert row(mm) == "AAAABB"
    assert spans(mm) == [(0, 4, 0), (4, 6, 4)]
    assert a.flags == F | sk.sticky(who in ("prev", "middle", "request")), show(mm)
    assert c.flags == F | sk.sticky(who == "next"), show(mm)


@pytest.mark.parametrize("who", ["prev", "middle", "request", "next"])
def test_close_middle_existing_whole_merges_nothing(sk, who):
    """
    B has ->close and the change spans all of it, so any merge would remove it:
    the merge is abandoned, nothing changes.

    012345          012345
    AA**CC    ->    AABBCC    (nomerge)
    """
    mm, F = sk.mm, sk.base
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(2 * P, 4 * P, 2, _middle_flags(sk, who))
    c = mm.map(4 * P, 6 * P, 4, F | sk.sticky(who == "next"))
    b.set_vm_ops(close=True)

    vma, state = mm.merge_existing(b, 2 * P, 4 * P, _request(sk, who), prev=a)

    assert (vma, state) == (None, "nomerge"), show(mm)
    assert row(mm) == "AABBCC"
    assert a.flags == F | sk.sticky(who == "prev"), show(mm)
    assert b.flags == _middle_flags(sk, who), show(mm)
    assert c.flags == F | sk.sticky(who == "next"), show(mm)


# --- maple tree preallocation failure (needs harness support) ---------------


def _fail_prealloc(k, on: bool) -> None:
    if not hasattr(k, "fail_prealloc"):
        pytest.skip("API: needs Kernel.fail_prealloc() (upstream's fail_prealloc)")
    k.fail_prealloc(on)


@pytest.mark.parametrize("who", ["prev", "new", "next"])
def test_prealloc_failure_new_range_both(sk, who):
    """
    01234           01234
    AA*BB     ->    AA BB     (nomem)
    """
    mm, F, k = sk.mm, sk.base, sk.k
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(3 * P, 5 * P, 3, F | sk.sticky(who == "next"))

    _fail_prealloc(k, True)
    try:
        vma, state = mm.merge_new_range(2 * P, 3 * P, 2, F | sk.sticky(who == "new"))
    finally:
        k.fail_prealloc(False)

    assert (vma, state) == (None, "nomem"), show(mm)
    assert row(mm) == "AA BB"
    assert a.flags == F | sk.sticky(who == "prev"), show(mm)
    assert b.flags == F | sk.sticky(who == "next"), show(mm)


@pytest.mark.parametrize("who", ["prev", "middle", "request", "next"])
def test_prealloc_failure_existing_both(sk, who):
    """
    012345          012345
    AA**CC    ->    AABBCC    (nomem)
    """
    mm, F, k = sk.mm, sk.base, sk.k
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "prev"))
    b = mm.map(2 * P, 4 * P, 2, _middle_flags(sk, who))
    c = mm.map(4 * P, 6 * P, 4, F | sk.sticky(who == "next"))

    _fail_prealloc(k, True)
    try:
        vma, state = mm.merge_existing(b, 2 * P, 4 * P, _request(sk, who), prev=a)
    finally:
        k.fail_prealloc(False)

    assert (vma, state) == (None, "nomem"), show(mm)
    assert row(mm) == "AABBCC"
    assert a.flags == F | sk.sticky(who == "prev"), show(mm)
    assert b.flags == _middle_flags(sk, who), show(mm)
    assert c.flags == F | sk.sticky(who == "next"), show(mm)


@pytest.mark.parametrize("who", ["target", "next"])
def test_prealloc_failure_expand_over_next(sk, who):
    """
    012345          012345
    AA**BB    ->    AA  BB    (-ENOMEM)
    """
    mm, F, k = sk.mm, sk.base, sk.k
    a = mm.map(0, 2 * P, 0, F | sk.sticky(who == "target"))
    b = mm.map(4 * P, 6 * P, 4, F | sk.sticky(who == "next"))

    _fail_prealloc(k, True)
    try:
        err = errno_of(mm.expand, a, 0, 6 * P, next=b)
    finally:
        k.fail_prealloc(False)

    assert err == ENOMEM
    assert row(mm) == "AA  BB"
    assert a.flags == F | sk.sticky(who == "target"), show(mm)
    assert b.flags == F | sk.sticky(who == "next"), show(mm)
