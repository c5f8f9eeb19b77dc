# SPDX-License-Identifier: GPL-2.0-or-later
"""mmap_region() and __mmap_region(): the MDWE and writable-file checks, limits
and overcommit accounting, a file's ->mmap and ->mmap_prepare (succeeding,
failing, changing what is mapped), MAP_FIXED over existing mappings and what a
failure at each stage leaves of them, shared anonymous mappings, VM_LOCKED.

Pages a test maps are accounted to the mm as mmap would (``place``), so that
what mmap_region() unmaps balances.
"""
import pytest

from pyvma.tree import features

from .paths_helpers import (EACCES, EINVAL, ENOMEM, EPERM, P, errno_of, place, row, rw, shared, show,
                            soft_dirty, spans)

pytestmark = pytest.mark.requires("mmap_region_checks")

BASE = 0x100 * P


def _pages(n: int) -> int:
    return n * P


def test_mmap_anonymous_is_charged_and_accounted(kernel, mm):
    """A private writable mapping is charged to overcommit and gets VM_ACCOUNT;
    total_vm and data_vm grow; a new mapping is soft-dirty.

    0123            0123
    ****     ->     AAAA
    """
    addr = mm.mmap(0, 4 * P, rw(kernel), 0)
    assert addr == 0
    (a,) = mm.vmas()
    assert a.has_flags("VM_ACCOUNT")
    assert a.flags & soft_dirty(kernel) == soft_dirty(kernel)     # where the build has it
    assert kernel.committed == 4
    assert (mm.counters["total_vm"], mm.counters["data_vm"]) == (4, 4)


@pytest.mark.parametrize("extra", ["VM_NORESERVE", "VM_SHARED", None])
def test_mmap_not_charged(kernel, mm, extra):
    """Not accountable: NORESERVE, shared, or read-only mappings.

    0123            0123
    ****     ->     AAAA    (no overcommit charge, no VM_ACCOUNT)
    """
    flags = rw(kernel) | kernel.flag(extra) if extra else kernel.flag("VM_READ", "VM_MAYREAD")
    if extra == "VM_SHARED":
        flags |= kernel.flag("VM_MAYSHARE")
    assert mm.mmap(0, 4 * P, flags, 0) == 0
    (a,) = mm.vmas()
    assert not a.flags & kernel.flag("VM_ACCOUNT")
    assert kernel.committed == 0


def test_mmap_over_commit_limit(kernel, mm):
    """
    0123            0123
    ****     ->             (-ENOMEM: 4 pages over a 3-page commit limit)
    """
    kernel.set_limit("commit", 3)
    assert errno_of(mm.mmap, 0, 4 * P, rw(kernel), 0) == ENOMEM
    assert mm.map_count == 0
    assert kernel.committed == 0


def test_mmap_over_rlimit_as(kernel, mm):
    """
    01234567        01234567
    AAAA****  ->    AAAA     (-ENOMEM: RLIMIT_AS is 6 pages)
    """
    assert mm.mmap(0, 4 * P, rw(kernel), 0) == 0
    kernel.set_limit("as", 6 * P)
    assert errno_of(mm.mmap, 4 * P, 4 * P, rw(kernel), 4) == ENOMEM
    assert spans(mm) == [(0, 4, 0)]
    assert kernel.committed == 4


def test_mmap_mdwe(kernel, mm):
    """Memory-deny-write-execute: a writable executable mapping is refused, an
    executable read-only one and a writable one are not.

    0123456         0123456
    ** ** **  ->       BB CC   (the first -EACCES)
    """
    mm.set_mdwe()
    x = kernel.flag("VM_EXEC", "VM_MAYEXEC")
    assert errno_of(mm.mmap, 0, 2 * P, rw(kernel) | x, 0) == EACCES
    assert mm.mmap(3 * P, 2 * P, kernel.flag("VM_READ", "VM_MAYREAD") | x, 3) == 3 * P
    assert mm.mmap(6 * P, 2 * P, rw(kernel), 6) == 6 * P
    assert spans(mm) == [(3, 5, 3), (6, 8, 6)]


