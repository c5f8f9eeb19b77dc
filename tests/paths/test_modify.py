# SPDX-License-Identifier: GPL-2.0-or-later
"""vma_modify() through each of its front ends: vma_modify_flags(),
vma_modify_name() (vma_modify_flags_name() on trees that name and flag
together), vma_modify_policy(), vma_modify_flags_uffd(); its failures (the
merge running out of memory, either split failing) and give_up_on_oom.

The default harness config has no CONFIG_ANON_VMA_NAME, CONFIG_NUMA or
CONFIG_USERFAULTFD: names, policies and userfaultfd contexts compare equal, as
they do in such a kernel (policies and userfaultfd contexts stay equal with
those on: the harness has none), so a modify of a whole VMA next to an identical one
merges and one of part of a VMA splits it.
"""
import pytest

from pyvma.errors import KernelError

from .paths_helpers import ENOMEM, P, row, rw, show, spans

X = "VM_EXEC"


def _identical_pair(kernel, mm):
    F = rw(kernel)
    a = mm.map(0, 2 * P, 0, F)
    b = mm.map(2 * P, 4 * P, 2, F)
    return F, a, b


def test_modify_name_of_part_of_a_vma_splits_it(kernel, mm):
    """
    012345          012345
    A****A    ->    ABBBBC   (B is the VMA returned)
    """
    a = mm.map(0, 6 * P, 0, rw(kernel))
    vma = mm.modify_name(mm.vmi(P), a, a, P, 5 * P, "heap")
    assert (vma.start, vma.end) == (P, 5 * P)
    assert spans(mm) == [(0, 1, 0), (1, 5, 1), (5, 6, 5)]


def test_modify_name_of_a_whole_vma_merges_with_prev(kernel, mm):
    """Names compiled out compare equal: B merges into A.  With
    CONFIG_ANON_VMA_NAME=y B's new name differs from A's none: B is renamed alone.

    0123            0123
    AA**     ->     AAAA     (CONFIG_ANON_VMA_NAME=n)
                    AABB     (CONFIG_ANON_VMA_NAME=y)
    """
    F, a, b = _identical_pair(kernel, mm)
    vma = mm.modify_name(mm.vmi(2 * P), a, b, 2 * P, 4 * P, "heap")
    if kernel.config.enabled("CONFIG_ANON_VMA_NAME"):
        assert vma == b
        assert spans(mm) == [(0, 2, 0), (2, 4, 2)]
    else:
        assert vma == a
        assert spans(mm) == [(0, 4, 0)]


def test_modify_policy_of_a_whole_vma_merges_with_prev(kernel, mm):
    """
    0123            0123
    AA**     ->     AAAA
    """
    F, a, b = _identical_pair(kernel, mm)
    vma = mm.modify_policy(mm.vmi(2 * P), a, b, 2 * P, 4 * P)
    assert vma == a
    assert spans(mm) == [(0, 4, 0)]


def test_modify_policy_of_part_of_a_vma(kernel, mm):
    """
    0123            0123
    **AA     ->     AABB
    """
    a = mm.map(0, 4 * P, 0, rw(kernel))
    vma = mm.modify_policy(mm.vmi(0), None, a, 0, 2 * P)
    assert (vma.start, vma.end) == (0, 2 * P)
    assert spans(mm) == [(0, 2, 0), (2, 4, 2)]


def test_modify_flags_uffd_merges(kernel, mm):
    """B takes A's flags (the uffd context is the same): B merges into A.

    0123            0123
    AA**     ->     AAAA
    """
    F = rw(kernel)
    a = mm.map(0, 2 * P, 0, F)
    b = mm.map(2 * P, 4 * P, 2, F | kernel.flag(X))
    vma = mm.modify_flags_uffd(mm.vmi(2 * P), a, b, 2 * P, 4 * P, F)
    assert vma == a
    assert spans(mm) == [(0, 4, 0)]
    assert a.flags == F


