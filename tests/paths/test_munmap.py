# SPDX-License-Identifier: GPL-2.0-or-later
"""munmap: do_vmi_munmap(), vms_gather_munmap_vmas(), vms_complete_munmap_vmas(),
reattach_vmas(), do_vmi_align_munmap(), __vm_munmap(), and the rmap unlinking
free_pgtables() does with unlink_file_vma_batch_*().

Failures are forced where the kernel code can fail: a split (preallocation,
VMA allocation), the detached tree's store, the tree clearing, the userfaultfd
unmap preparation; sealed VMAs and the map-count limit refuse by themselves.
"""
import pytest

from .paths_helpers import (EINTR, EINVAL, ENOMEM, EPERM, P, TASK_SIZE, errno_of, place, row, rw,
                            shared, show, spans, wrap)


@pytest.mark.parametrize("start, length", [
    (P + 1, P),                 # start not page aligned
    (TASK_SIZE + P, P),         # start beyond the user address space
    (P, TASK_SIZE),             # length reaching beyond it
    (P, 0),                     # nothing to unmap
])
def test_munmap_rejects_bad_range(kernel, mm, start, length):
    """
    0123            0123
    AAAA     ->     AAAA    (-EINVAL, nothing touched)
    """
    place(mm, 0, 4 * P, 0, rw(kernel))
    assert errno_of(mm.munmap, start, start + length) == EINVAL
    assert row(mm) == "AAAA"


def test_munmap_of_a_gap_with_unlock(kernel, mm):
    """Nothing in the range: 0, and the lock is dropped as asked.

    01234567        01234567
    AA    **  ->    AA
    """
    place(mm, 0, 2 * P, 0, rw(kernel))
    mm.munmap(6 * P, 8 * P, unlock=True)
    assert row(mm) == "AA"


def test_munmap_with_unlock_and_uf(kernel, mm):
    """The lock-dropping and userfaultfd-list variant removes the same; the
    userfaultfd unmap preparation runs once per VMA removed.

    0123456789      0123456789
    AABB CCCCC  ->  AA     BBB     (B gone, C's head unmapped)
      *****
    """
    F = rw(kernel)
    place(mm, 0, 2 * P, 0, F)
    place(mm, 2 * P, 4 * P, 2, F | kernel.flag("VM_EXEC"))
    place(mm, 5 * P, 10 * P, 5, F | kernel.flag("VM_SEQ_READ"))
    assert row(mm) == "AABB CCCCC"
    mm.munmap(2 * P, 7 * P, uf=True, unlock=True)
    assert row(mm) == "AA     BBB", show(mm)
    assert spans(mm) == [(0, 2, 0), (7, 10, 7)]
    assert kernel.fault_calls("uffd_unmap_prep") == 2


def test_munmap_punching_a_hole_at_the_map_count_limit(kernel, mm):
    """A hole in the middle of a VMA needs one more VMA: at sysctl_max_map_count
    the munmap refuses with -ENOMEM before splitting anything.

    012345          012345
    AA**AA    ->    AAAAAA   (-ENOMEM)
    """
    place(mm, 0, 6 * P, 0, rw(kernel))
    kernel.set_max_map_count(mm.map_count)
    assert errno_of(mm.munmap, 2 * P, 4 * P) == ENOMEM
    assert spans(mm) == [(0, 6, 0)]
    # trimming the tail needs no new VMA: the limit does not apply
    mm.munmap(4 * P, 6 * P)
    assert spans(mm) == [(0, 4, 0)]


def test_munmap_into_a_sealed_vma(kernel, mm):
    """A sealed VMA is neither split nor removed: -EPERM before anything
    changes when the range starts inside it.

    0123            0123
    A**A     ->     AAAA     (A sealed; -EPERM)
    """
    place(mm, 0, 4 * P, 0, rw(kernel) | kernel.flag("VM_SEALED"))
    assert errno_of(mm.munmap, P, 3 * P) == EPERM
    assert spans(mm) == [(0, 4, 0)]


def test_munmap_across_a_sealed_vma_keeps_the_split(kernel, mm):
    """The range starts in A (split off at page 1) and runs into the sealed B:
    the detached piece of A is put back, but the split of A stays.

    012345          012345
    AABBCC    ->    ABCCDD    (A split at 1; B sealed; -EPERM)
     ****
    """
    F = rw(kernel)
    place(mm, 0, 2 * P, 0, F)
    place(mm, 2 * P, 4 * P, 2, F | kernel.flag("VM_SEALED"))
    place(mm, 4 * P, 6 * P, 4, F | kernel.flag("VM_EXEC"))
    assert errno_of(mm.munmap, P, 5 * P) == EPERM
    assert spans(mm) == [(0, 1, 0), (1, 2, 1), (2, 4, 2), (4, 6, 4)], show(mm)
    assert mm.map_count == 4


