# SPDX-License-Identifier: GPL-2.0-or-later
"""vma_wants_writenotify() and vma_needs_dirty_tracking(): whether a shared
writable mapping's pages must start write-protected (to catch the first write)
- for the driver's ->page_mkwrite / ->pfn_mkwrite, soft-dirty tracking, or a
filesystem that writes back dirty pages.

The harness's pgprot_modify() is a stub returning 0: a non-zero page_prot passed
in stands for protections a driver's ->mmap changed.
"""
import pytest

from .paths_helpers import P, need_soft_dirty, place, rw, shared, soft_dirty


def _vma(kernel, mm, flags, ops=(), file=None):
    v = place(mm, 0, 4 * P, 0, flags, file=file)
    if ops:
        v.set_ops(*ops)
    else:
        v.set_vm_ops(None)
    return v


@pytest.mark.parametrize("flags", ["private", "shared_ro"])
def test_not_shared_writable(kernel, mm, flags):
    """Private, or shared read-only: the write bit is already clear.

    0123            0123
    AAAA     ->     AAAA   (asked, not changed)
    """
    f = rw(kernel) if flags == "private" else kernel.flag("VM_READ", "VM_SHARED",
                                                           "VM_MAYSHARE", "VM_MAYREAD")
    v = _vma(kernel, mm, f, ops=["page_mkwrite"])
    assert not v.wants_writenotify()
    assert not v.needs_dirty_tracking()


@pytest.mark.parametrize("op", ["page_mkwrite", "pfn_mkwrite"])
def test_driver_wants_write_faults(kernel, mm, op):
    """The driver's mkwrite callback: wanted whatever the rest says.

    0123            0123
    AAAA     ->     AAAA   (asked, not changed)
    """
    v = _vma(kernel, mm, shared(kernel) | soft_dirty(kernel), ops=[op])
    assert v.wants_writenotify(page_prot=0x25)
    assert v.needs_dirty_tracking()


def test_changed_protections_win(kernel, mm):
    """Protections ->mmap changed (that pgprot_modify() would not keep): no
    write notification, even for soft-dirty tracking.

    0123            0123
    AAAA     ->     AAAA   (asked, not changed)
    """
    need_soft_dirty(kernel)
    v = _vma(kernel, mm, shared(kernel))
    assert v.wants_writenotify(page_prot=0)
    assert not v.wants_writenotify(page_prot=0x25)


def test_soft_dirty_tracking(kernel, mm):
    """Without VM_SOFTDIRTY the next write must be caught (to set it); with it,
    and no file to write back, no notification.  A build without soft-dirty
    (CONFIG_MEM_SOFT_DIRTY=n) has nothing to catch.

    0123            0123
    AAAA     ->     AAAA   (asked, not changed)
    """
    v = _vma(kernel, mm, shared(kernel))
    assert v.wants_writenotify() is bool(soft_dirty(kernel))
    assert not v.needs_dirty_tracking()
    if soft_dirty(kernel):
        v.set_flags(shared(kernel) | soft_dirty(kernel))
        assert not v.wants_writenotify()


@pytest.mark.parametrize("writeback", [True, False])
def test_filesystem_writeback(kernel, mm, writeback):
    """A file whose mapping can write back needs dirty tracking.

    0123            0123
    AAAA     ->     AAAA   (asked, not changed)
    """
    f = kernel.file(can_writeback=writeback)
    v = _vma(kernel, mm, shared(kernel) | soft_dirty(kernel), file=f)
    assert v.wants_writenotify() is writeback
    assert v.needs_dirty_tracking() is writeback


def test_pfnmap_has_nothing_to_write_back(kernel, mm):
    """A VM_PFNMAP mapping has no page cache pages to write back, whatever its
    file says.

    0123            0123
    AAAA     ->     AAAA   (asked, not changed)
    """
    f = kernel.file(can_writeback=True)
    v = _vma(kernel, mm, shared(kernel) | soft_dirty(kernel) | kernel.flag("VM_PFNMAP"),
             file=f)
    assert not v.wants_writenotify()
    assert not v.needs_dirty_tracking()
