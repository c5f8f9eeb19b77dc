# SPDX-License-Identifier: GPL-2.0-or-later
"""Port of upstream tools/testing/vma/tests/vma.c (7.3) and of test_copy_vma in
tools/testing/vma/vma.c (6.12), test names kept.

The vma_flags_t tests run the tree's own helpers (include/linux/mm.h and
mm_types.h, compiled into the build) through ``kernel.vma_flags``; flags are
Python ints, bit *i* being VMA flag bit *i*.  The parts upstream compiles only
when NUM_VMA_FLAG_BITS > 64 are taken when the build's bitmap is that wide.
"""
import pytest

from .shared import alloc_and_link_vma, assert_attached, rw, suite

READ, WRITE, EXEC = "VMA_READ_BIT", "VMA_WRITE_BIT", "VMA_EXEC_BIT"
MAYWRITE, MAYEXEC = "VMA_MAYWRITE_BIT", "VMA_MAYEXEC_BIT"
BITS_PER_LONG = 64
WORD = (1 << BITS_PER_LONG) - 1


def test_copy_vma(kernel, mm):
    flags = rw(kernel)
    need_locks = False

    if suite(kernel) == "7.3":
        # Move forwards, adjacent to old self - self-merge.
        #
        # 0123      0123
        #  A*   ->   AA
        vma = alloc_and_link_vma(mm, 0x1000, 0x2000, 1, flags)
        vma.set_vm_ops(None)            # vma_set_anonymous()
        vma_orig = vma
        vma_new, vma, need_locks = mm.copy_vma(vma, 0x2000, 0x1000, 1, 1, need_locks)
        assert vma_new == vma_orig
        assert vma == vma_orig
        assert (vma_new.start, vma_new.end) == (0x1000, 0x3000)

        mm.cleanup()

        # Move backwards, adjacent to old self - self-merge.
        #
        # 0123      0123
        #  *A   ->   AA
        vma = alloc_and_link_vma(mm, 0x2000, 0x3000, 2, flags)
        vma.set_vm_ops(None)
        vma_orig = vma
        vma_new, vma, need_locks = mm.copy_vma(vma, 0x1000, 0x1000, 2, 2, need_locks)
        assert vma_new == vma_orig
        assert vma == vma_orig
        assert (vma_new.start, vma_new.end) == (0x1000, 0x3000)

        mm.cleanup()

        # Move backwards between the prior VMA and old self - self-merge, and vma
        # updated to a new VMA.
        #
        # 01234      01234
        #  P*A   ->   PPP
        vma_prev = alloc_and_link_vma(mm, 0x1000, 0x2000, 1, flags)
        vma_prev.set_vm_ops(None)
        vma = alloc_and_link_vma(mm, 0x3000, 0x4000, 3, flags)
        vma.set_vm_ops(None)
        vma_orig = vma
        vma_new, vma, need_locks = mm.copy_vma(vma, 0x2000, 0x1000, 3, 3, need_locks)
        assert vma_new != vma_orig
        assert vma_new == vma
        assert (vma_new.start, vma_new.end) == (0x1000, 0x4000)

        mm.cleanup()

    # Move backwards and do not merge.
    #
    # 012345      012345
    # **AA    ->  NNAA
    vma = alloc_and_link_vma(mm, 0x3000, 0x5000, 3, flags)
    vma_new, vma, need_locks = mm.copy_vma(vma, 0, 0x2000, 0, 3, need_locks)
    assert vma_new != vma
    assert (vma_new.start, vma_new.end) == (0, 0x2000)
    assert vma_new.pgoff == 0
    assert_attached(vma_new)

    mm.cleanup()

    # Move a VMA into position next to another and merge the two.
    #
    # 012345678      012345678
    # AA    NN   ->  AA  NNNN
    vma = alloc_and_link_vma(mm, 0, 0x2000, 0, flags)
    vma_next = alloc_and_link_vma(mm, 0x6000, 0x8000, 6, flags)
    vma_new, vma, need_locks = mm.copy_vma(vma, 0x4000, 0x2000, 4, 4, need_locks)
    assert_attached(vma_new)

    assert vma_new == vma_next

    mm.cleanup()


# -- vma_flags_t --------------------------------------------------------------

def wide(vf) -> bool:
    """Upstream's NUM_VMA_FLAG_BITS > 64 (its extra bits 64, 65, … are tested)."""
    return vf.nbits > 64


def hi(vf, *bits) -> tuple:
    """The bits given only when the bitmap is wider than 64 (upstream's #if)."""
    return bits if wide(vf) else ()


