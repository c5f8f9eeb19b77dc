# SPDX-License-Identifier: GPL-2.0-or-later
"""Port of upstream tools/testing/vma/tests/merge.c (7.3) and of the same tests in
tools/testing/vma/vma.c (6.12), test names kept.

Layouts are drawn as in upstream's comments: one column a page, letters for VMAs,
``*`` for the range being merged, ``<->`` for the range being modified.  Where a
tree's own upstream test differs, the test follows that tree (``suite(kernel)``).
"""
import errno

import pytest

from .shared import (alloc_and_link_vma, alloc_vma, assert_attached, attach_vma, errno_of,
                     merge_existing, merge_new, offsets, rw, set_dummy_anon_vma,
                     set_expand_target, sticky_cases, suite, try_merge_new_vma,
                     vmg_set_range_anon_vma)


def test_simple_merge(kernel, mm):
    """
    0123
    A*B   ->   AAA
    """
    flags = rw(kernel)
    vma_left = alloc_vma(mm, 0, 0x1000, 0, flags)
    vma_right = alloc_vma(mm, 0x2000, 0x3000, 2, flags)
    vmg = mm.vmg(mm.vmi(0x1000))
    vmg.start, vmg.end, vmg.flags, vmg.pgoff = 0x1000, 0x2000, flags, 1
    if kernel.has("anon_pgoff"):
        vmg.anon_pgoff = 1

    assert attach_vma(mm, vma_left) == 0
    assert attach_vma(mm, vma_right) == 0

    vma = merge_new(vmg)
    assert vma is not None

    assert (vma.start, vma.end) == (0, 0x3000)
    assert offsets(vma) == (0, 0)
    assert vma.flags == flags
    assert mm.map_count == 1


def test_simple_modify(kernel, mm):
    """
    0123        0123
    AAA   ->    ABC   (split only: vma_modify_flags() does not set the flags)
    """
    flags = rw(kernel)
    init_vma = alloc_vma(mm, 0, 0x3000, 0, flags)
    vmi = mm.vmi(0x1000)
    assert attach_vma(mm, init_vma) == 0

    # 7.3 asks for the VMA's own flags, 6.12 for VM_READ | VM_MAYREAD: either way
    # the flags are not changed, vma_modify_flags() only merges/splits
    new_flags = flags if suite(kernel) == "7.3" else kernel.flag("VM_READ", "VM_MAYREAD")
    vma = mm.modify_flags(vmi, init_vma, init_vma, 0x1000, 0x2000, new_flags)
    # the provided VMA is modified; the split allocates the others
    assert vma == init_vma

    assert (vma.start, vma.end) == (0x1000, 0x2000)
    assert offsets(vma) == (1, 1)

    # walk the three VMAs the split left
    vmi.set(0)
    vma = vmi.load()
    assert (vma.start, vma.end) == (0, 0x1000)
    assert offsets(vma) == (0, 0)

    vma = vmi.next()
    assert (vma.start, vma.end) == (0x1000, 0x2000)
    assert offsets(vma) == (1, 1)

    vma = vmi.next()
    assert (vma.start, vma.end) == (0x2000, 0x3000)
    assert offsets(vma) == (2, 2)


def test_simple_expand(kernel, mm):
    """
    0123
    A     ->   AAA
    """
    flags = rw(kernel)
    vma = alloc_vma(mm, 0, 0x1000, 0, flags)
    vmg = mm.vmg(mm.vmi(0))
    set_expand_target(kernel, vmg, vma)
    vmg.start, vmg.end, vmg.pgoff = 0, 0x3000, 0

    assert attach_vma(mm, vma) == 0

    vmg.expand()

    assert (vma.start, vma.end) == (0, 0x3000)
    assert offsets(vma) == (0, 0)


def test_simple_shrink(kernel, mm):
    """
    0123
    AAA   ->   A
    """
    flags = rw(kernel)
    vma = alloc_vma(mm, 0, 0x3000, 0, flags)
    assert attach_vma(mm, vma) == 0

    mm.shrink(vma, 0, 0x1000, 0)

    assert (vma.start, vma.end) == (0, 0x1000)
    assert offsets(vma) == (0, 0)


@pytest.mark.parametrize("is_sticky,a_is_sticky,b_is_sticky,c_is_sticky",
                         sticky_cases(4, ("new", "a", "b", "c")))
