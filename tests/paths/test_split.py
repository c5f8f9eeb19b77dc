# SPDX-License-Identifier: GPL-2.0-or-later
"""split_vma() / __split_vma(): the VMA's ->may_split and ->open, the file
reference the new VMA takes, the map-count limit, and each allocation the
split makes failing (the new VMA, the tree preallocation, the mempolicy copy,
the anon_vma clone) - after which the VMA must be as it was.
"""
import pytest

from .paths_helpers import EINVAL, ENOMEM, P, errno_of, row, rw, show, spans


@pytest.mark.parametrize("new_below", [False, True])
def test_split_asks_may_split_and_opens_the_new_vma(kernel, mm, new_below):
    """->may_split() is asked with the address; ->open() runs on the new VMA.

    0123            0123
    AA|AA    ->     AABB
    """
    a = mm.map(0, 4 * P, 0, rw(kernel))
    a.set_ops("open", "may_split", "close")
    mm.split(a, 2 * P, new_below)
    assert spans(mm) == [(0, 2, 0), (2, 4, 2)]
    assert kernel.ops_calls == {"open": 1, "close": 0, "may_split": 1}
    assert all(v.ops == {"open", "may_split", "close"} for v in mm.vmas())


def test_split_refused_by_may_split(kernel, mm):
    """A driver refusing the split (hugetlb's alignment check, say): its error,
    nothing changed, ->open not called.

    0123            0123
    AA|AA    ->     AAAA   (-EINVAL)
    """
    a = mm.map(0, 4 * P, 0, rw(kernel))
    a.set_ops("open", "may_split")
    kernel.set_may_split_error(EINVAL)
    assert errno_of(mm.split, a, 2 * P) == EINVAL
    assert spans(mm) == [(0, 4, 0)]
    assert kernel.ops_calls["open"] == 0


def test_split_of_a_file_vma_takes_a_file_reference(kernel, mm):
    """The new VMA holds its own reference to the file and is in the file's
    rmap tree.

    0123            0123
    ff|ff    ->     ffgg   (both map the file)
    """
    f = kernel.file()
    a = mm.map(0, 4 * P, 0x10, rw(kernel), file=f)
    assert (f.refs, f.i_mmap_vmas) == (0, 1)
    mm.split(a, 2 * P)
    assert spans(mm) == [(0, 2, 0x10), (2, 4, 0x12)]
    assert (f.refs, f.i_mmap_vmas) == (1, 2)
    assert kernel.locks_held == 0


def test_split_at_the_map_count_limit(kernel, mm):
    """
    0123            0123
    AA|AA    ->     AAAA   (-ENOMEM: one more VMA than sysctl_max_map_count)
    """
    a = mm.map(0, 4 * P, 0, rw(kernel))
    kernel.set_max_map_count(1)
    assert errno_of(mm.split, a, 2 * P) == ENOMEM
    assert spans(mm) == [(0, 4, 0)]
    kernel.set_max_map_count(None)
    mm.split(a, 2 * P)
    assert mm.map_count == 2


@pytest.mark.parametrize("fault", ["vma_alloc", "prealloc", "dup_policy", "anon_vma_clone"])
def test_split_failure_leaves_the_vma(kernel, mm, fault):
    """Each allocation of the split failing: -ENOMEM, no new VMA, no file
    reference taken, no ->open.

    0123            0123
    ff|ff    ->     ffff   (-ENOMEM)
    """
    f = kernel.file()
    a = mm.map(0, 4 * P, 0, rw(kernel), file=f)
    a.set_ops("open")
    kernel.fail(fault)
    assert errno_of(mm.split, a, 2 * P) == ENOMEM
    kernel.fail(fault, False)
    assert kernel.fault_hits(fault) == 1
    assert spans(mm) == [(0, 4, 0)], show(mm)
    assert (f.refs, f.i_mmap_vmas, kernel.ops_calls["open"]) == (0, 1, 0)
    assert row(mm) == "AAAA"
