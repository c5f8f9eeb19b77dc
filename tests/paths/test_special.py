# SPDX-License-Identifier: GPL-2.0-or-later
"""insert_vm_struct(), __install_special_mapping() (vDSO-like mappings) and
vma_mmu_pagesize().
"""
import pytest

from pyvma.errors import KernelBug, KernelError

from .paths_helpers import ENOMEM, P, errno_of, place, rw, soft_dirty, spans


@pytest.mark.requires("insert_vm_struct")
class TestInsertVmStruct:
    def test_anonymous_vma_gets_its_address_as_page_offset(self, kernel, mm):
        """An anonymous VMA's page offset is set from its address; a file VMA's
        is kept.  Trees with a separate anonymous page offset (anon_pgoff) set
        that from the address for every VMA, file ones too.

        0123456789          0123456789
          AA ff      ->       AA ff     (A: pgoff 2; f: pgoff 0x77, anon 5)
        """
        a = mm.alloc(2 * P, 4 * P, 0x55, rw(kernel))
        a.set_vm_ops(None)
        mm.insert_vm_struct(a)
        f = kernel.file()
        b = mm.alloc(5 * P, 7 * P, 0x77, rw(kernel))
        mm.objects.remember_file(f)
        kernel.lib.pyvma_vma_set_file(b.ptr, f.ptr)
        mm.insert_vm_struct(b)
        assert spans(mm) == [(2, 4, 2), (5, 7, 0x77)]
        assert f.i_mmap_vmas == 1
        if kernel.has("anon_pgoff"):
            assert (a.anon_pgoff, b.anon_pgoff) == (2, 5)
        else:
            # no separate anonymous offset: what stands for it is vm_pgoff
            assert (a.anon_pgoff, b.anon_pgoff) == (2, 0x77)

    def test_overlap_is_refused(self, kernel, mm):
        """
        0123                0123
        AAB*         ->     AA      (-ENOMEM: the new VMA B overlaps A)
        """
        place(mm, 0, 2 * P, 0, rw(kernel))
        b = mm.alloc(P, 3 * P, 1, rw(kernel))
        assert errno_of(mm.insert_vm_struct, b) == ENOMEM
        assert spans(mm) == [(0, 2, 0)]

    def test_accounted_vma_is_charged(self, kernel, mm):
        """VM_ACCOUNT: the pages are charged; over the commit limit, -ENOMEM.

        0123456789012       0123456789012
        AAAA    BBBB   ->   AAAA            (A charged 4 pages; B over the limit)
        """
        F = rw(kernel) | kernel.flag("VM_ACCOUNT")
        a = mm.alloc(0, 4 * P, 0, F)
        mm.insert_vm_struct(a)
        assert kernel.committed == 4
        kernel.set_limit("commit", 5)
        b = mm.alloc(8 * P, 12 * P, 8, F)
        assert errno_of(mm.insert_vm_struct, b) == ENOMEM
        assert kernel.committed == 4
        assert mm.map_count == 1

    def test_link_failure_gives_the_charge_back(self, kernel, mm):
        """Linking fails (no tree slot): -ENOMEM, and an accounted VMA's charge is
        given back.

        0123            0123
        AAAA     ->              (-ENOMEM)
        """
        F = rw(kernel) | kernel.flag("VM_ACCOUNT")
        a = mm.alloc(0, 4 * P, 0, F)
        kernel.fail("prealloc")
        assert errno_of(mm.insert_vm_struct, a) == ENOMEM
        kernel.fail("prealloc", False)
        assert (kernel.committed, mm.map_count) == (0, 0)
        b = mm.alloc(0, 4 * P, 0, rw(kernel))
        kernel.fail("prealloc")
        assert errno_of(mm.insert_vm_struct, b) == ENOMEM
        assert (kernel.committed, mm.map_count) == (0, 0)

    def test_anonymous_vma_with_an_anon_vma_is_caught(self, kernel, mm, expect_warn):
        """A never-faulted VMA is expected: one with an anon_vma WARNs and is
        inserted (insert_vm_struct_warns), or BUGs before anything is done.

        0123            0123
        AA       ->     AA       (a WARN)  /  (nothing: a BUG)
        """
        a = mm.alloc(0, 2 * P, 0, rw(kernel))
        a.set_vm_ops(None)
        a.set_anon_vma(kernel.anon_vma())
        if kernel.has("insert_vm_struct_warns"):
            with expect_warn(count=1):
                mm.insert_vm_struct(a)
            assert mm.map_count == 1
        else:
            with pytest.raises(KernelBug) as bug:
                mm.insert_vm_struct(a)
            assert "anon_vma" in bug.value.site.cond
            # where the tree has insert_vm_struct(): mm/vma.c, or 6.12's mm/mmap.c
            assert bug.value.site.file.endswith(("mm/vma.c", "mm/mmap.c"))
            assert mm.map_count == 0

