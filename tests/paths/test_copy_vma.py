# SPDX-License-Identifier: GPL-2.0-or-later
"""copy_vma() (mremap()'s move): page offsets of faulted and unfaulted VMAs, the
new VMA's file reference and ->open, self-merges of an unfaulted anonymous VMA
moved next to itself (refused when the source is kept: MREMAP_DONTUNMAP), and
each failure of the copy (allocation, mempolicy, anon_vma clone, linking) -
after which nothing is left of it: no file reference, ->close run, anon_vma
unlinked.
"""
import pytest

from pyvma.errors import KernelBug

from .paths_helpers import P, place, row, rw, show, spans


def _anon(kernel, mm, start, end):
    """An unfaulted anonymous VMA (no vm_ops, no anon_vma)."""
    v = place(mm, start * P, end * P, start, rw(kernel))
    v.set_vm_ops(None)
    return v


def test_copy_of_a_faulted_vma_keeps_its_offsets(kernel, mm):
    """
    0123456789          0123456789
    AA      **   ->     AA      BB   (B: pgoff 0, A's anon_vma)
    """
    av = kernel.anon_vma()
    a = _anon(kernel, mm, 0, 2)
    a.set_anon_vma(av)
    new, src, need = mm.copy_vma(a, 8 * P, 2 * P, 0)
    assert src == a and not need
    assert spans(mm) == [(0, 2, 0), (8, 10, 0)]
    assert new.anon_vma == av and av.was_cloned


def test_copy_of_an_unfaulted_vma_takes_the_new_address_as_offset(kernel, mm):
    """
    0123456789          0123456789
    AA      **   ->     AA      BB   (B: pgoff 8)
    """
    a = _anon(kernel, mm, 0, 2)
    new, src, need = mm.copy_vma(a, 8 * P, 2 * P, 0)
    assert spans(mm) == [(0, 2, 0), (8, 10, 8)]
    assert new.pgoff == 8


def test_copy_of_a_file_vma(kernel, mm):
    """The copy takes its own file reference, enters the file's rmap tree, and is
    ->open()ed.

    0123456789          0123456789
    ff      **   ->     ff      gg   (both map the file)
    """
    f = kernel.file()
    a = place(mm, 0, 2 * P, 0x30, rw(kernel), file=f)
    a.set_ops("open", "close")
    new, _, _ = mm.copy_vma(a, 8 * P, 2 * P, 0x30)
    assert spans(mm) == [(0, 2, 0x30), (8, 10, 0x30)]
    assert (f.refs, f.i_mmap_vmas) == (1, 2)
    assert kernel.ops_calls["open"] == 1
    assert new.ops == {"open", "close"}


KEEP_SOURCE = [False, pytest.param(True, marks=pytest.mark.requires("copy_vma_keep_source"))]


@pytest.mark.parametrize("keep_source", KEEP_SOURCE)
def test_unfaulted_vma_copied_next_to_itself(kernel, mm, keep_source):
    """Moved to just after itself, an unfaulted anonymous VMA merges with itself
    (the caller must take the rmap locks) - unless the source is kept, which
    makes the copy a VMA of its own.

    0123            0123
    AA**     ->     AAAA   (merged)
                    AABB   (keep_source)
    """
    a = _anon(kernel, mm, 0, 2)
    new, src, need = mm.copy_vma(a, 2 * P, 2 * P, 0, keep_source=keep_source)
    if keep_source:
        assert spans(mm) == [(0, 2, 0), (2, 4, 2)]
        assert new != a and not need
    else:
        assert spans(mm) == [(0, 4, 0)]
        assert new == a and need


@pytest.mark.parametrize("keep_source", KEEP_SOURCE)
def test_unfaulted_vma_copied_just_below_itself(kernel, mm, keep_source):
    """Moved to just before itself: merged into a VMA that now starts lower - the
    source VMA is that one (copy_vma() hands it back) - or, keeping the
    source, a VMA of its own.

    0123456         0123456
      **AA   ->       AAAA   (merged)
                      BBAA   (keep_source)
    """
    a = _anon(kernel, mm, 4, 6)
    new, src, need = mm.copy_vma(a, 2 * P, 2 * P, 4, keep_source=keep_source)
    if keep_source:
        assert spans(mm) == [(2, 4, 2), (4, 6, 4)]
        assert src == a and not need
    else:
        assert spans(mm) == [(2, 6, 2)], show(mm)
        assert new == a and src == a and need