def test_mmap_shared_writable_file(kernel, mm):
    """A shared writable file mapping counts as a writable mapping of the file
    (mmap_region() holds one more for the duration of the call), takes a file
    reference and enters the file's rmap tree.

    0123            0123
    ****     ->     ffff
    """
    f = kernel.file(mmap=True)       # a file do_mmap() lets through on every tree
    assert mm.mmap(0, 4 * P, shared(kernel), 0, file=f) == 0
    assert (f.writable, f.refs, f.i_mmap_vmas) == (1, 1, 1)
    (a,) = mm.vmas()
    assert a.file == f.ptr
    assert kernel.locks_held == 0


def test_mmap_shared_writable_of_a_sealed_file(kernel, mm):
    """Writes to the file are denied (a write-sealed memfd): -EPERM.

    0123            0123
    ****     ->              (-EPERM)
    ****     ->     ffff     (read-only: mapped)
    """
    f = kernel.file(mmap=True)
    f.deny_writable()
    assert errno_of(mm.mmap, 0, 4 * P, shared(kernel), 0, file=f) == EPERM
    assert mm.map_count == 0
    assert f.refs == 0
    # a read-only shared mapping is still allowed
    ro = kernel.flag("VM_READ", "VM_MAYREAD", "VM_SHARED", "VM_MAYSHARE")
    assert mm.mmap(0, 4 * P, ro, 0, file=f) == 0
    assert f.writable == -1


def test_mmap_file_with_mmap_hook(kernel, mm):
    """The driver's ->mmap runs on the new VMA and may add flags and vm_ops.

    0123            0123
    ****     ->     ffff   (VM_IO | VM_DONTEXPAND, the driver's vm_ops)
    """
    f = kernel.file(mmap=True, set_flags=kernel.flag("VM_IO", "VM_DONTEXPAND"),
                    ops=["close"])
    assert mm.mmap(0, 4 * P, rw(kernel), 0x40, file=f) == 0
    (a,) = mm.vmas()
    assert f.mmap_calls == 1
    assert a.has_flags("VM_IO", "VM_DONTEXPAND")
    assert a.ops == {"close"}
    assert a.pgoff == 0x40
    assert (f.refs, f.i_mmap_vmas) == (1, 1)


@pytest.mark.requires("mmap_file_without_mmap_op")
def test_mmap_file_without_mmap_hook(kernel, mm):
    """A file without ->mmap is simply mapped (KSM flags decided after the
    VMA exists, as for any non-shmem ->mmap file).

    0123            0123
    ****     ->     ffff
    """
    f = kernel.file()
    assert mm.mmap(0, 4 * P, rw(kernel), 0, file=f) == 0
    assert (f.refs, f.i_mmap_vmas, f.mmap_calls) == (1, 1, 0)


def test_mmap_file_mmap_hook_fails(kernel, mm):
    """->mmap fails: the VMA is torn down, the file reference dropped, the charge
    given back, and ->mmap's error returned.

    0123            0123
    ****     ->              (-EINVAL)
    """
    f = kernel.file(mmap=True, err=EINVAL)
    assert errno_of(mm.mmap, 0, 4 * P, rw(kernel), 0, file=f) == EINVAL
    assert mm.map_count == 0
    assert (f.refs, f.i_mmap_vmas, kernel.committed) == (0, 0, 0)


def test_failed_map_fixed_leaves_a_hole(kernel, mm):
    """MAP_FIXED over B: by the time ->mmap fails, B's page tables are gone and
    its ->close has run, so B cannot be restored: the range is left empty and
    B's pages are unaccounted.

    01234567        01234567
    AABBBBCC  ->    AA    BB   (-EINVAL)
      ****
    """
    F = rw(kernel)
    place(mm, 0, 2 * P, 0, F)
    b = place(mm, 2 * P, 6 * P, 2, F | kernel.flag("VM_EXEC"))
    b.set_ops("close")
    place(mm, 6 * P, 8 * P, 6, F | kernel.flag("VM_SEQ_READ"))
    f = kernel.file(mmap=True, err=EINVAL)
    assert errno_of(mm.mmap, 2 * P, 4 * P, F, 0, file=f) == EINVAL
    assert row(mm) == "AA    BB", show(mm)
    assert kernel.ops_calls["close"] == 1
    assert mm.counters["total_vm"] == 4
    assert mm.map_count == 2
    assert f.refs == 0