def compare_legacy_flags(vf, legacy_flags: int, flags: int) -> bool:
    """Upstream's compare_legacy_flags()."""
    flags_lower = flags & WORD
    # all bits in higher words are zero
    if vf.nbits > BITS_PER_LONG and flags >> BITS_PER_LONG:
        return False

    # the legacy flag helpers work
    converted_flags = vf.legacy_to_vma_flags(legacy_flags)
    assert vf.vma_flags_same_mask(converted_flags, flags)
    assert vf.vma_flags_to_legacy(flags) == legacy_flags

    return legacy_flags == flags_lower


@pytest.mark.requires("vma_flags_t")
def test_vma_flags_unchanged(kernel):
    vf = kernel.vma_flags
    flags = 0
    legacy_flags = 0
    vma = 0                 # vma.flags
    desc = 0                # desc.vma_flags

    for bit in range(BITS_PER_LONG):
        mask = vf.mk_vma_flags(bit)

        legacy_flags |= 1 << bit

        # individual flags
        flags = vf.vma_flags_set(flags, bit)
        assert compare_legacy_flags(vf, legacy_flags, flags)

        # via mask
        flags = vf.vma_flags_set_mask(flags, mask)
        assert compare_legacy_flags(vf, legacy_flags, flags)

        # the same for a VMA
        vma = vf.vma_set_flags(vma, bit)
        assert compare_legacy_flags(vf, legacy_flags, vma)
        vma = vf.vma_set_flags_mask(vma, mask)
        assert compare_legacy_flags(vf, legacy_flags, vma)

        # the same for a VMA descriptor
        desc = vf.vma_desc_set_flags(desc, bit)
        assert compare_legacy_flags(vf, legacy_flags, desc)
        desc = vf.vma_desc_set_flags_mask(desc, mask)
        assert compare_legacy_flags(vf, legacy_flags, desc)