def test_merge_new(kernel, mm, is_sticky, a_is_sticky, b_is_sticky, c_is_sticky):
    sticky = kernel.sticky_mask
    if is_sticky or a_is_sticky or b_is_sticky or c_is_sticky:
        assert sticky, "the tree has the sticky feature but its mask reads as empty"
    flags = rw(kernel) | (sticky if is_sticky else 0)
    dummy_anon_vma = kernel.anon_vma()
    vmg = mm.vmg(mm.vmi(0))

    def has_sticky(vma):
        return bool(vma.flags & sticky)

    # 0123456789abc
    # AA B       CC
    vma_a = alloc_and_link_vma(mm, 0, 0x2000, 0, flags)
    if a_is_sticky:
        vma_a.set_flags(vma_a.flags | sticky)
    # each VMA gets a single avc so that anon_vma duplication is tested
    vma_a.add_avc(dummy_anon_vma)

    vma_b = alloc_and_link_vma(mm, 0x3000, 0x4000, 3, flags)
    if b_is_sticky:
        vma_b.set_flags(vma_b.flags | sticky)
    vma_b.add_avc(dummy_anon_vma)

    vma_c = alloc_and_link_vma(mm, 0xb000, 0xc000, 0xb, flags)
    if c_is_sticky:
        vma_c.set_flags(vma_c.flags | sticky)
    vma_c.add_avc(dummy_anon_vma)

    # NO merge.
    # 0123456789abc
    # AA B   **  CC
    vma_d, merged = try_merge_new_vma(mm, vmg, 0x7000, 0x9000, 7, flags)
    vma_d.add_avc(dummy_anon_vma)
    assert not merged
    assert mm.map_count == 4

    # Merge BOTH sides.
    # 0123456789abc
    # AA*B   DD  CC
    vma_a.set_vm_ops(close=True)      # should have no impact
    vma_b.set_anon_vma(dummy_anon_vma)
    vma, merged = try_merge_new_vma(mm, vmg, 0x2000, 0x3000, 2, flags)
    assert vma == vma_a
    assert merged                      # merge with A, delete B
    assert (vma.start, vma.end) == (0, 0x4000)
    assert vma.pgoff == 0
    assert vma.anon_vma == dummy_anon_vma
    assert vma.write_started()
    assert mm.map_count == 3
    if is_sticky or a_is_sticky or b_is_sticky:
        assert has_sticky(vma)

    # Merge to PREVIOUS VMA.
    # 0123456789abc
    # AAAA*  DD  CC
    vma, merged = try_merge_new_vma(mm, vmg, 0x4000, 0x5000, 4, flags)
    assert vma == vma_a
    assert merged                      # extend A
    assert (vma.start, vma.end) == (0, 0x5000)
    assert offsets(vma) == (0, 0)
    assert vma.anon_vma == dummy_anon_vma
    assert vma.write_started()
    assert mm.map_count == 3
    if is_sticky or a_is_sticky:
        assert has_sticky(vma)

    # Merge to NEXT VMA.
    # 0123456789abc
    # AAAAA *DD  CC
    vma_d.set_anon_vma(dummy_anon_vma)
    vma_d.set_vm_ops(close=True)      # should have no impact
    vma, merged = try_merge_new_vma(mm, vmg, 0x6000, 0x7000, 6, flags)
    assert vma == vma_d
    assert merged                      # prepend
    assert (vma.start, vma.end) == (0x6000, 0x9000)
    assert offsets(vma) == (6, 6)
    assert vma.anon_vma == dummy_anon_vma
    assert vma.write_started()
    assert mm.map_count == 3
    if is_sticky:                      # D uses is_sticky
        assert has_sticky(vma)

    # Merge BOTH sides.
    # 0123456789abc
    # AAAAA*DDD  CC
    vma_d.set_vm_ops(close=None)       # would otherwise degrade the merge
    vma, merged = try_merge_new_vma(mm, vmg, 0x5000, 0x6000, 5, flags)
    assert vma == vma_a
    assert merged                      # merge with A, delete D
    assert (vma.start, vma.end) == (0, 0x9000)
    assert offsets(vma) == (0, 0)
    assert vma.anon_vma == dummy_anon_vma
    assert vma.write_started()
    assert mm.map_count == 2
    if is_sticky or a_is_sticky:
        assert has_sticky(vma)

    # Merge to NEXT VMA.
    # 0123456789abc
    # AAAAAAAAA *CC
    vma_c.set_anon_vma(dummy_anon_vma)
    vma, merged = try_merge_new_vma(mm, vmg, 0xa000, 0xb000, 0xa, flags)
    assert vma == vma_c
    assert merged                      # prepend C
    assert (vma.start, vma.end) == (0xa000, 0xc000)
    assert offsets(vma) == (0xa, 0xa)
    assert vma.anon_vma == dummy_anon_vma
    assert vma.write_started()
    assert mm.map_count == 2
    if is_sticky or c_is_sticky:
        assert has_sticky(vma)

    # Merge BOTH sides.
    # 0123456789abc
    # AAAAAAAAA*CCC
    vma, merged = try_merge_new_vma(mm, vmg, 0x9000, 0xa000, 0x9, flags)
    assert vma == vma_a
    assert merged                      # extend A and delete C
    assert (vma.start, vma.end) == (0, 0xc000)
    assert offsets(vma) == (0, 0)
    assert vma.anon_vma == dummy_anon_vma
    assert vma.write_started()
    assert mm.map_count == 1
    if is_sticky or a_is_sticky or c_is_sticky:
        assert has_sticky(vma)

    # Final state.
    # 0123456789abc
    # AAAAAAAAAAAAA
    vmas = mm.vmas()
    for vma in vmas:
        assert vma is not None
        assert (vma.start, vma.end) == (0, 0xc000)
        assert offsets(vma) == (0, 0)
        assert vma.anon_vma == dummy_anon_vma
    # only one VMA left after all is done
    assert len(vmas) == 1
    assert mm.cleanup() == 1