def test_map_fixed_failing_before_cleanup_restores(kernel, mm):
    """MAP_FIXED from the middle of A on, refused by RLIMIT_AS before anything is
    torn down: the pieces of A are reattached, but A stays split at the start
    of the range.

    0123456789      0123456789
    AAAAAAAA    ->  AABBBBBB    (-ENOMEM)
      ********
    """
    F = rw(kernel)
    place(mm, 0, 8 * P, 0, F)
    kernel.set_limit("as", 8 * P)
    # the new mapping replaces 6 pages with 8: two more than RLIMIT_AS allows
    assert errno_of(mm.mmap, 2 * P, 8 * P, F | kernel.flag("VM_EXEC"), 2) == ENOMEM
    assert spans(mm) == [(0, 2, 0), (2, 8, 2)], show(mm)
    assert mm.counters["total_vm"] == 8


def test_map_fixed_over_sealed_vma(kernel, mm):
    """
    0123            0123
    **AA     ->     AAAA   (A sealed: -EPERM)
    """
    place(mm, 0, 4 * P, 0, rw(kernel) | kernel.flag("VM_SEALED"))
    assert errno_of(mm.mmap, 0, 2 * P, rw(kernel), 0) == EPERM
    assert spans(mm) == [(0, 4, 0)]


def test_map_fixed_replaces_and_recharges_only_the_difference(kernel, mm):
    """MAP_FIXED over an accounted mapping charges only the pages not already
    charged; the old pieces go, with a userfaultfd unmap list.

    012345          012345
    AAAAAA    ->    ABBBBC
     ****
    """
    F = rw(kernel)
    assert mm.mmap(0, 6 * P, F, 0) == 0
    assert kernel.committed == 6
    assert mm.mmap(P, 4 * P, F | kernel.flag("VM_EXEC"), 1, uf=True) == P
    assert spans(mm) == [(0, 1, 0), (1, 5, 1), (5, 6, 5)], show(mm)
    assert kernel.committed == 6
    assert mm.counters["total_vm"] == 6
    assert kernel.fault_calls("uffd_unmap_prep") == 1


@pytest.mark.parametrize("fault", ["vma_alloc", "prealloc"])
def test_mmap_new_vma_allocation_failure(kernel, mm, fault):
    """No neighbours to merge with, and the new VMA (or its tree slot) cannot be
    allocated: -ENOMEM, the charge given back.

    0123            0123
    ****     ->              (-ENOMEM)
    """
    kernel.fail(fault)
    assert errno_of(mm.mmap, 0, 4 * P, rw(kernel), 0) == ENOMEM
    kernel.fail(fault, False)
    assert mm.map_count == 0
    assert kernel.committed == 0


def test_mmap_shared_anonymous(kernel, mm):
    """A shared anonymous mapping is set up by shmem_zero_setup(); it is not
    anonymous in vma_is_anonymous()'s sense (it has vm_ops).

    0123            0123
    ****     ->     AAAA
    """
    assert mm.mmap(0, 4 * P, shared(kernel), 0) == 0
    (a,) = mm.vmas()
    assert kernel.fault_calls("shmem_zero_setup") == 1
    assert not a.is_anonymous
    kernel.fail("shmem_zero_setup")
    assert errno_of(mm.mmap, 8 * P, 4 * P, shared(kernel), 0) == ENOMEM
    assert spans(mm) == [(0, 4, 0)]