@pytest.mark.parametrize("fault", ["prealloc", "vma_alloc"])
def test_munmap_end_split_failure(kernel, mm, fault):
    """The second split (B at page 4) fails: what was detached is put back, the
    first split (A at page 1) stays, and the error is returned.

    012345          012345
    AAABBB    ->    ABBCCC   (-ENOMEM)
     ***
    """
    F = rw(kernel)
    place(mm, 0, 3 * P, 0, F)
    place(mm, 3 * P, 6 * P, 3, F | kernel.flag("VM_EXEC"))
    kernel.fail(fault, after=1)
    assert errno_of(mm.munmap, P, 4 * P) == ENOMEM
    kernel.fail(fault, False)
    assert spans(mm) == [(0, 1, 0), (1, 3, 1), (3, 6, 3)], show(mm)


def test_munmap_start_split_failure(kernel, mm):
    """
    0123            0123
    AAAA     ->     AAAA     (-ENOMEM: nothing split, nothing removed)
     **
    """
    place(mm, 0, 4 * P, 0, rw(kernel))
    kernel.fail("vma_alloc")
    assert errno_of(mm.munmap, P, 3 * P) == ENOMEM
    kernel.fail("vma_alloc", False)
    assert spans(mm) == [(0, 4, 0)]


def test_munmap_detach_store_failure(kernel, mm):
    """Storing the VMA in the side tree of detached VMAs fails: -ENOMEM, A stays.

    0123            0123
    AAAA     ->     AAAA     (-ENOMEM)
    ****
    """
    place(mm, 0, 4 * P, 0, rw(kernel))
    kernel.fail("mas_store", times=1)
    assert errno_of(mm.munmap, 0, 4 * P) == ENOMEM
    assert spans(mm) == [(0, 4, 0)]
    mm.munmap(0, 4 * P)
    assert mm.map_count == 0


def test_munmap_tree_clear_failure(kernel, mm):
    """Gathering works (one store in the side tree), clearing the range in the mm's
    tree fails: the VMAs are reattached and -ENOMEM returned.

    012345          012345
    AA  BB    ->    AA  BB   (-ENOMEM)
    **  **
    """
    F = rw(kernel)
    a = place(mm, 0, 2 * P, 0, F)
    b = place(mm, 4 * P, 6 * P, 4, F)
    kernel.fail("mas_store", after=2, times=1)
    assert errno_of(mm.munmap, 0, 6 * P) == ENOMEM
    assert kernel.fault_hits("mas_store") == 1
    assert spans(mm) == [(0, 2, 0), (4, 6, 4)]
    assert a.attached and b.attached
    assert mm.counters["total_vm"] == 4     # nothing was taken off


def test_munmap_uffd_prep_failure(kernel, mm):
    """userfaultfd_unmap_prep() fails for the second VMA: everything detached is
    reattached, the start split stays.

    0123456         0123456
    AAABBCC   ->    ABBCCDD   (-ENOMEM)
     *****
    """
    F = rw(kernel)
    place(mm, 0, 3 * P, 0, F)
    place(mm, 3 * P, 5 * P, 3, F | kernel.flag("VM_EXEC"))
    place(mm, 5 * P, 7 * P, 5, F)
    kernel.fail("uffd_unmap_prep", after=1)
    assert errno_of(mm.munmap, P, 6 * P, uf=True) == ENOMEM
    kernel.fail("uffd_unmap_prep", False)
    assert spans(mm) == [(0, 1, 0), (1, 3, 1), (3, 5, 3), (5, 7, 5)], show(mm)


@pytest.mark.parametrize("kind", ["locked", "exec", "stack", "data", "shared"])
def test_munmap_counters(kernel, mm, kind):
    """What munmap takes off the mm's counters, by the kind of mapping removed
    (the counters were set by vm_stat_account() as mmap would have).

    01234567        01234567
    AAAAAAAA  ->              (8 pages gone from total_vm and the kind's counter)
    """
    F = rw(kernel)
    flags = {
        "locked": F | kernel.flag("VM_LOCKED"),
        "exec": kernel.flag("VM_READ", "VM_EXEC", "VM_MAYREAD", "VM_MAYEXEC"),
        "stack": F | kernel.flag("VM_GROWSDOWN"),
        "data": F,
        "shared": shared(kernel),
    }[kind]
    a = mm.map(0, 8 * P, 0, flags)
    mm.account(a)
    if kind == "locked":
        mm.set_counter("locked_vm", 8)
    before = mm.counters
    assert before["total_vm"] == 8
    mm.munmap(0, 8 * P)
    after = mm.counters
    assert after["total_vm"] == 0
    assert after["locked_vm"] == 0
    for name in ("exec_vm", "stack_vm", "data_vm"):
        assert after[name] == 0, (name, before, after)
    expect = {"exec": "exec_vm", "stack": "stack_vm", "data": "data_vm",
              "locked": "data_vm"}.get(kind)
    if expect:
        assert before[expect] == 8