def test_vma_merge_special_flags(kernel, mm):
    flags = rw(kernel)
    vmg = mm.vmg(mm.vmi(0))
    special_flags = [kernel.flag(n) for n in ("VM_IO", "VM_DONTEXPAND", "VM_PFNMAP",
                                              "VM_MIXEDMAP")]

    # no new VM_SPECIAL flags
    all_special_flags = 0
    for f in special_flags:
        all_special_flags |= f
    special = (kernel.mask("VMA_SPECIAL_FLAGS") if suite(kernel) == "7.3"
               else kernel.mask("VM_SPECIAL"))
    assert all_special_flags == special

    # 01234
    # AAA
    vma_left = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    assert vma_left is not None

    # 1. A new VMA with a special flag that would otherwise merge.
    #
    # 01234
    # AAA*
    vmg.set_range(0x3000, 0x4000, 3, flags)
    for special_flag in special_flags:
        vma_left.set_flags(flags | special_flag)
        vmg.flags = flags | special_flag
        vma = merge_new(vmg)
        assert vma is None
        assert vmg.state == "nomerge"

    # 2. Modify a VMA with a special flag that would otherwise merge.
    #
    # 01234
    # AAAB
    vma = alloc_and_link_vma(mm, 0x3000, 0x4000, 3, flags)
    assert vma is not None
    vmg.middle = vma

    for special_flag in special_flags:
        vma_left.set_flags(flags | special_flag)
        vmg.flags = flags | special_flag
        vma = merge_existing(vmg)
        assert vma is None
        assert vmg.state == "nomerge"

    mm.cleanup()


def test_vma_merge_with_close(kernel, mm):
    """No merge may remove a VMA whose vm_ops has ->close().  A new-range merge that
    would delete next is reduced to extending prev; an existing-range merge that
    would delete the modified VMA does not happen; one that would delete next is
    reduced to merging prev and the VMA."""
    flags = rw(kernel)
    vmg = mm.vmg(mm.vmi(0))

    # 0123456789
    # PPP**NNNN
    #             ->
    # 0123456789
    # PPPPPPNNN
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    vma_next = alloc_and_link_vma(mm, 0x5000, 0x9000, 5, flags)
    vma_next.set_vm_ops(close=True)

    vmg.set_range(0x3000, 0x5000, 3, flags)
    assert merge_new(vmg) == vma_prev
    assert vmg.state == "success"
    assert (vma_prev.start, vma_prev.end) == (0, 0x5000)
    assert offsets(vma_prev) == (0, 0)

    assert mm.cleanup() == 2

    #    <>
    # 0123456789
    # PPPVV
    #
    # vma has a close hook: the merge cannot proceed.
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    vma = alloc_and_link_vma(mm, 0x3000, 0x5000, 3, flags)
    vma.set_vm_ops(close=True)

    vmg.set_range(0x3000, 0x5000, 3, flags)
    vmg.prev = vma_prev
    vmg.middle = vma

    # modifying the VMA in a way that would otherwise merge fails too
    assert merge_existing(vmg) is None
    assert vmg.state == "nomerge"

    assert mm.cleanup() == 2

    # Mirrored, merging with next.
    #    <>
    # 0123456789
    #    VVNNNN
    vma = alloc_and_link_vma(mm, 0x3000, 0x5000, 3, flags)
    vma_next = alloc_and_link_vma(mm, 0x5000, 0x9000, 5, flags)
    vma.set_vm_ops(close=True)

    vmg.set_range(0x3000, 0x5000, 3, flags)
    vmg.middle = vma
    assert merge_existing(vmg) is None
    assert vmg.state == "nomerge"

    assert mm.cleanup() == 2

    # Modify a VMA to merge with both prev and next; first variant: vma has a
    # close hook, no merge can proceed.
    #    <>
    # 0123456789
    # PPPVVNNNN
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    vma = alloc_and_link_vma(mm, 0x3000, 0x5000, 3, flags)
    vma_next = alloc_and_link_vma(mm, 0x5000, 0x9000, 5, flags)
    vma.set_vm_ops(close=True)

    vmg.set_range(0x3000, 0x5000, 3, flags)
    vmg.prev = vma_prev
    vmg.middle = vma

    assert merge_existing(vmg) is None
    assert vmg.state == "nomerge"

    assert mm.cleanup() == 3

    # Second variant: next has a close hook, reduced to merging prev and vma.
    #    <>
    # 0123456789
    # PPPVVNNNN
    #            ->
    # 0123456789
    # PPPPPNNNN
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    vma = alloc_and_link_vma(mm, 0x3000, 0x5000, 3, flags)
    vma_next = alloc_and_link_vma(mm, 0x5000, 0x9000, 5, flags)
    vma_next.set_vm_ops(close=True)

    vmg.set_range(0x3000, 0x5000, 3, flags)
    vmg.prev = vma_prev
    vmg.middle = vma

    assert merge_existing(vmg) == vma_prev
    assert vmg.state == "success"
    assert (vma_prev.start, vma_prev.end) == (0, 0x5000)
    assert offsets(vma_prev) == (0, 0)

    assert mm.cleanup() == 2