def test_mmap_locked(kernel, mm):
    """VM_LOCKED is counted in locked_vm - unless the VMA cannot be mlocked
    (VM_IO), when VM_LOCKED is cleared instead.

    0123456         0123456
    **  ***   ->    AA  BBB   (A locked; B not)
    """
    F = rw(kernel) | kernel.flag("VM_LOCKED")
    assert mm.mmap(0, 2 * P, F, 0) == 0
    assert mm.counters["locked_vm"] == 2
    assert mm.mmap(4 * P, 3 * P, F | kernel.flag("VM_IO"), 4) == 4 * P
    a, b = mm.vmas()
    assert a.has_flags("VM_LOCKED") and not b.has_flags("VM_LOCKED")
    assert mm.counters["locked_vm"] == 2


@pytest.mark.requires("mmap_prepare")
def _charge_leak_known(kernel, request) -> None:
    """On trees without the fix a failed ->mmap_prepare() keeps the VM_ACCOUNT charge:
    the test is an expected failure there (strict: it must fail)."""
    if not kernel.has("mmap_prepare_unaccounts"):
        request.applymarker(pytest.mark.xfail(
            strict=True, raises=AssertionError,
            reason=f"kernel {kernel.version} lacks the fix: "
                   f"{features.meaning('mmap_prepare_unaccounts')}"))


@pytest.mark.requires("mmap_prepare")
class TestMmapPrepare:
    def test_prepare_changes_what_is_mapped(self, kernel, mm):
        """->mmap_prepare() edits the descriptor before any merge: flags, page
        offset, vm_ops and private data all reach the new VMA.

        0123            0123
        ****     ->     ffff   (pgoff 0x10 + 5; VM_DONTEXPAND; the driver's ops)
        """
        f = kernel.file(mmap_prepare=True, set_flags=kernel.flag("VM_DONTEXPAND"),
                        ops=["open", "close"], pgoff_delta=5)
        assert mm.mmap(0, 4 * P, rw(kernel), 0x10, file=f) == 0
        (a,) = mm.vmas()
        assert f.mmap_prepare_calls == 1
        assert a.pgoff == 0x15
        assert a.has_flags("VM_DONTEXPAND")
        assert a.ops == {"open", "close"}
        assert a.private_data != 0
        assert (f.refs, f.i_mmap_vmas) == (1, 1)

    def test_prepare_asking_for_an_anonymous_vma(self, kernel, mm):
        """No vm_ops from ->mmap_prepare (/dev/zero's way): the VMA is made
        anonymous, though it maps the file.

        0123            0123
        ****     ->     ffff
        """
        f = kernel.file(mmap_prepare=True, ops=None)
        assert mm.mmap(0, 4 * P, rw(kernel), 0, file=f) == 0
        (a,) = mm.vmas()
        assert a.is_anonymous and a.file == f.ptr

    def test_prepare_fails(self, kernel, mm, request):
        """
        0123            0123
        ****     ->              (-EINVAL; nothing charged, no reference kept)
        """
        _charge_leak_known(kernel, request)
        f = kernel.file(mmap_prepare=True, err=EINVAL)
        assert errno_of(mm.mmap, 0, 4 * P, rw(kernel), 0, file=f) == EINVAL
        assert (mm.map_count, f.refs, kernel.committed) == (0, 0, 0)

    def test_prepare_action_fails(self, kernel, mm, request):
        """The action ->mmap_prepare() asked for cannot be prepared."""
        _charge_leak_known(kernel, request)
        f = kernel.file(mmap_prepare=True)
        kernel.fail("mmap_action_prepare")
        assert errno_of(mm.mmap, 0, 4 * P, rw(kernel), 0, file=f) == EINVAL
        assert (mm.map_count, f.refs, kernel.committed) == (0, 0, 0)

    def test_prepare_swaps_the_file(self, kernel, mm):
        """->mmap_prepare() maps another file, handing over its reference: the
        VMA maps g and no further reference to either file is taken.

        0123            0123
        ****     ->     gggg
        """
        g = kernel.file()
        f = kernel.file(mmap_prepare=True, swap=g)
        assert mm.mmap(0, 4 * P, rw(kernel), 0, file=f) == 0
        (a,) = mm.vmas()
        assert a.file == g.ptr
        assert (f.refs, g.refs) == (0, 0)
        assert (f.i_mmap_vmas, g.i_mmap_vmas) == (0, 1)

    def test_prepare_swaps_the_file_then_fails(self, kernel, mm):
        """The mapping fails after ->mmap_prepare() swapped the file: the
        reference it handed over is dropped.

        0123            0123
        ****     ->              (-ENOMEM)
        """
        g = kernel.file()
        f = kernel.file(mmap_prepare=True, swap=g)
        kernel.fail("vma_alloc")
        assert errno_of(mm.mmap, 0, 4 * P, rw(kernel), 0, file=f) == ENOMEM
        kernel.fail("vma_alloc", False)
        assert (f.refs, g.refs) == (0, -1)
        assert mm.map_count == 0

    def test_prepare_hides_the_vma_from_rmap_until_complete(self, kernel, mm):
        """hide_from_rmap_until_complete: the file's rmap lock is held from the
        VMA's link until the action completes, then released.

        0123            0123
        ****     ->     ffff
        """
        f = kernel.file(mmap_prepare=True, hide_rmap=True)
        assert mm.mmap(0, 4 * P, rw(kernel), 0, file=f) == 0
        assert not f.i_mmap_locked and kernel.locks_held == 0
        assert f.i_mmap_vmas == 1

    def test_prepare_action_completion_fails(self, kernel, mm):
        """The action fails to complete: the new VMA is unmapped again and the
        error returned.

        0123            0123
        ****     ->              (-EINVAL)
        """
        f = kernel.file(mmap_prepare=True)
        kernel.fail("mmap_action_complete")
        assert errno_of(mm.mmap, 0, 4 * P, rw(kernel), 0, file=f) == EINVAL
        assert mm.map_count == 0
        assert f.i_mmap_vmas == 0


