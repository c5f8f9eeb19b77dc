# SPDX-License-Identifier: GPL-2.0-or-later
"""The lifetimes of the harness's anon_vmas and files (pyvma/api/objects.py): freed
once no Python object holds them and no VMA of a live mm refers to them, never
before.  Run under ``pyvma test --kernel-sanitizer asan`` an early free is a
use-after-free report; the counts below hold on any build."""
from __future__ import annotations

import gc

from ..helpers import P, rw


def live(kernel) -> dict[str, int]:
    gc.collect()
    return kernel.live_objects()


def test_many_mms_free_their_files_and_anon_vmas_on_close(kernel):
    """Each mm maps a file twice (a harness VMA, and mmap_region() where the tree
    has it: get_file() by kernel code), an anon_vma of the test's and one kernel
    code makes on a first fault; after close nothing of theirs is left."""
    before = live(kernel)
    for i in range(40):
        with kernel.mm() as mm:
            # (a file without ->mmap only where __mmap_region() maps one: 6.12's
            # calls ->mmap unconditionally, and do_mmap() refuses such a file)
            plain = i % 2 == 0 and kernel.has("mmap_file_without_mmap_op")
            f = kernel.file() if plain else kernel.file(mmap=True, ops=("close",))
            av = kernel.anon_vma()
            mm.map(0, 2 * P, 0, rw(kernel), file=f)
            mm.map(4 * P, 6 * P, 4, rw(kernel), anon_vma=av)
            mm.map(8 * P, 10 * P, 8, rw(kernel))
            mm.anon_vma_prepare(mm.vmas()[2])
            assert mm.vmas()[2].anon_vma not in (None, av)
            if kernel.has("mmap_region"):
                mm.mmap_region(12 * P, 2 * P, rw(kernel), 0, file=f)
            during = live(kernel)
            assert during["file"] == before["file"] + 1
            assert during["anon_vma"] == before["anon_vma"] + 2
            del f, av
    assert live(kernel) == before


def test_an_anon_vma_kernel_code_made_lives_while_a_vma_refers_to_it(kernel, mm):
    """
    012345          012345          012345
    AAAA     ->     AABB     ->     (none)
    fault           split           munmap: its last VMA gone, the anon_vma is freed
    """
    before = live(kernel)
    a = mm.map(0, 4 * P, 0, rw(kernel))
    mm.account(a)
    mm.anon_vma_prepare(a)
    mm.objects.clear()              # no Python object holds the anon_vma now
    assert live(kernel)["anon_vma"] == before["anon_vma"] + 1
    mm.split(a, 2 * P)              # anon_vma_clone(): reads and counts it
    assert mm.vmas()[0].anon_vma == mm.vmas()[1].anon_vma
    assert mm.vmas()[1].anon_vma.was_cloned
    mm.objects.clear()
    assert live(kernel)["anon_vma"] == before["anon_vma"] + 1
    mm.munmap(0, 2 * P)
    assert live(kernel)["anon_vma"] == before["anon_vma"] + 1
    mm.munmap(2 * P, 4 * P)
    mm.objects.clear()
    assert live(kernel) == before


def test_a_file_lives_while_a_vma_maps_it(kernel, mm):
    """The test drops its File and the mm's objects forget it: the VMAs mapping it
    keep it (munmap's fput() of each writes to it)."""
    before = live(kernel)
    f = kernel.file()
    mm.account(mm.map(0, 4 * P, 0, rw(kernel), file=f))
    del f
    mm.objects.clear()
    assert live(kernel)["file"] == before["file"] + 1
    mm.split(mm.vmas()[0], 2 * P)
    assert mm.vmas()[0].file == mm.vmas()[1].file
    mm.munmap(0, 2 * P)
    assert live(kernel)["file"] == before["file"] + 1
    mm.munmap(2 * P, 4 * P)
    assert live(kernel) == before


def test_a_pinned_object_outlives_its_mm(kernel):
    """An AnonVma or File the test still holds is not freed with the mm it was
    mapped in, and can be mapped again."""
    f, av = kernel.file(), kernel.anon_vma()
    with kernel.mm() as mm:
        mm.map(0, 2 * P, 0, rw(kernel), file=f, anon_vma=av)
    before = live(kernel)
    with kernel.mm() as mm:
        a = mm.map(0, 2 * P, 0, rw(kernel), file=f, anon_vma=av)
        assert a.anon_vma == av and not av.was_cloned
    assert live(kernel) == before
    del f, av
    assert live(kernel) == {k: n - 1 for k, n in before.items()}