def test_vma_merge_new_with_close(kernel, mm):
    """A new VMA between two with ->close() merges partially: A is extended, B is
    left as it is.

           New VMA
       A  v-------v  B
    |-----|       |-----|     ->    |------------||-----|
     close         close             close         close
    """
    flags = rw(kernel)
    vmg = mm.vmg(mm.vmi(0))
    vma_prev = alloc_and_link_vma(mm, 0, 0x2000, 0, flags)
    vma_next = alloc_and_link_vma(mm, 0x5000, 0x7000, 5, flags)

    vma_prev.set_vm_ops(close=True)
    vma_next.set_vm_ops(close=True)

    vmg.set_range(0x2000, 0x5000, 2, flags)
    vma = merge_new(vmg)
    assert vma is not None
    assert vmg.state == "success"
    assert (vma.start, vma.end) == (0, 0x5000)
    assert offsets(vma) == (0, 0)
    assert vma.vm_ops is True
    assert vma.write_started()
    assert mm.map_count == 2

    mm.cleanup()


@pytest.mark.parametrize("prev_is_sticky,middle_is_sticky,next_is_sticky",
                         sticky_cases(3, ("prev", "middle", "next")))
def test_merge_existing(kernel, mm, prev_is_sticky, middle_is_sticky, next_is_sticky):
    sticky = kernel.sticky_mask
    flags = rw(kernel)
    prev_flags = flags | (sticky if prev_is_sticky else 0)
    next_flags = flags | (sticky if next_is_sticky else 0)
    flags |= sticky if middle_is_sticky else 0
    dummy_anon_vma = kernel.anon_vma()
    vmg = mm.vmg(mm.vmi(0))
    new_suite = suite(kernel) == "7.3"

    def has_sticky(vma):
        return bool(vma.flags & sticky)

    def set_range(start, end, pgoff):
        # 7.3: the request carries the anon_vma and vma has one chain entry;
        # 6.12: only vma->anon_vma is set
        if new_suite:
            vmg_set_range_anon_vma(vmg, start, end, pgoff, flags, dummy_anon_vma)
        else:
            vmg.set_range(start, end, pgoff, flags)

    def dummy_anon(vma):
        if new_suite:
            set_dummy_anon_vma(vma, dummy_anon_vma)
        else:
            vma.set_anon_vma(dummy_anon_vma)

    # Merge right case - partial span.
    #    <->
    # 0123456789
    #   VVVVNNN
    #            ->
    # 0123456789
    #   VNNNNNN
    vma = alloc_and_link_vma(mm, 0x2000, 0x6000, 2, flags)
    vma.set_vm_ops(close=True)         # should have no impact
    vma_next = alloc_and_link_vma(mm, 0x6000, 0x9000, 6, next_flags)
    vma_next.set_vm_ops(close=True)    # should have no impact
    set_range(0x3000, 0x6000, 3)
    vmg.middle = vma
    vmg.prev = vma
    dummy_anon(vma)
    assert merge_existing(vmg) == vma_next
    assert vmg.state == "success"
    assert (vma_next.start, vma_next.end) == (0x3000, 0x9000)
    assert offsets(vma_next) == (3, 3)
    assert vma_next.anon_vma == dummy_anon_vma
    assert (vma.start, vma.end) == (0x2000, 0x3000)
    assert offsets(vma) == (2, 2)
    assert vma.write_started()
    assert vma_next.write_started()
    assert mm.map_count == 2
    if middle_is_sticky or next_is_sticky:
        assert has_sticky(vma_next)

    # Clear down and reset.
    assert mm.cleanup() == 2

    # Merge right case - full span.
    #   <-->
    # 0123456789
    #   VVVVNNN
    #            ->
    # 0123456789
    #   NNNNNNN
    vma = alloc_and_link_vma(mm, 0x2000, 0x6000, 2, flags)
    vma_next = alloc_and_link_vma(mm, 0x6000, 0x9000, 6, next_flags)
    vma_next.set_vm_ops(close=True)    # should have no impact
    set_range(0x2000, 0x6000, 2)
    vmg.middle = vma
    dummy_anon(vma)
    assert merge_existing(vmg) == vma_next
    assert vmg.state == "success"
    assert (vma_next.start, vma_next.end) == (0x2000, 0x9000)
    assert offsets(vma_next) == (2, 2)
    assert vma_next.anon_vma == dummy_anon_vma
    assert vma_next.write_started()
    assert mm.map_count == 1
    if middle_is_sticky or next_is_sticky:
        assert has_sticky(vma_next)

    # Clear down and reset: vma was deleted.
    assert mm.cleanup() == 1

    # Merge left case - partial span.
    #    <->
    # 0123456789
    # PPPVVVV
    #            ->
    # 0123456789
    # PPPPPPV
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, prev_flags)
    vma_prev.set_vm_ops(close=True)    # should have no impact
    vma = alloc_and_link_vma(mm, 0x3000, 0x7000, 3, flags)
    vma.set_vm_ops(close=True)         # should have no impact
    set_range(0x3000, 0x6000, 3)
    vmg.prev = vma_prev
    vmg.middle = vma
    dummy_anon(vma)
    assert merge_existing(vmg) == vma_prev
    assert vmg.state == "success"
    assert (vma_prev.start, vma_prev.end) == (0, 0x6000)
    assert offsets(vma_prev) == (0, 0)
    assert vma_prev.anon_vma == dummy_anon_vma
    assert (vma.start, vma.end) == (0x6000, 0x7000)
    assert offsets(vma) == (6, 6)
    assert vma_prev.write_started()
    assert vma.write_started()
    assert mm.map_count == 2
    if prev_is_sticky or middle_is_sticky:
        assert has_sticky(vma_prev)

    # Clear down and reset.
    assert mm.cleanup() == 2

    # Merge left case - full span.
    #    <-->
    # 0123456789
    # PPPVVVV
    #            ->
    # 0123456789
    # PPPPPPP
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, prev_flags)
    vma_prev.set_vm_ops(close=True)    # should have no impact
    vma = alloc_and_link_vma(mm, 0x3000, 0x7000, 3, flags)
    set_range(0x3000, 0x7000, 3)
    vmg.prev = vma_prev
    vmg.middle = vma
    dummy_anon(vma)
    assert merge_existing(vmg) == vma_prev
    assert vmg.state == "success"
    assert (vma_prev.start, vma_prev.end) == (0, 0x7000)
    assert offsets(vma_prev) == (0, 0)
    assert vma_prev.anon_vma == dummy_anon_vma
    assert vma_prev.write_started()
    assert mm.map_count == 1
    if prev_is_sticky or middle_is_sticky:
        assert has_sticky(vma_prev)

    # Clear down and reset: vma was deleted.
    assert mm.cleanup() == 1

    # Merge both case.
    #    <-->
    # 0123456789
    # PPPVVVVNNN
    #             ->
    # 0123456789
    # PPPPPPPPPP
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, prev_flags)
    vma_prev.set_vm_ops(close=True)    # should have no impact
    vma = alloc_and_link_vma(mm, 0x3000, 0x7000, 3, flags)
    vma_next = alloc_and_link_vma(mm, 0x7000, 0x9000, 7, next_flags)
    set_range(0x3000, 0x7000, 3)
    vmg.prev = vma_prev
    vmg.middle = vma
    dummy_anon(vma)
    assert merge_existing(vmg) == vma_prev
    assert vmg.state == "success"
    assert (vma_prev.start, vma_prev.end) == (0, 0x9000)
    assert offsets(vma_prev) == (0, 0)
    assert vma_prev.anon_vma == dummy_anon_vma
    assert vma_prev.write_started()
    assert mm.map_count == 1
    if prev_is_sticky or middle_is_sticky or next_is_sticky:
        assert has_sticky(vma_prev)

    # Clear down and reset: prev and next were deleted.
    assert mm.cleanup() == 1

    # Non-merge ranges: the modified-range merge assumes the range is within the
    # input VMA, so only these cases need examining.
    #
    #     -
    #      -
    #       -
    #     <->
    #     <>
    #      <>
    # 0123456789a
    # PPPVVVVVNNN
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, prev_flags)
    vma = alloc_and_link_vma(mm, 0x3000, 0x8000, 3, flags)
    vma_next = alloc_and_link_vma(mm, 0x8000, 0xa000, 8, next_flags)

    for start, end, pgoff in ((0x4000, 0x5000, 4), (0x5000, 0x6000, 5), (0x6000, 0x7000, 6),
                              (0x4000, 0x7000, 4), (0x4000, 0x6000, 4), (0x5000, 0x6000, 5)):
        vmg.set_range(start, end, pgoff, flags)
        vmg.prev = vma
        vmg.middle = vma
        assert merge_existing(vmg) is None
        assert vmg.state == "nomerge"

    assert mm.cleanup() == 3


