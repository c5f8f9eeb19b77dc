# SPDX-License-Identifier: GPL-2.0-or-later
"""mm_take_all_locks() / mm_drop_all_locks(): every VMA write-locked, every
file mapping's i_mmap_rwsem and every anon_vma root's rwsem taken once (marked
with AS_MM_ALL_LOCKS / bit 0 of the root's rb_root so a second VMA sharing it
does not take it again), a pending signal backing everything out, and
mm_drop_all_locks() without the locks taken being a BUG.

Scene (pages):

    0123456789
    AABB CCDD
    A, B: anonymous, sharing anon_vma av1; C, D: map file f; D also has av2
"""
import pytest

from pyvma.errors import KernelBug

from .paths_helpers import EINTR, P, errno_of, place, rw


def _scene(kernel, mm):
    F = rw(kernel)
    av1, av2 = kernel.anon_vma(), kernel.anon_vma()
    f = kernel.file()
    a = place(mm, 0, 2 * P, 0, F)
    b = place(mm, 2 * P, 4 * P, 2, F | kernel.flag("VM_EXEC"))
    c = place(mm, 5 * P, 7 * P, 0, F, file=f)
    d = place(mm, 7 * P, 9 * P, 9, F, file=f)
    for v in (a, b):
        v.set_anon_vma(av1)
        v.add_avc(av1)
    d.set_anon_vma(av2)
    d.add_avc(av2)
    return (a, b, c, d), (av1, av2), f


def test_take_and_drop_all_locks(kernel, mm):
    """
    0123456789          0123456789
    AABB CCDD    ->     AABB CCDD   (all write-locked; f, av1, av2 locked once each)
    """
    vmas, avs, f = _scene(kernel, mm)
    mm.take_all_locks()
    assert all(v.write_locked for v in vmas)
    assert f.all_locks_marked and f.i_mmap_locked
    assert all(av.all_locks_marked and av.locked for av in avs)
    assert kernel.locks_held == 3           # one mapping, two anon_vma roots
    mm.drop_all_locks()
    assert not f.all_locks_marked and not f.i_mmap_locked
    assert not any(av.all_locks_marked or av.locked for av in avs)
    assert kernel.locks_held == 0


@pytest.mark.parametrize("loop", [0, 1, 2, 3])
def test_signal_backs_all_locks_out(kernel, mm, loop):
    """A signal arrives during the loop that write-locks the VMAs (0), locks the
    hugetlb mappings (1), the other mappings (2) or the anon_vmas (3): -EINTR,
    and everything taken so far is released.

    0123456789          0123456789
    AABB CCDD    ->     AABB CCDD   (-EINTR; no lock left held)
    """
    vmas, avs, f = _scene(kernel, mm)
    kernel.fail("signal_pending", after=loop * len(vmas) + 1)
    assert errno_of(mm.take_all_locks) == EINTR
    kernel.fail("signal_pending", False)
    assert kernel.locks_held == 0
    assert not f.all_locks_marked
    assert not any(av.all_locks_marked for av in avs)
    # and the mm can be locked afterwards
    mm.take_all_locks()
    mm.drop_all_locks()


def test_drop_without_take_is_a_bug(kernel, mm):
    """mm_drop_all_locks() BUG_ONs unless mm_all_locks_mutex is held.

    0123456789
    AABB CCDD    (mm_drop_all_locks(): BUG)
    """
    _scene(kernel, mm)
    with pytest.raises(KernelBug) as bug:
        mm.drop_all_locks()
    assert bug.value.site.file.endswith("mm/vma.c")


def test_take_twice_deadlocks(kernel, mm):
    """A task may not take all locks twice in a row: it would deadlock on
    mm_all_locks_mutex (the harness reports that as a BUG).

    0123456789
    AABB CCDD    (second mm_take_all_locks(): BUG)
    """
    _scene(kernel, mm)
    mm.take_all_locks()
    with pytest.raises(KernelBug, match="deadlock"):
        mm.take_all_locks()
    mm.drop_all_locks()
    assert kernel.locks_held == 0
