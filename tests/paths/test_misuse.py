# SPDX-License-Identifier: GPL-2.0-or-later
"""The merge functions' contracts with their callers, checked by VM_WARN_ON:
each test breaks one (in a way that is otherwise harmless) and asserts that the
kernel code WARNs at that check and then does nothing it should not.
"""
import pytest

from .paths_helpers import P, place, row, rw, spans


def _warned(kernel, text: str) -> bool:
    return any(text in w.cond for w in kernel.warnings())


def _empty_request(kernel, mm, start=4 * P, end=6 * P):
    vmg = mm.vmg(mm.vmi(start))
    vmg.set_range(start, end, start // P, rw(kernel))
    return vmg


def test_new_range_with_a_middle(kernel, mm, expect_warn):
    """A new range has no existing VMA in it: vmg->middle must be unset.

    0123456789
    AA  **         (nothing merged)
    """
    a = place(mm, 0, 2 * P, 0, rw(kernel))
    vmg = _empty_request(kernel, mm)
    vmg.middle = a
    with expect_warn(count=1):
        assert vmg.merge_new_range() is None
    assert vmg.state == "nomerge"
    assert row(mm) == "AA"


@pytest.mark.requires("vmg_target")
def test_new_range_with_a_target(kernel, mm, expect_warn):
    """vmg->target is the merge's output, never an input.

    0123456789
    AA  **         (nothing merged)
    """
    a = place(mm, 0, 2 * P, 0, rw(kernel))
    vmg = _empty_request(kernel, mm)
    vmg.target = a
    with expect_warn(count=1):
        assert vmg.merge_new_range() is None
    assert _warned(kernel, "target")


def test_new_range_with_the_iterator_past_it(kernel, mm, expect_warn):
    """The iterator must stand at or before the gap.

    0123456789
        **  ^      (the iterator at page 8; nothing merged)
    """
    vmg = _empty_request(kernel, mm)
    vmg.vmi.set(8 * P)
    with expect_warn(count=1):
        assert vmg.merge_new_range() is None
    assert _warned(kernel, "vma_iter_addr")


def _existing(kernel, mm):
    """A alone, a request to change pages 1-3 of it."""
    a = place(mm, 0, 4 * P, 0, rw(kernel))
    vmg = mm.vmg(mm.vmi(P))
    vmg.set_range(P, 3 * P, 1, rw(kernel) | kernel.flag("VM_EXEC"))
    vmg.middle = a
    vmg.prev = a
    return a, vmg


def test_existing_range_with_next_set(kernel, mm, expect_warn):
    """vmg->next is found by the merge itself.

    0123            0123
    A**A     ->     AAAA   (no merge possible in the middle)
    """
    a, vmg = _existing(kernel, mm)
    vmg.next = a
    with expect_warn(count=1):
        assert vmg.merge_existing() is None
    assert row(mm) == "AAAA"


def test_existing_range_with_prev_not_before_it(kernel, mm, expect_warn):
    """prev must start below the range.

    0123            0123
    **AA     ->     AAAA   (prev = A itself, starting where the range does)
    """
    a, vmg = _existing(kernel, mm)
    vmg.set_range(0, 2 * P, 0, rw(kernel) | kernel.flag("VM_EXEC"))
    vmg.middle, vmg.prev = a, a
    vmg.vmi.set(0)
    with expect_warn(count=1):
        assert vmg.merge_existing() is None
    assert _warned(kernel, "prev->vm_start")
    assert spans(mm) == [(0, 4, 0)]


def test_existing_range_beyond_its_vma(kernel, mm, expect_warn):
    """The range must lie within vmg->middle.

    012345          012345
    AAAA     ->     AAAA    (the range runs two pages past A)
    ******
    """
    a, vmg = _existing(kernel, mm)
    vmg.set_range(0, 6 * P, 0, rw(kernel) | kernel.flag("VM_EXEC"))
    vmg.middle = a
    vmg.vmi.set(0)
    with expect_warn(count=1):
        assert vmg.merge_existing() is None
    assert spans(mm) == [(0, 4, 0)]


def test_existing_range_with_the_iterator_outside(kernel, mm, expect_warn):
    """The iterator must stand within vmg->middle.

    0123456789          0123456789
    AAAA    ^    ->     AAAA   (the iterator at page 8; no merge)
     **
    """
    a, vmg = _existing(kernel, mm)
    vmg.vmi.set(8 * P)
    with expect_warn(count=1):
        assert vmg.merge_existing() is None
    assert _warned(kernel, "vma_iter_addr")


def test_empty_existing_range(kernel, mm, expect_warn):
    """An empty range (start == end) WARNs.

    0123            0123
    A||A     ->     AAAA   (the range [2, 2))
    """
    a, vmg = _existing(kernel, mm)
    vmg.set_range(2 * P, 2 * P, 2, rw(kernel))
    vmg.middle, vmg.prev = a, a
    vmg.vmi.set(P)
    with expect_warn():
        assert vmg.merge_existing() is None
    assert _warned(kernel, "start >= end")
    assert spans(mm) == [(0, 4, 0)]


def test_expand_removing_a_vma_with_close(kernel, mm, expect_warn):
    """vma_expand() over all of next removes it; a next with ->close must not
    have been offered (its ->close would be skipped) - it WARNs, and next goes
    without being closed.

    0123            0123
    AABB     ->     AAAA   (B's ->close not called)
    """
    F = rw(kernel)
    a = place(mm, 0, 2 * P, 0, F)
    b = place(mm, 2 * P, 4 * P, 2, F)
    b.set_ops("close")
    with expect_warn(count=1):
        mm.expand(a, 0, 4 * P, next=b)
    assert spans(mm) == [(0, 4, 0)]
    assert kernel.ops_calls["close"] == 0


@pytest.mark.requires("mergeable_anon_vma_vmg")
def test_existing_merge_with_a_foreign_anon_vma(kernel, mm, expect_warn):
    """The request's anon_vma must be the modified VMA's own.  Here it names A's
    (av2) instead of B's (av1): the check WARNs, and the merge goes ahead on the
    request's word - A takes B over.

    0123            0123
    AA**     ->     AAAA
    """
    F = rw(kernel)
    a = place(mm, 0, 2 * P, 0, F)
    av1, av2 = kernel.anon_vma(), kernel.anon_vma()
    b = place(mm, 2 * P, 4 * P, 2, F | kernel.flag("VM_EXEC"), anon_vma=av1)
    a.set_anon_vma(av2)
    a.add_avc(av2)
    b.add_avc(av1)
    with expect_warn():
        vma, state = mm.merge_existing(b, 2 * P, 4 * P, F, prev=a, anon_vma=av2)
    assert _warned(kernel, "src_anon")
    assert (vma, state) == (a, "success")
    assert spans(mm) == [(0, 4, 0)]