def test_driver_moving_the_vma_warns(kernel, expect_warn):
    """A driver's ->mmap may not move the VMA: WARN.  (The mapping goes ahead
    with the moved VMA stored over the whole requested range.)

    0123            0123
    ****     ->     .fff   (vm_start one page up; the tree still maps 0-4)
    """
    mm = kernel.mm()
    try:
        f = kernel.file(mmap=True, move_start=P)
        with expect_warn(count=1):
            assert mm.mmap(0, 4 * P, rw(kernel), 0, file=f) == 0
        # map->addr in the tree's mm/vma.c, addr in 6.12's mm/mmap.c
        assert _warned_at(kernel, "addr != vma->vm_start")
        (a,) = mm.vmas()
        assert (a.start, a.end) == (P, 4 * P)
    finally:
        mm.close()


def test_driver_granting_maywrite_warns(kernel, mm, expect_warn):
    """A driver's ->mmap may not make a mapping writable that could not be:
    VM_MAYWRITE added to a mapping without it WARNs (and stays).

    0123            0123
    ****     ->     ffff   (VM_MAYWRITE set by the driver)
    """
    f = kernel.file(mmap=True, set_flags=kernel.flag("VM_MAYWRITE"))
    with expect_warn(count=1):
        assert mm.mmap(0, 4 * P, kernel.flag("VM_READ", "VM_MAYREAD"), 0, file=f) == 0
    (a,) = mm.vmas()
    assert a.has_flags("VM_MAYWRITE")


@pytest.mark.requires("mmap_prepare")
def test_prepare_mapping_merges_with_its_neighbour(kernel, mm):
    """A ->mmap_prepare() mapping that merges with the previous mapping of the file
    allocates no VMA: no user-defined fields to set, no action to complete,
    no new file reference.

    01234567        01234567
    ffff****  ->    ffffffff
    """
    f = kernel.file(mmap_prepare=True)
    assert mm.mmap(0, 4 * P, rw(kernel), 0, file=f) == 0
    assert mm.mmap(4 * P, 4 * P, rw(kernel), 4, file=f) == 4 * P
    assert spans(mm) == [(0, 8, 0)]
    assert (f.mmap_prepare_calls, f.refs, f.i_mmap_vmas) == (2, 1, 1)
    assert kernel.fault_calls("mmap_action_complete") == 1


def _warned_at(kernel, text: str) -> bool:
    return any(text in w.cond for w in kernel.warnings())
