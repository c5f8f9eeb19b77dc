# SPDX-License-Identifier: GPL-2.0-or-later
"""do_brk_flags(): growing the brk VMA in place, a new brk VMA when it cannot
be grown, the limits it checks first, and its failures (each one gives the
overcommit charge back).
"""
import pytest

from .paths_helpers import ENOMEM, P, errno_of, place, row, rw, show, soft_dirty, spans

pytestmark = pytest.mark.requires("do_brk_flags")

BRK = 0x40


def test_brk_creates_then_grows_the_brk_vma(kernel, mm):
    """The first brk makes an anonymous VMA (VM_ACCOUNT, soft-dirty); the next one
    grows it in place.

    0123456789          0123456789
    ****         ->     AAAA         (first call)
        ***      ->     AAAAAAA      (second call: the same VMA, longer)
    """
    start = BRK * P
    mm.brk(None, start, 4 * P)
    (a,) = mm.vmas()
    assert a.has_flags("VM_ACCOUNT", "VM_READ", "VM_WRITE")
    assert a.flags & soft_dirty(kernel) == soft_dirty(kernel)     # where the build has it
    assert a.is_anonymous and a.pgoff == BRK
    mm.brk(a, start + 4 * P, 3 * P)
    assert spans(mm) == [(BRK, BRK + 7, BRK)]
    assert mm.vmas()[0] == a
    assert (mm.counters["total_vm"], mm.counters["data_vm"], kernel.committed) == (7, 7, 7)


def test_brk_next_to_an_incompatible_vma(kernel, mm):
    """The VMA below the break differs (VM_SHARED): a new VMA follows it.

    0123456             0123456
    AAA****      ->     AAABBBB
    """
    a = place(mm, 0, 3 * P, 0, rw(kernel) | kernel.flag("VM_SHARED", "VM_MAYSHARE"))
    mm.brk(a, 3 * P, 4 * P)
    assert spans(mm) == [(0, 3, 0), (3, 7, 3)], show(mm)


def test_brk_above_a_gap(kernel, mm):
    """The previous VMA ends below the break: nothing to grow.

    0123456             0123456
    AA  ***      ->     AA  BBB
    """
    a = place(mm, 0, 2 * P, 0, rw(kernel))
    mm.brk(a, 4 * P, 3 * P)
    assert row(mm) == "AA  BBB"


def test_brk_locked_by_default(kernel, mm):
    """mm->def_flags with VM_LOCKED (mlockall(MCL_FUTURE)): the brk VMA is
    locked and counted in locked_vm.

    0123                0123
    ****         ->     AAAA   (VM_LOCKED)
    """
    mm.set_def_flags(kernel.flag("VM_LOCKED"))
    mm.brk(None, 0, 4 * P)
    (a,) = mm.vmas()
    assert a.has_flags("VM_LOCKED")
    assert mm.counters["locked_vm"] == 4


@pytest.mark.parametrize("limit", ["as", "commit", "map_count"])
def test_brk_over_a_limit(kernel, mm, limit):
    """RLIMIT_AS, the overcommit limit, or more VMAs than sysctl_max_map_count
    allows: -ENOMEM, nothing charged.

    0123456             0123456
    AA ****      ->     AA        (-ENOMEM)
    """
    a = place(mm, 0, 2 * P, 0, rw(kernel))
    if limit == "as":
        kernel.set_limit("as", 4 * P)
    elif limit == "commit":
        kernel.set_limit("commit", 3)
    else:
        kernel.set_max_map_count(0)
    assert errno_of(mm.brk, a, 3 * P, 4 * P) == ENOMEM
    assert row(mm) == "AA"
    assert kernel.committed == 0


def test_brk_at_the_map_count_limit_still_maps(kernel, mm):
    """do_brk_flags() refuses only once map_count is above the limit: at the limit
    it maps one more VMA.

    0123456             0123456
    AA ****      ->     AA BBBB   (map_count 2, limit 1)
    """
    a = place(mm, 0, 2 * P, 0, rw(kernel))
    kernel.set_max_map_count(1)
    mm.brk(a, 3 * P, 4 * P)
    assert mm.map_count == 2


@pytest.mark.parametrize("fault", ["vma_alloc", "mas_store"])
def test_brk_new_vma_failure(kernel, mm, fault):
    """The new VMA or its store in the tree fails: -ENOMEM, the charge given back.

    0123                0123
    ****         ->              (-ENOMEM)
    """
    kernel.fail(fault)
    assert errno_of(mm.brk, None, 0, 4 * P) == ENOMEM
    kernel.fail(fault, False)
    assert mm.map_count == 0
    assert kernel.committed == 0
    assert mm.counters["total_vm"] == 0


def test_brk_grow_out_of_memory(kernel, mm):
    """Growing the brk VMA in place runs out of memory: -ENOMEM, no new VMA either.

    0123456             0123456
    AAA****      ->     AAA       (-ENOMEM)
    """
    mm.brk(None, 0, 3 * P)
    (a,) = mm.vmas()
    kernel.fail("prealloc")
    assert errno_of(mm.brk, a, 3 * P, 4 * P) == ENOMEM
    kernel.fail("prealloc", False)
    assert spans(mm) == [(0, 3, 0)]
    assert kernel.committed == 3
