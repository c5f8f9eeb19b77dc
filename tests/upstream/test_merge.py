# SPDX-License-Identifier: GPL-2.0-or-later
"""Port of upstream tools/testing/vma/tests/merge.c (test names kept).

Layouts are drawn as in upstream's comments: one column a page, letters for VMAs,
``*`` for the range being merged.
"""
import itertools

import pytest

P = 0x1000


def rw(k) -> int:
    return k.flag("VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")


def try_merge_new_vma(mm, start, end, pgoff, flags):
    """upstream try_merge_new_vma(): merge, or map a new VMA when nothing merges."""
    vma, state = mm.merge_new(start, end, pgoff, flags)
    if vma is not None:
        assert state == "success"
        return vma, True
    assert state == "nomerge"
    return mm.map(start, end, pgoff, flags), False


def test_simple_merge(kernel, mm):
    """
    0123
    A*B   ->   AAA
    """
    flags = rw(kernel)
    mm.map(0, 0x1000, 0, flags)
    mm.map(0x2000, 0x3000, 2, flags)

    vma, state = mm.merge_new(0x1000, 0x2000, 1, flags)

    assert vma is not None and state == "success"
    assert (vma.start, vma.end, vma.pgoff, vma.anon_pgoff) == (0, 0x3000, 0, 0)
    assert vma.flags == flags
    assert mm.map_count == 1


STICKY_CASES = list(itertools.product([False, True], repeat=4))


@pytest.mark.requires("sticky")
@pytest.mark.parametrize(
    "is_sticky,a_is_sticky,b_is_sticky,c_is_sticky", STICKY_CASES,
    ids=["new%d-a%d-b%d-c%d" % tuple(map(int, c)) for c in STICKY_CASES])
def test_merge_new(kernel, mm, is_sticky, a_is_sticky, b_is_sticky, c_is_sticky):
    sticky = kernel.sticky_mask
    assert sticky, "the tree has the sticky feature but its mask reads as empty"
    flags = rw(kernel) | (sticky if is_sticky else 0)
    av = kernel.anon_vma()

    def has_sticky(vma):
        return bool(vma.flags & sticky)

    # 0123456789abc
    # AA B       CC
    vma_a = mm.map(0, 0x2000, 0, flags)
    if a_is_sticky:
        vma_a.set_flags(vma_a.flags | sticky)
    vma_a.add_avc(av)
    vma_b = mm.map(0x3000, 0x4000, 3, flags)
    if b_is_sticky:
        vma_b.set_flags(vma_b.flags | sticky)
    vma_b.add_avc(av)
    vma_c = mm.map(0xb000, 0xc000, 0xb, flags)
    if c_is_sticky:
        vma_c.set_flags(vma_c.flags | sticky)
    vma_c.add_avc(av)

    # NO merge.
    # 0123456789abc
    # AA B   **  CC
    vma_d, merged = try_merge_new_vma(mm, 0x7000, 0x9000, 7, flags)
    vma_d.add_avc(av)
    assert not merged
    assert mm.map_count == 4

    # Merge BOTH sides.
    # 0123456789abc
    # AA*B   DD  CC
    vma_a.set_vm_ops(close=True)      # should have no impact
    vma_b.set_anon_vma(av)
    vma, merged = try_merge_new_vma(mm, 0x2000, 0x3000, 2, flags)
    assert vma == vma_a and merged     # merge with A, delete B
    assert (vma.start, vma.end, vma.pgoff) == (0, 0x4000, 0)
    assert vma.anon_vma == av
    assert vma.write_started()
    assert mm.map_count == 3
    if is_sticky or a_is_sticky or b_is_sticky:
        assert has_sticky(vma)

    # Merge to PREVIOUS VMA.
    # 0123456789abc
    # AAAA*  DD  CC
    vma, merged = try_merge_new_vma(mm, 0x4000, 0x5000, 4, flags)
    assert vma == vma_a and merged
    assert (vma.start, vma.end, vma.pgoff, vma.anon_pgoff) == (0, 0x5000, 0, 0)
    assert vma.anon_vma == av
    assert vma.write_started()
    assert mm.map_count == 3
    if is_sticky or a_is_sticky:
        assert has_sticky(vma)

    # Merge to NEXT VMA.
    # 0123456789abc
    # AAAAA *DD  CC
    vma_d.set_anon_vma(av)
    vma_d.set_vm_ops(close=True)      # should have no impact
    vma, merged = try_merge_new_vma(mm, 0x6000, 0x7000, 6, flags)
    assert vma == vma_d and merged
    assert (vma.start, vma.end, vma.pgoff, vma.anon_pgoff) == (0x6000, 0x9000, 6, 6)
    assert vma.anon_vma == av
    assert vma.write_started()
    assert mm.map_count == 3
    if is_sticky:                      # D uses is_sticky
        assert has_sticky(vma)

    # Merge BOTH sides.
    # 0123456789abc
    # AAAAA*DDD  CC
    vma_d.set_vm_ops(close=None)       # would otherwise degrade the merge
    vma, merged = try_merge_new_vma(mm, 0x5000, 0x6000, 5, flags)
    assert vma == vma_a and merged     # merge with A, delete D
    assert (vma.start, vma.end, vma.pgoff, vma.anon_pgoff) == (0, 0x9000, 0, 0)
    assert vma.anon_vma == av
    assert vma.write_started()
    assert mm.map_count == 2
    if is_sticky or a_is_sticky:
        assert has_sticky(vma)

    # Merge to NEXT VMA.
    # 0123456789abc
    # AAAAAAAAA *CC
    vma_c.set_anon_vma(av)
    vma, merged = try_merge_new_vma(mm, 0xa000, 0xb000, 0xa, flags)
    assert vma == vma_c and merged     # prepend C
    assert (vma.start, vma.end, vma.pgoff, vma.anon_pgoff) == (0xa000, 0xc000, 0xa, 0xa)
    assert vma.anon_vma == av
    assert vma.write_started()
    assert mm.map_count == 2
    if is_sticky or c_is_sticky:
        assert has_sticky(vma)

    # Merge BOTH sides.
    # 0123456789abc
    # AAAAAAAAA*CCC
    vma, merged = try_merge_new_vma(mm, 0x9000, 0xa000, 0x9, flags)
    assert vma == vma_a and merged     # extend A and delete C
    assert (vma.start, vma.end, vma.pgoff, vma.anon_pgoff) == (0, 0xc000, 0, 0)
    assert vma.anon_vma == av
    assert vma.write_started()
    assert mm.map_count == 1
    if is_sticky or a_is_sticky or c_is_sticky:
        assert has_sticky(vma)

    # Final state.
    # 0123456789abc
    # AAAAAAAAAAAAA
    layout = mm.layout()
    assert [(r.start, r.end, r.pgoff) for r in layout] == [(0, 0xc000, 0)]
    assert mm.close() == 1