@pytest.mark.requires("vma_flags_t")
def test_vma_flags_cleared(kernel):
    vf = kernel.vma_flags
    empty = 0
    size = vf.words * (BITS_PER_LONG // 8)          # sizeof(flags)

    # every byte 1 (memset(&flags, 1, sizeof(flags)))
    flags = int.from_bytes(b"\x01" * size, "little")
    # clear
    flags = vf.vma_flags_clear_all(flags)
    # equal to EMPTY_VMA_FLAGS
    assert flags == empty
    # every unsigned long of the bitmap zero (upstream bounds this loop by
    # sizeof(flags) / BITS_PER_LONG)
    for i in range(size // BITS_PER_LONG):
        assert (flags >> (BITS_PER_LONG * i)) & WORD == 0


@pytest.mark.requires("vma_flags_t")
def test_vma_flags_word(kernel):
    """The word-level helpers leave the bits above the first word alone."""
    vf = kernel.vma_flags
    if not wide(vf):
        pytest.skip(f"NUM_VMA_FLAG_BITS is {vf.nbits}: upstream builds this test only "
                    "when it exceeds 64")
    vm_read, vm_write, vm_exec = kernel.flag("VM_READ"), kernel.flag("VM_WRITE"), \
        kernel.flag("VM_EXEC")
    comparison = vf.mk_vma_flags(READ, WRITE, 64, 65)

    # some high flags, then the first word overwritten
    flags = vf.vma_flags_set(0, 64, 65)
    flags = vf.vma_flags_overwrite_word(flags, vm_read | vm_write)
    assert flags == comparison

    # the _once() equivalent
    flags = vf.vma_flags_set(0, 64, 65)
    flags = vf.vma_flags_overwrite_word_once(flags, vm_read | vm_write)
    assert flags == comparison

    # setting a word does not disturb the other bits
    flags = vf.vma_flags_set(0, 64, 65)
    flags = vf.vma_flags_set(flags, WRITE)
    flags = vf.vma_flags_set_word(flags, vm_read)
    assert flags == comparison

    # neither does clearing one
    flags = vf.vma_flags_set(0, 64, 65)
    flags = vf.vma_flags_set(flags, READ, WRITE, EXEC)
    flags = vf.vma_flags_clear_word(flags, vm_exec)
    assert flags == comparison


@pytest.mark.requires("vma_flags_t")
def test_vma_flags_test(kernel):
    """vma_flags_test() and friends."""
    vf = kernel.vma_flags
    flags = vf.mk_vma_flags(READ, WRITE, EXEC, *hi(vf, 64, 65))
    desc = flags
    vma = flags

    def do_test(bit):
        assert vf.vma_flags_test(flags, bit)
        assert vf.vma_flags_test_single_mask(flags, vf.mk_vma_flags(bit))
        assert vf.vma_test(vma, bit)
        assert vf.vma_test_single_mask(vma, vf.mk_vma_flags(bit))
        assert vf.vma_desc_test(desc, bit)

    def do_test_false(bit):
        assert not vf.vma_flags_test(flags, bit)
        assert not vf.vma_flags_test_single_mask(flags, vf.mk_vma_flags(bit))
        assert not vf.vma_test(vma, bit)
        assert not vf.vma_test_single_mask(vma, vf.mk_vma_flags(bit))
        assert not vf.vma_desc_test(desc, bit)

    do_test(READ)
    do_test(WRITE)
    do_test(EXEC)
    for bit in hi(vf, 64, 65):
        do_test(bit)
    do_test_false(MAYWRITE)
    for bit in hi(vf, 66):
        do_test_false(bit)

    # the _single_mask() variants are false for an empty mask
    assert not vf.vma_flags_test_single_mask(flags, 0)
    assert not vf.vma_test_single_mask(vma, 0)
    # even when both the flags and the mask are empty
    flags = 0
    vma = 0
    assert not vf.vma_flags_test_single_mask(flags, 0)
    assert not vf.vma_test_single_mask(vma, 0)


@pytest.mark.requires("vma_flags_t")
def test_vma_flags_test_any(kernel):
    """vma_flags_test_any() and friends."""
    vf = kernel.vma_flags
    flags = vf.mk_vma_flags(READ, WRITE, EXEC, *hi(vf, 64, 65))
    vma = flags
    desc = flags

    def do_test(*bits):
        assert vf.vma_flags_test_any(flags, *bits)
        assert vf.vma_desc_test_any(desc, *bits)
        assert vf.vma_test_any(vma, *bits)

    def do_test_all_true(*bits):
        assert vf.vma_flags_test_all(flags, *bits)
        assert vf.vma_test_all(vma, *bits)

    def do_test_all_false(*bits):
        assert not vf.vma_flags_test_all(flags, *bits)
        assert not vf.vma_test_all(vma, *bits)

    # some flags present, some not: ANY passes
    do_test(READ, "VMA_MAYREAD_BIT", "VMA_SEQ_READ_BIT")
    # ... ALL does not
    do_test_all_false(READ, "VMA_MAYREAD_BIT", "VMA_SEQ_READ_BIT")
    if wide(vf):
        # but passes for flags present
        do_test_all_true(READ, WRITE, EXEC, 64, 65)
        # and subsets
        do_test_all_true(READ, WRITE, EXEC, 64)
    do_test_all_true(READ, WRITE, EXEC)
    do_test_all_true(READ, WRITE)
    do_test_all_true(READ)
    # the _mask variants (the macros above are built on them)
    assert vf.vma_flags_test_any_mask(flags, flags)
    assert vf.vma_flags_test_all_mask(flags, flags)

    # single bits
    do_test(READ)
    do_test(WRITE)
    do_test(EXEC)
    for bit in hi(vf, 64, 65):
        do_test(bit)

    # two bits, ordering does not matter
    do_test(READ, WRITE)
    do_test(READ, EXEC)
    do_test(WRITE, EXEC)
    do_test(WRITE, READ)
    do_test(EXEC, READ)
    do_test(EXEC, WRITE)
    if wide(vf):
        for a, b in ((READ, 64), (WRITE, 64), (64, READ), (64, WRITE),
                     (READ, 65), (WRITE, 65), (65, READ), (65, WRITE)):
            do_test(a, b)
    # three bits
    do_test(READ, WRITE, EXEC)
    if wide(vf):
        do_test(READ, WRITE, 64)
        do_test(READ, WRITE, 65)
        # four bits
        do_test(READ, WRITE, EXEC, 64)
        do_test(READ, WRITE, EXEC, 65)
        # five bits
        do_test(READ, WRITE, EXEC, 64, 65)

    # all flags against none trivially succeeds
    assert vf.vma_flags_test_all_mask(flags, 0)
    assert vf.vma_test_all_mask(vma, 0)


@pytest.mark.requires("vma_flags_t")
def test_vma_flags_clear(kernel):
    """vma_flags_clear() and friends."""
    vf = kernel.vma_flags
    flags = vf.mk_vma_flags(READ, WRITE, EXEC, *hi(vf, 64, 65))
    mask = vf.mk_vma_flags(EXEC, *hi(vf, 64))
    vma = flags
    desc = flags

    # a cursory check of the _mask() variants, as the helper macros imply
    flags = vf.vma_flags_clear_mask(flags, mask)
    vma = vf.vma_clear_flags_mask(vma, mask)
    desc = vf.vma_desc_clear_flags_mask(desc, mask)
    if wide(vf):
        assert not vf.vma_flags_test_any(flags, EXEC, 64)
        assert not vf.vma_test_any(vma, EXEC, 64)
        assert not vf.vma_desc_test_any(desc, EXEC, 64)
        # reset
        flags = vf.vma_flags_set(flags, EXEC, 64)
        vma = vf.vma_set_flags(vma, EXEC, 64)
        desc = vf.vma_desc_set_flags(desc, EXEC, 64)

    # clear the flags, check, then set them again
    def do_test_and_reset(*bits):
        nonlocal flags, vma, desc
        flags = vf.vma_flags_clear(flags, *bits)
        vma = vf.vma_clear_flags(vma, *bits)
        desc = vf.vma_desc_clear_flags(desc, *bits)
        assert not vf.vma_flags_test_any(flags, *bits)
        assert not vf.vma_test_any(vma, *bits)
        assert not vf.vma_desc_test_any(desc, *bits)
        flags = vf.vma_flags_set(flags, *bits)
        vma = vf.vma_set_flags(vma, *bits)
        desc = vf.vma_desc_set_flags(desc, *bits)

    # single flags
    do_test_and_reset(READ)
    do_test_and_reset(WRITE)
    do_test_and_reset(EXEC)
    for bit in hi(vf, 64, 65):
        do_test_and_reset(bit)

    # two flags, in different orders
    do_test_and_reset(READ, WRITE)
    do_test_and_reset(READ, EXEC)
    for bit in hi(vf, 64, 65):
        do_test_and_reset(READ, bit)
    do_test_and_reset(WRITE, READ)
    do_test_and_reset(WRITE, EXEC)
    for bit in hi(vf, 64, 65):
        do_test_and_reset(WRITE, bit)
    do_test_and_reset(EXEC, READ)
    do_test_and_reset(EXEC, WRITE)
    if wide(vf):
        for pair in ((EXEC, 64), (EXEC, 65), (64, READ), (64, WRITE), (64, EXEC), (64, 65),
                     (65, READ), (65, WRITE), (65, EXEC), (65, 64)):
            do_test_and_reset(*pair)


@pytest.mark.requires("vma_flags_t")
def test_vma_flags_empty(kernel):
    """vma_flags_empty()."""
    vf = kernel.vma_flags
    flags = vf.mk_vma_flags(READ, WRITE, EXEC, *hi(vf, 64, 65))

    assert not vf.vma_flags_empty(flags)
    flags = vf.vma_flags_clear(flags, READ, WRITE, EXEC)
    if wide(vf):
        assert not vf.vma_flags_empty(flags)
        flags = vf.vma_flags_clear(flags, 64, 65)
        assert vf.vma_flags_empty(flags)
    else:
        assert vf.vma_flags_empty(flags)


@pytest.mark.requires("vma_flags_t")
def test_vma_flags_diff(kernel):
    """vma_flags_diff_pair()."""
    vf = kernel.vma_flags
    flags1 = vf.mk_vma_flags(READ, WRITE, EXEC, *hi(vf, 64, 65))
    flags2 = vf.mk_vma_flags(READ, WRITE, EXEC, MAYWRITE, MAYEXEC, *hi(vf, 64, 65, 66, 67))

    diff = vf.vma_flags_diff_pair(flags1, flags2)
    assert vf.vma_flags_same(diff, MAYWRITE, MAYEXEC, *hi(vf, 66, 67))
    # the same the other way round
    diff = vf.vma_flags_diff_pair(flags2, flags1)
    assert vf.vma_flags_same(diff, MAYWRITE, MAYEXEC, *hi(vf, 66, 67))

    # no difference against themselves
    diff = vf.vma_flags_diff_pair(flags1, flags1)
    assert vf.vma_flags_empty(diff)
    diff = vf.vma_flags_diff_pair(flags2, flags2)
    assert vf.vma_flags_empty(diff)

    # against empty flags: the original
    flags2 = 0
    diff = vf.vma_flags_diff_pair(flags1, flags2)
    assert vf.vma_flags_same_mask(diff, flags1)

    # a subset
    flags2 = vf.mk_vma_flags(READ, WRITE)
    diff = vf.vma_flags_diff_pair(flags1, flags2)
    assert vf.vma_flags_same(diff, EXEC, *hi(vf, 64, 65))


@pytest.mark.requires("vma_flags_t")
def test_vma_flags_and(kernel):
    """vma_flags_and() and friends."""
    vf = kernel.vma_flags
    flags1 = vf.mk_vma_flags(READ, WRITE, EXEC, *hi(vf, 64, 65))
    flags2 = vf.mk_vma_flags(READ, WRITE, EXEC, MAYWRITE, MAYEXEC, *hi(vf, 64, 65, 66, 67))
    flags3 = vf.mk_vma_flags("VMA_IO_BIT", "VMA_MAYBE_GUARD_BIT", *hi(vf, 68, 69))

    res = vf.vma_flags_and_mask(flags1, flags2)
    assert vf.vma_flags_same(res, READ, WRITE, EXEC, *hi(vf, 64, 65))

    res = vf.vma_flags_and_mask(flags1, flags1)
    assert vf.vma_flags_same_mask(res, flags1)

    res = vf.vma_flags_and_mask(flags2, flags2)
    assert vf.vma_flags_same_mask(res, flags2)

    res = vf.vma_flags_and_mask(flags1, flags3)
    assert vf.vma_flags_empty(res)
    res = vf.vma_flags_and_mask(flags2, flags3)
    assert vf.vma_flags_empty(res)

    res = vf.vma_flags_and(flags1, READ)
    assert vf.vma_flags_same(res, READ)

    res = vf.vma_flags_and(flags1, READ, WRITE)
    assert vf.vma_flags_same(res, READ, WRITE)

    res = vf.vma_flags_and(flags1, READ, WRITE, EXEC)
    assert vf.vma_flags_same(res, READ, WRITE, EXEC)

    if wide(vf):
        res = vf.vma_flags_and(flags1, READ, WRITE, EXEC, 64)
        assert vf.vma_flags_same(res, READ, WRITE, EXEC, 64)

        res = vf.vma_flags_and(flags1, READ, WRITE, EXEC, 64, 65)
        assert vf.vma_flags_same(res, READ, WRITE, EXEC, 64, 65)

    # against some missing values
    res = vf.vma_flags_and(flags1, READ, WRITE, EXEC, "VMA_IO_BIT")
    assert vf.vma_flags_same(res, READ, WRITE, EXEC)

    res = vf.vma_flags_and(flags1, READ, WRITE, EXEC, "VMA_IO_BIT", "VMA_RAND_READ_BIT")
    assert vf.vma_flags_same(res, READ, WRITE, EXEC)

    if wide(vf):
        res = vf.vma_flags_and(flags1, READ, WRITE, EXEC, "VMA_IO_BIT", "VMA_RAND_READ_BIT", 69)
        assert vf.vma_flags_same(res, READ, WRITE, EXEC)


@pytest.mark.requires("vma_flags_t")
def test_append_vma_flags(kernel):
    """append_vma_flags()."""
    vf = kernel.vma_flags
    flags = vf.append_vma_flags(vf.mask("VMA_REMAP_FLAGS"), READ, WRITE, *hi(vf, 64, 65))

    assert vf.vma_flags_same(flags, "VMA_IO_BIT", "VMA_PFNMAP_BIT", "VMA_DONTEXPAND_BIT",
                             "VMA_DONTDUMP_BIT", READ, WRITE, *hi(vf, 64, 65))

    flags = vf.append_vma_flags(0, READ, WRITE)
    assert vf.vma_flags_same(flags, READ, WRITE)


@pytest.mark.requires("vma_flags_t")
def test_vma_flags_count(kernel):
    """vma_flags_count()."""
    vf = kernel.vma_flags
    flags = vf.mk_vma_flags(READ, WRITE, EXEC, *hi(vf, 64, 65))

    if wide(vf):
        assert vf.vma_flags_count(flags) == 5
        flags = vf.vma_flags_clear(flags, 64)
        assert vf.vma_flags_count(flags) == 4
        flags = vf.vma_flags_clear(flags, 65)
    assert vf.vma_flags_count(flags) == 3
    flags = vf.vma_flags_clear(flags, EXEC)
    assert vf.vma_flags_count(flags) == 2
    flags = vf.vma_flags_clear(flags, WRITE)
    assert vf.vma_flags_count(flags) == 1
    flags = vf.vma_flags_clear(flags, READ)
    assert vf.vma_flags_count(flags) == 0