@pytest.mark.parametrize("kind", ["exec", "stack", "data"])
def test_munmap_of_unaccounted_pages_warns(kernel, mm, expect_warn, kind):
    """The paranoid bookkeeping: removing more exec/stack/data pages than the mm
    has accounted WARNs (the VMAs were mapped without vm_stat_account()).

    0123            0123
    AAAA     ->              (a WARN; the counter wraps below zero)
    """
    F = rw(kernel)
    flags = {"exec": kernel.flag("VM_READ", "VM_EXEC", "VM_MAYREAD", "VM_MAYEXEC"),
             "stack": F | kernel.flag("VM_GROWSDOWN"), "data": F}[kind]
    mm.map(0, 4 * P, 0, flags)
    with expect_warn(count=1):
        mm.munmap(0, 4 * P)
    assert wrap(mm.counters[kind + "_vm"]) == -4
    assert mm.map_count == 0


def test_munmap_of_file_vmas_unlinks_them_in_batches(kernel, mm):
    """free_pgtables() unlinks each removed VMA from its file's rmap tree through
    unlink_file_vma_batch_*(): a batch is flushed when the file changes and when
    it is full.  Ten non-mergeable VMAs of file f (a page each, file offsets
    apart), one anonymous, one of file g (shared writable: its writable count
    drops too).

    0123456789012           0123456789012
    ffffffffffAg    ->      (empty)
    """
    F = rw(kernel)
    f, g = kernel.file(), kernel.file()
    for i in range(10):
        place(mm, i * P, (i + 1) * P, 100 * i, F, file=f)
    place(mm, 10 * P, 11 * P, 10, F)
    place(mm, 11 * P, 12 * P, 0, shared(kernel), file=g)
    assert mm.map_count == 12
    assert (f.i_mmap_vmas, g.i_mmap_vmas, g.writable) == (10, 1, 1)
    mm.munmap(0, 12 * P)
    assert mm.map_count == 0
    assert (f.i_mmap_vmas, g.i_mmap_vmas, g.writable) == (0, 0, 0)
    # remove_vma() dropped the VMAs' file references (map() took none)
    assert (f.refs, g.refs) == (-10, -1)
    assert kernel.locks_held == 0


def test_unlink_file_vma_batch_directly(kernel, mm):
    """unlink_file_vma_batch_add() skips anonymous VMAs and flushes when the file
    changes; _final() flushes the rest.

    0123            0123
    fAgf     ->     fAgf   (still mapped; out of the rmap trees)
    """
    F = rw(kernel)
    f, g = kernel.file(), kernel.file()
    v = [place(mm, 0, P, 0, F, file=f), place(mm, P, 2 * P, 1, F),
         place(mm, 2 * P, 3 * P, 0, shared(kernel), file=g), place(mm, 3 * P, 4 * P, 9, F, file=f)]
    mm.unlink_file_vmas(v)
    assert (f.i_mmap_vmas, g.i_mmap_vmas, g.writable) == (0, 0, 0)
    assert mm.map_count == 4
    mm.unlink_file_vmas([])
    assert f.i_mmap_vmas == 0


def test_munmap_unlinks_anon_vmas(kernel, mm):
    """free_pgtables() unlinks each removed VMA from its anon_vma.

    0123            0123
    AA**     ->     AA
    """
    av = kernel.anon_vma()
    F = rw(kernel)
    place(mm, 0, 2 * P, 0, F)
    place(mm, 2 * P, 4 * P, 2, F | kernel.flag("VM_EXEC"), anon_vma=av)
    assert not av.was_unlinked
    mm.munmap(2 * P, 4 * P)
    assert av.was_unlinked
    assert row(mm) == "AA"


@pytest.mark.requires("vm_munmap")
def test_vm_munmap(kernel, mm):
    """__vm_munmap(): munmap in current->mm, with and without the lock dropped.

    012345678       012345678
    AAAAAAAAA  ->   AA  AA          (two calls)
    """
    place(mm, 0, 9 * P, 0, rw(kernel))
    mm.vm_munmap(2 * P, 2 * P)
    mm.vm_munmap(6 * P, 3 * P, unlock=True)
    assert spans(mm) == [(0, 2, 0), (4, 6, 4)]
    assert errno_of(mm.vm_munmap, P + 1, P) == EINVAL
    assert spans(mm) == [(0, 2, 0), (4, 6, 4)]
    assert kernel.fault_calls("uffd_unmap_prep") == 2


@pytest.mark.requires("vm_munmap")
def test_vm_munmap_interrupted(kernel, mm):
    """A fatal signal while waiting for the mmap lock: -EINTR, nothing unmapped.

    0123            0123
    A**A     ->     AAAA
    """
    place(mm, 0, 4 * P, 0, rw(kernel))
    kernel.fail("fatal_signal")
    assert errno_of(mm.vm_munmap, P, 2 * P) == EINTR
    kernel.fail("fatal_signal", False)
    assert spans(mm) == [(0, 4, 0)]