def test_anon_vma_non_mergeable(kernel, mm):
    """A modified-range merge of both neighbours whose anon_vmas are incompatible
    reverts to merging prev and the VMA; the same for a new range."""
    flags = rw(kernel)
    vmg = mm.vmg(mm.vmi(0))
    dummy_anon_vma = kernel.anon_vma()
    dummy_anon_vma_2 = kernel.anon_vma()

    #    <-->
    # 0123456789
    # PPPVVVVNNN
    #            ->
    # 0123456789
    # PPPPPPPNNN
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    vma = alloc_and_link_vma(mm, 0x3000, 0x7000, 3, flags)
    vma_next = alloc_and_link_vma(mm, 0x7000, 0x9000, 7, flags)

    # prev and next each get a single anon_vma_chain entry so that they merge with
    # the request's NULL anon_vma; prev and next do not merge with each other
    if suite(kernel) == "7.3":
        vmg_set_range_anon_vma(vmg, 0x3000, 0x7000, 3, flags, None)
        vmg.prev = vma_prev
        vmg.middle = vma
        set_dummy_anon_vma(vma_prev, dummy_anon_vma)
        set_dummy_anon_vma(vma_next, dummy_anon_vma_2)
    else:
        vma_prev.add_avc(dummy_anon_vma)
        assert vma_prev.avc_count == 1
        vma_prev.set_anon_vma(dummy_anon_vma)
        assert kernel.is_mergeable_anon_vma(None, vma_prev.anon_vma, vma_prev)

        vma_next.add_avc(dummy_anon_vma)
        assert vma_next.avc_count == 1
        vma_next.set_anon_vma(dummy_anon_vma_2)       # upstream: (struct anon_vma *)2
        assert kernel.is_mergeable_anon_vma(None, vma_next.anon_vma, vma_next)

        assert not kernel.is_mergeable_anon_vma(vma_prev.anon_vma, vma_next.anon_vma, None)

        vmg.set_range(0x3000, 0x7000, 3, flags)
        vmg.prev = vma_prev
        vmg.middle = vma

    assert merge_existing(vmg) == vma_prev
    assert vmg.state == "success"
    assert (vma_prev.start, vma_prev.end) == (0, 0x7000)
    assert offsets(vma_prev) == (0, 0)
    assert vma_prev.write_started()
    assert not vma_next.write_started()

    # Clear down and reset.
    assert mm.cleanup() == 2

    # The new-range case: a new VMA in the gap between prev and next.
    #    <-->
    # 0123456789
    # PPP****NNN
    #            ->
    # 0123456789
    # PPPPPPPNNN
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    vma_next = alloc_and_link_vma(mm, 0x7000, 0x9000, 7, flags)

    if suite(kernel) == "7.3":
        vmg_set_range_anon_vma(vmg, 0x3000, 0x7000, 3, flags, None)
        vmg.prev = vma_prev
        set_dummy_anon_vma(vma_prev, dummy_anon_vma)
        set_dummy_anon_vma(vma_next, dummy_anon_vma_2)
        vmg.anon_vma = None
    else:
        vma_prev.add_avc(dummy_anon_vma)
        vma_prev.set_anon_vma(kernel.anon_vma())      # upstream: (struct anon_vma *)1
        vma_next.add_avc(dummy_anon_vma)
        vma_next.set_anon_vma(dummy_anon_vma_2)       # upstream: (struct anon_vma *)2
        vmg.set_range(0x3000, 0x7000, 3, flags)
        vmg.prev = vma_prev

    assert merge_new(vmg) == vma_prev
    assert vmg.state == "success"
    assert (vma_prev.start, vma_prev.end) == (0, 0x7000)
    assert offsets(vma_prev) == (0, 0)
    assert vma_prev.write_started()
    assert not vma_next.write_started()

    # Final cleanup.
    assert mm.cleanup() == 2


