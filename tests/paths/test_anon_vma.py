# SPDX-License-Identifier: GPL-2.0-or-later
"""find_mergeable_anon_vma(), reusable_anon_vma(), anon_vma_compatible(): which
neighbour's anon_vma a VMA faulted for the first time may share (so that a later
mprotect() can merge them back).  The candidate VMA is T; its neighbour N has
anon_vma av with one anon_vma_chain entry unless said otherwise.
"""
import pytest

from .paths_helpers import P, need_soft_dirty, place, rw

# what differs between T and its neighbour, and whether they stay compatible
DIFFERENCES = [
    ("nothing", True),
    ("access", True),       # mprotect() flags (VM_READ/WRITE/EXEC) may differ
    ("softdirty", True),    # flags ignored for merging may differ
    ("locked", False),
    ("file", False),
    ("pgoff", False),
    ("anon_pgoff", False),
    ("gap", False),
]


def _scene(kernel, mm, side, diff):
    """T at pages 4-6; N directly after (side "next") or before ("prev")."""
    F = rw(kernel)
    tflags = nflags = F
    tfile = nfile = None
    if diff == "access":
        nflags = F | kernel.flag("VM_EXEC")
    elif diff == "softdirty":
        nflags = F | kernel.flag("VM_SOFTDIRTY")
    elif diff == "locked":
        nflags = F | kernel.flag("VM_LOCKED")
    elif diff == "file":
        nfile = kernel.file()
    if side == "next":
        n_start, n_end = (7, 9) if diff == "gap" else (6, 8)
    else:
        n_start, n_end = (1, 3) if diff == "gap" else (2, 4)
    n_pgoff = n_start + (9 if diff == "pgoff" else 0)
    t = place(mm, 4 * P, 6 * P, 4, tflags, file=tfile)
    n = place(mm, n_start * P, n_end * P, n_pgoff, nflags, file=nfile)
    if diff == "anon_pgoff":
        n.set_anon_pgoff(n_start + 9)
    av = kernel.anon_vma()
    n.set_anon_vma(av)
    n.add_avc(av)
    return t, n, av


@pytest.mark.parametrize("side", ["next", "prev"])
@pytest.mark.parametrize("diff, compatible", DIFFERENCES)
def test_find_mergeable_anon_vma(kernel, mm, side, diff, compatible):
    """
    0123456789          (next)  ....TTNN..      (prev)  ..NNTT....
    A neighbour compatible with T offers its anon_vma; any other does not.
    """
    if diff == "softdirty":
        need_soft_dirty(kernel)
    if diff == "anon_pgoff" and not kernel.has("anon_pgoff"):
        pytest.skip(f"kernel {kernel.version} keeps no separate anonymous page offset")
    t, n, av = _scene(kernel, mm, side, diff)
    found = mm.find_mergeable_anon_vma(t)
    assert found == (av if compatible else None)


@pytest.mark.parametrize("side", ["next", "prev"])
def test_forked_neighbour_is_not_reused(kernel, mm, side):
    """A neighbour whose anon_vma_chain has more than one entry (it went through
    fork()) does not share its anon_vma.

    ....TTNN..  /  ..NNTT....     (N's chain: two entries)

    0123456789          0123456789
    ....TTNN..   ->     ....TTNN..   (T gets no anon_vma offered)
    """
    t, n, av = _scene(kernel, mm, side, "nothing")
    n.add_avc(kernel.anon_vma())
    assert mm.find_mergeable_anon_vma(t) is None


def test_next_without_anon_vma_falls_back_to_prev(kernel, mm):
    """The next VMA is compatible but never faulted: the previous one's anon_vma.

    0123456789
    ..PPTTNN..
    """
    F = rw(kernel)
    p = place(mm, 2 * P, 4 * P, 2, F)
    t = place(mm, 4 * P, 6 * P, 4, F)
    place(mm, 6 * P, 8 * P, 6, F)
    av = kernel.anon_vma()
    p.set_anon_vma(av)
    p.add_avc(av)
    assert mm.find_mergeable_anon_vma(t) == av


def test_alone(kernel, mm):
    """No neighbours: nothing to share; anon_vma_prepare() then makes a new anon_vma.

    0123456789
    ....TT....
    """
    t = place(mm, 4 * P, 6 * P, 4, rw(kernel))
    assert mm.find_mergeable_anon_vma(t) is None
    mm.anon_vma_prepare(t)
    assert t.anon_vma is not None and t.avc_count == 1
    mm.anon_vma_prepare(t)      # already has one: kept
    assert t.avc_count == 1


def test_anon_vma_prepare_shares_the_neighbours(kernel, mm):
    """
    0123456789
    ....TTNN..   ->   T faulted: shares N's anon_vma
    """
    t, n, av = _scene(kernel, mm, "next", "access")
    mm.anon_vma_prepare(t)
    assert t.anon_vma == av


def test_split_off_piece_keeps_one_chain_entry_and_merges_back(kernel, mm):
    """munmap() in the middle of a faulted VMA: each piece keeps the anon_vma with one
    anon_vma_chain entry (the clone copies the chain), so a new unfaulted mapping of
    the hole merges with them as the running kernel merges it (found by pyvma oracle).

    0123456789          0123456789          0123456789
    AAAAAA....   ->     AA**AA....   ->     AAAAAA....
    """
    a = place(mm, 0, 6 * P, 0, rw(kernel))
    mm.anon_vma_prepare(a)
    av = a.anon_vma         # read before the munmap: the split may free a's VMA
    mm.munmap(2 * P, 4 * P)
    left, right = mm.vmas()
    assert (left.avc_count, right.avc_count) == (1, 1)
    assert left.anon_vma == right.anon_vma == av
    vma, state = mm.merge_new_range(2 * P, 4 * P, 2, rw(kernel))
    assert (vma, state) == (left, "success")
    assert [(v.start, v.end) for v in mm.vmas()] == [(0, 6 * P)]