def test_modify_flags_uffd_give_up_on_oom(kernel, mm):
    """With give_up_on_oom an out-of-memory merge is not reported: the VMA comes
    back unmerged and with its old flags, the caller carries on.

    0123            0123
    AA**     ->     AABB     (B still VM_EXEC)
    """
    F = rw(kernel)
    a = mm.map(0, 2 * P, 0, F)
    b = mm.map(2 * P, 4 * P, 2, F | kernel.flag(X))
    kernel.fail("prealloc")
    vma = mm.modify_flags_uffd(mm.vmi(2 * P), a, b, 2 * P, 4 * P, F, give_up_on_oom=True)
    kernel.fail("prealloc", False)
    assert vma == b
    assert spans(mm) == [(0, 2, 0), (2, 4, 2)]
    assert b.flags == F | kernel.flag(X)


def test_modify_flags_uffd_give_up_on_oom_with_a_split_warns(kernel, mm, expect_warn):
    """give_up_on_oom promises no split (a split may fail for other reasons than
    memory): asking it for part of a VMA WARNs, then splits anyway.

    0123            0123
    A**A     ->     ABBC
    """
    a = mm.map(0, 4 * P, 0, rw(kernel))
    with expect_warn(count=1):
        vma = mm.modify_flags_uffd(mm.vmi(P), a, a, P, 3 * P, rw(kernel),
                                   give_up_on_oom=True)
    assert (vma.start, vma.end) == (P, 3 * P)
    assert spans(mm) == [(0, 1, 0), (1, 3, 1), (3, 4, 3)]


def test_modify_flags_merge_out_of_memory(kernel, mm):
    """Without give_up_on_oom the failed merge is -ENOMEM.

    0123            0123
    AA**     ->     AABB   (-ENOMEM)
    """
    F = rw(kernel)
    a = mm.map(0, 2 * P, 0, F)
    b = mm.map(2 * P, 4 * P, 2, F | kernel.flag(X))
    kernel.fail("prealloc")
    with pytest.raises(KernelError) as failed:
        mm.modify_flags(mm.vmi(2 * P), a, b, 2 * P, 4 * P, F)
    assert failed.value.ret == ENOMEM
    kernel.fail("prealloc", False)
    assert spans(mm) == [(0, 2, 0), (2, 4, 2)]
    assert b.flags == F | kernel.flag(X)


@pytest.mark.parametrize("which, after", [("start", 0), ("end", 1)])
def test_modify_flags_split_failure(kernel, mm, which, after):
    """The first or the second split of a modify in the middle of A fails: the
    error comes back; a first split that worked stays.

    012345          012345
    A****A    ->    AAAAAA  (start split failed)
                    ABBBBB  (end split failed)
    """
    F = rw(kernel)
    a = mm.map(0, 6 * P, 0, F)
    kernel.fail("vma_alloc", after=after)
    with pytest.raises(KernelError) as failed:
        mm.modify_flags(mm.vmi(P), a, a, P, 5 * P, F | kernel.flag(X))
    assert failed.value.ret == ENOMEM
    kernel.fail("vma_alloc", False)
    if which == "start":
        assert spans(mm) == [(0, 6, 0)]
    else:
        assert spans(mm) == [(0, 1, 0), (1, 6, 1)], show(mm)
    assert all(v.flags == F for v in mm.vmas())


def test_modify_flags_at_the_map_count_limit(kernel, mm):
    """
    012345          012345
    AAA**A    ->    AAAAAA  (-ENOMEM)
    """
    F = rw(kernel)
    a = mm.map(0, 6 * P, 0, F)
    kernel.set_max_map_count(1)
    with pytest.raises(KernelError) as failed:
        mm.modify_flags(mm.vmi(3 * P), a, a, 3 * P, 5 * P, F | kernel.flag(X))
    assert failed.value.ret == ENOMEM
    assert row(mm) == "AAAAAA"