def test_dup_anon_vma(kernel, mm):
    flags = rw(kernel)
    vmg = mm.vmg(mm.vmi(0))
    dummy_anon_vma = kernel.anon_vma()
    new_suite = suite(kernel) == "7.3"

    def vma_with_anon_vma(vma):
        # 7.3: anon_vma and one chain entry; 6.12: only vma->anon_vma
        if new_suite:
            set_dummy_anon_vma(vma, dummy_anon_vma)
        else:
            vma.set_anon_vma(dummy_anon_vma)

    dummy_anon_vma.reset()

    # Expanding a VMA to delete the next one duplicates next's anon_vma and gives it
    # to the expanded VMA (new VMA merges amount to an expand too).
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    vma_next = alloc_and_link_vma(mm, 0x3000, 0x5000, 3, flags)
    vma_next.set_anon_vma(dummy_anon_vma)

    vmg.set_range(0, 0x5000, 0, flags)
    set_expand_target(kernel, vmg, vma_prev)
    vmg.next = vma_next

    vmg.expand()

    # it was cloned
    assert vma_prev.anon_vma == dummy_anon_vma
    assert vma_prev.anon_vma.was_cloned

    mm.cleanup()

    # next has anon_vma, we assign to prev.
    #
    #         |<----->|
    # |-------*********-------|
    #   prev     vma     next
    #  extend   delete  delete
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    vma = alloc_and_link_vma(mm, 0x3000, 0x5000, 3, flags)
    vma_next = alloc_and_link_vma(mm, 0x5000, 0x8000, 5, flags)

    # an avc so that the mergeability check passes
    vma_next.add_avc(dummy_anon_vma)

    vma_next.set_anon_vma(dummy_anon_vma)
    vmg.set_range(0x3000, 0x5000, 3, flags)
    vmg.prev = vma_prev
    vmg.middle = vma

    assert merge_existing(vmg) == vma_prev
    assert vmg.state == "success"

    assert (vma_prev.start, vma_prev.end) == (0, 0x8000)

    assert vma_prev.anon_vma == dummy_anon_vma
    assert vma_prev.anon_vma.was_cloned

    mm.cleanup()

    # vma has anon_vma, we assign to prev.
    #
    #         |<----->|
    # |-------*********-------|
    #   prev     vma     next
    #  extend   delete  delete
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    vma = alloc_and_link_vma(mm, 0x3000, 0x5000, 3, flags)
    vma_next = alloc_and_link_vma(mm, 0x5000, 0x8000, 5, flags)
    if new_suite:
        vmg.anon_vma = dummy_anon_vma
    vma_with_anon_vma(vma)
    vmg.set_range(0x3000, 0x5000, 3, flags)
    vmg.prev = vma_prev
    vmg.middle = vma

    assert merge_existing(vmg) == vma_prev
    assert vmg.state == "success"

    assert (vma_prev.start, vma_prev.end) == (0, 0x8000)

    assert vma_prev.anon_vma == dummy_anon_vma
    assert vma_prev.anon_vma.was_cloned

    mm.cleanup()

    # vma has anon_vma, we assign to prev.
    #
    #         |<----->|
    # |-------*************
    #   prev       vma
    #  extend shrink/delete
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    vma = alloc_and_link_vma(mm, 0x3000, 0x8000, 3, flags)

    vma_with_anon_vma(vma)
    vmg.set_range(0x3000, 0x5000, 3, flags)
    vmg.prev = vma_prev
    vmg.middle = vma

    assert merge_existing(vmg) == vma_prev
    assert vmg.state == "success"

    assert (vma_prev.start, vma_prev.end) == (0, 0x5000)

    assert vma_prev.anon_vma == dummy_anon_vma
    assert vma_prev.anon_vma.was_cloned

    mm.cleanup()

    # vma has anon_vma, we assign to next.
    #
    #     |<----->|
    # *************-------|
    #      vma       next
    # shrink/delete extend
    vma = alloc_and_link_vma(mm, 0, 0x5000, 0, flags)
    vma_next = alloc_and_link_vma(mm, 0x5000, 0x8000, 5, flags)

    vma_with_anon_vma(vma)
    vmg.set_range(0x3000, 0x5000, 3, flags)
    vmg.prev = vma
    vmg.middle = vma

    assert merge_existing(vmg) == vma_next
    assert vmg.state == "success"

    assert (vma_next.start, vma_next.end) == (0x3000, 0x8000)

    assert vma_next.anon_vma == dummy_anon_vma
    assert vma_next.anon_vma.was_cloned

    mm.cleanup()