def test_copy_onto_a_mapped_range_is_refused(kernel, mm):
    """
    0123456         0123456
    AA  B*B  ->     AA  BBB    (NULL: the destination is not free)
    """
    a = _anon(kernel, mm, 0, 2)
    place(mm, 4 * P, 7 * P, 4, rw(kernel) | kernel.flag("VM_EXEC"))
    new, src, _ = mm.copy_vma(a, 5 * P, P, 0)
    assert new is None and src == a
    assert row(mm) == "AA  BBB"


@pytest.mark.parametrize("fault", ["vma_alloc", "dup_policy", "anon_vma_clone", "prealloc"])
def test_copy_failure_leaves_nothing(kernel, mm, fault):
    """
    0123456789          0123456789
    ff      **   ->     ff           (NULL)

    When linking the copy fails, what it was given is undone: ->close() runs,
    the file reference is dropped, the anon_vma unlinked.
    """
    f = kernel.file()
    av = kernel.anon_vma()
    a = place(mm, 0, 2 * P, 0x30, rw(kernel), file=f)
    a.set_anon_vma(av)
    a.set_ops("open", "close")
    kernel.fail(fault)
    new, src, _ = mm.copy_vma(a, 8 * P, 2 * P, 0x30)
    kernel.fail(fault, False)
    assert new is None and src == a
    assert spans(mm) == [(0, 2, 0x30)]
    assert (f.refs, f.i_mmap_vmas) == (0, 1)
    calls = kernel.ops_calls
    assert calls["open"] == calls["close"]
    if fault == "prealloc":
        assert calls["close"] == 1 and av.was_unlinked


def test_copy_of_an_anonymous_vma_fails_to_link(kernel, mm):
    """Linking the copy of a faulted anonymous VMA fails: no file to put back,
    the anon_vma unlinked.

    0123456789          0123456789
    AA      **   ->     AA           (NULL)
    """
    av = kernel.anon_vma()
    a = _anon(kernel, mm, 0, 2)
    a.set_anon_vma(av)
    kernel.fail("prealloc")
    new, src, _ = mm.copy_vma(a, 8 * P, 2 * P, 0)
    kernel.fail("prealloc", False)
    assert new is None
    assert spans(mm) == [(0, 2, 0)]
    assert av.was_unlinked


def test_copy_of_a_file_vma_merging_at_its_destination(kernel, mm):
    """The copy lands right before another mapping of the file, at the matching
    file offset: that VMA is expanded (no new VMA, no new file reference).

    0123456789          0123456789
    AA    **BB   ->     AA    BBBB   (B now from page offset 0x36)
    """
    f = kernel.file()
    a = place(mm, 0, 2 * P, 0x30, rw(kernel), file=f)
    b = place(mm, 8 * P, 10 * P, 0x38, rw(kernel), file=f)
    new, src, need = mm.copy_vma(a, 6 * P, 2 * P, 0x36)
    assert new == b and src == a and not need
    assert spans(mm) == [(0, 2, 0x30), (6, 10, 0x36)]
    assert (f.refs, f.i_mmap_vmas) == (0, 2)


@pytest.mark.allow_warn
def test_file_vma_copied_to_merge_with_itself(kernel, mm):
    """Only an unfaulted anonymous VMA may merge with itself in a copy (its page
    offset follows the address).  Asked for a file offset that makes a file VMA
    merge with itself from below (mremap() never asks this), the kernel code
    catches it after the merge is done: a WARN (VM_WARN_ON_ONCE_VMA) on trees with
    copy_vma_self_merge_warns, a BUG (VM_BUG_ON_VMA) on the others.

    0123456         0123456
      **AA   ->       AAAA   (A from page offset 0x0e)
    """
    f = kernel.file()
    a = place(mm, 4 * P, 6 * P, 0x10, rw(kernel), file=f)
    if kernel.has("copy_vma_self_merge_warns"):
        new, src, _ = mm.copy_vma(a, 2 * P, 2 * P, 0x0e)
        assert new == a and src == a
        warns = kernel.warnings()
        assert len(warns) == 1 and "can_self_merge" in warns[0].cond
    else:
        with pytest.raises(KernelBug) as bug:
            mm.copy_vma(a, 2 * P, 2 * P, 0x0e)
        assert "faulted_in_anon_vma" in bug.value.site.cond
        assert kernel.warnings() == []
    assert spans(mm) == [(2, 6, 0x0e)]
    kernel.clear_warnings()
