# SPDX-License-Identifier: GPL-2.0-or-later
"""Merge predicates the other suites leave on one side: anonymous page offsets
of private file mappings, a copy from a VMA that went through fork(), two
neighbours with different anon_vmas, and vma_shrink() running out of memory.
"""
import pytest

from .paths_helpers import ENOMEM, P, errno_of, place, row, rw, show, spans


@pytest.mark.requires("anon_pgoff")
@pytest.mark.parametrize("side", ["prev", "next"])
@pytest.mark.parametrize("adjacent", [True, False])
def test_private_file_merge_needs_adjacent_anon_pgoff(kernel, mm, side, adjacent):
    """A private (CoW) file mapping merges with a neighbour only if the anonymous
    page offsets are adjacent too, not just the file offsets.

    0123456         0123456
    FF**  -> FFFF   (prev side; the neighbour's anon_pgoff moved: FF**  stays)
      **FF -> FFFF  (next side)
    """
    f = kernel.file()
    F = rw(kernel)
    if side == "prev":
        n = place(mm, 0, 2 * P, 0x10, F, file=f)
        rng, pgoff = (2 * P, 4 * P), 0x12
    else:
        n = place(mm, 4 * P, 6 * P, 0x14, F, file=f)
        rng, pgoff = (2 * P, 4 * P), 0x12
    if not adjacent:
        n.set_anon_pgoff(0x50)
    vma, state = mm.merge_new_range(*rng, pgoff, F, file=f)
    if adjacent:
        assert state == "success" and vma == n
        assert len(mm.vmas()) == 1
    else:
        assert (vma, state) == (None, "nomerge")
        assert len(mm.vmas()) == 1 and mm.vmas()[0] == n


def test_shared_file_merge_ignores_anon_pgoff(kernel, mm):
    """A shared mapping never has anonymous pages: file offsets are enough.

    0123            0123
    FF**     ->     FFFF
    """
    if not kernel.has("anon_pgoff"):
        pytest.skip(f"kernel {kernel.version} keeps no separate anonymous page offset")
    f = kernel.file()
    S = rw(kernel) | kernel.flag("VM_SHARED", "VM_MAYSHARE")
    n = place(mm, 0, 2 * P, 0x10, S, file=f)
    n.set_anon_pgoff(0x50)
    vma, state = mm.merge_new_range(2 * P, 4 * P, 0x12, S, file=f)
    assert state == "success" and vma == n


@pytest.mark.parametrize("forked", [False, True])
def test_copy_from_a_forked_vma(kernel, mm, forked):
    """mremap() of a faulted VMA next to an unfaulted neighbour: the neighbour
    would take the copied VMA's anon_vma - not if that VMA went through fork()
    (its anon_vma_chain has more than one entry).

    0123456789          0123456789
    AA    BB**   ->     AA    BBBB   (merged)
                        AA    BBCC   (forked: a new VMA)

    Trees whose is_mergeable_anon_vma() compares two anon_vmas check the
    target's chain instead: B's, empty (never faulted), is not singular, so B
    refuses A's anon_vma either way.
    """
    F = rw(kernel)
    av = kernel.anon_vma()
    a = place(mm, 0, 2 * P, 0, F)
    a.set_vm_ops(None)
    a.set_anon_vma(av)
    a.add_avc(av)
    if forked:
        a.add_avc(kernel.anon_vma())
    b = place(mm, 6 * P, 8 * P, 0, F)
    b.set_vm_ops(None)
    new, _, _ = mm.copy_vma(a, 8 * P, 2 * P, 2, anon_pgoff=8)
    if forked or kernel.has("mergeable_anon_vma_pair"):
        assert spans(mm) == [(0, 2, 0), (6, 8, 0), (8, 10, 2)], show(mm)
        assert b.anon_vma is None
    else:
        assert new == b
        assert spans(mm) == [(0, 2, 0), (6, 10, 0)], show(mm)
        assert b.anon_vma == av


@pytest.mark.parametrize("same", [False, True])
def test_new_range_between_faulted_neighbours(kernel, mm, same):
    """Each neighbour could take the new range; whether both can depends on their
    anon_vmas: different ones, it merges with the previous VMA only; the same
    one, all three become one.

    012345          012345
    PP**NN   ->     PPPPNN   (different anon_vmas)
                    PPPPPP   (the same)
    """
    F = rw(kernel)
    p = place(mm, 0, 2 * P, 0, F)
    n = place(mm, 4 * P, 6 * P, 4, F)
    shared_av = kernel.anon_vma()
    for v in (p, n):
        av = shared_av if same else kernel.anon_vma()
        v.set_anon_vma(av)
        v.add_avc(av)
    vma, state = mm.merge_new_range(2 * P, 4 * P, 2, F)
    assert state == "success" and vma == p
    assert spans(mm) == ([(0, 6, 0)] if same else [(0, 4, 0), (4, 6, 4)])


def test_shrink_out_of_memory(kernel, mm):
    """vma_shrink() cannot preallocate: -ENOMEM, the VMA unchanged.

    0123            0123
    AA**     ->     AAAA   (-ENOMEM)
    """
    a = place(mm, 0, 4 * P, 0, rw(kernel))
    kernel.fail("prealloc")
    assert errno_of(mm.shrink, a, 0, 2 * P) == ENOMEM
    kernel.fail("prealloc", False)
    assert row(mm) == "AAAA"
    mm.shrink(a, 0, 2 * P)
    assert row(mm) == "AA"