def test_vmi_prealloc_fail(kernel, mm):
    """vma is merged into prev and its anon_vma duplicated; the iterator's
    preallocation fails: the duplicate must have been unlinked."""
    flags = rw(kernel)
    vmg = mm.vmg(mm.vmi(0))
    dummy_anon_vma = kernel.anon_vma()
    new_suite = suite(kernel) == "7.3"

    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    vma = alloc_and_link_vma(mm, 0x3000, 0x5000, 3, flags)
    vma.set_anon_vma(dummy_anon_vma)

    if new_suite:
        vmg_set_range_anon_vma(vmg, 0x3000, 0x5000, 3, flags, dummy_anon_vma)
    else:
        vmg.set_range(0x3000, 0x5000, 3, flags)
    vmg.prev = vma_prev
    vmg.middle = vma
    if new_suite:
        set_dummy_anon_vma(vma, dummy_anon_vma)

    kernel.fail_prealloc()

    # this makes the merge fail
    assert merge_existing(vmg) is None
    assert vmg.state == "nomem"
    # the anon_vma was assigned already
    assert vma_prev.anon_vma == dummy_anon_vma
    # and it was both cloned and unlinked
    assert dummy_anon_vma.was_cloned
    assert dummy_anon_vma.was_unlinked

    mm.cleanup()                        # resets fail_prealloc too

    # The same for expanding a VMA, what new-range merges come down to: the
    # unlinking is done there too.
    vma_prev = alloc_and_link_vma(mm, 0, 0x3000, 0, flags)
    vma = alloc_and_link_vma(mm, 0x3000, 0x5000, 3, flags)
    vma.set_anon_vma(dummy_anon_vma)

    vmg.set_range(0, 0x5000, 3, flags)
    set_expand_target(kernel, vmg, vma_prev)
    vmg.next = vma

    kernel.fail_prealloc()
    assert errno_of(vmg.expand) == -errno.ENOMEM
    assert vmg.state == "nomem"

    assert vma_prev.anon_vma == dummy_anon_vma
    assert dummy_anon_vma.was_cloned
    assert dummy_anon_vma.was_unlinked

    mm.cleanup()