@pytest.mark.requires("install_special_mapping")
class TestInstallSpecialMapping:
    def test_special_mapping(self, kernel, mm):
        """VM_DONTEXPAND and soft-dirty are added, the mm's default flags too, but
        never VM_LOCKED; the VMA is accounted to total_vm; with vm_ops its page
        offset stays 0.

        0123456             0123456
          ***        ->       SSS
        """
        mm.set_def_flags(kernel.flag("VM_LOCKED", "VM_NOHUGEPAGE"))
        flags = kernel.flag("VM_READ", "VM_EXEC", "VM_MAYREAD", "VM_MAYEXEC")
        s = mm.install_special_mapping(2 * P, 3 * P, flags, ops=["close"])
        assert s.start == 2 * P and s.end == 5 * P
        assert s.has_flags("VM_DONTEXPAND", "VM_NOHUGEPAGE", "VM_EXEC")
        assert s.flags & soft_dirty(kernel) == soft_dirty(kernel)
        assert not s.flags & kernel.flag("VM_LOCKED")
        assert s.ops == {"close"}
        assert s.pgoff == 0
        assert mm.counters["total_vm"] == 3

    def test_special_mapping_without_ops_warns(self, kernel, mm, expect_warn):
        """No vm_ops (no caller does this): the VMA counts as anonymous, so the
        page offset 0 that __install_special_mapping() gives it before
        insert_vm_struct() re-sets it trips assert_sane_pgoff() - once; then
        insert_vm_struct() gives it its address as page offset.

        0123456             0123456
            **       ->         SS
        """
        if kernel.has("assert_sane_pgoff"):
            with expect_warn(count=1):
                s = mm.install_special_mapping(4 * P, 2 * P,
                                               kernel.flag("VM_READ", "VM_MAYREAD"))
        else:       # nothing checks the page offset: no WARN (one would fail the test)
            s = mm.install_special_mapping(4 * P, 2 * P, kernel.flag("VM_READ", "VM_MAYREAD"))
        assert s.is_anonymous
        assert s.pgoff == 4

    def test_special_mapping_over_an_existing_vma(self, kernel, mm):
        """
        0123                0123
         **A         ->     AAAA   (-ENOMEM)
        AAAA
        """
        place(mm, 0, 4 * P, 0, rw(kernel))
        with pytest.raises(KernelError) as failed:
            mm.install_special_mapping(P, 2 * P, kernel.flag("VM_READ"), ops=["close"])
        assert failed.value.ret == ENOMEM
        assert spans(mm) == [(0, 4, 0)]
        assert mm.counters["total_vm"] == 4

    def test_special_mapping_allocation_failure(self, kernel, mm):
        """
        0123            0123
        **       ->              (-ENOMEM: no VMA)
        """
        kernel.fail("vma_alloc")
        with pytest.raises(KernelError) as failed:
            mm.install_special_mapping(0, 2 * P, kernel.flag("VM_READ"), ops=[])
        assert failed.value.ret == ENOMEM
        assert mm.map_count == 0


@pytest.mark.requires("vma_mmu_pagesize")
def test_vma_mmu_pagesize(kernel, mm):
    """The MMU page size of an ordinary VMA is the base page size.

    0123
    AAAA    (4096)
    """
    a = place(mm, 0, 4 * P, 0, rw(kernel))
    assert a.mmu_pagesize == P