def test_merge_extend(kernel, mm):
    flags = rw(kernel)
    vmi = mm.vmi(0x1000)

    vma = alloc_and_link_vma(mm, 0, 0x1000, 0, flags)
    alloc_and_link_vma(mm, 0x3000, 0x4000, 3, flags)

    # Extend a VMA into the gap between itself and the following VMA: a merge.
    #
    # <->
    # *  *
    assert mm.merge_extend(vmi, vma, 0x2000) == vma
    assert (vma.start, vma.end) == (0, 0x4000)
    assert offsets(vma) == (0, 0)
    assert vma.write_started()
    assert mm.map_count == 1

    mm.cleanup()


def test_expand_only_mode(kernel, mm):
    flags = rw(kernel)
    vmi = mm.vmi(0)
    # VMG_STATE(vmg, &mm, &vmi, 0x5000, 0x9000, flags, 5[, 5])
    vmg = mm.vmg(vmi)
    vmg.start, vmg.end, vmg.flags, vmg.pgoff = 0x5000, 0x9000, flags, 5
    if kernel.has("anon_pgoff"):
        vmg.anon_pgoff = 5

    # A VMA before the one being expanded, to assert that expand-only mode does not
    # go looking for the previous VMA.
    alloc_and_link_vma(mm, 0, 0x2000, 0, flags)

    # positioned at the prev VMA, expanding to 0x9000
    vmi.set(0x3000)
    vma_prev = alloc_and_link_vma(mm, 0x3000, 0x5000, 3, flags)
    vmg.prev = vma_prev
    vmg.just_expand = True

    vma = vmg.merge_new_range()
    assert vma is not None
    assert vma == vma_prev
    assert vmg.state == "success"
    assert (vma.start, vma.end) == (0x3000, 0x9000)
    assert offsets(vma) == (3, 3)
    assert vma.write_started()
    assert vmi.addr == 0x3000
    assert_attached(vma)

    mm.cleanup()
