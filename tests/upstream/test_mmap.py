# SPDX-License-Identifier: GPL-2.0-or-later
"""Port of upstream tools/testing/vma/tests/mmap.c (7.3), test name kept.

6.12 has no such test: its __mmap_region() lives in mm/mmap.c, which is not built.
"""
import pytest

from .shared import rw


@pytest.mark.requires("mmap_region")
def test_mmap_region_basic(kernel, mm):
    """
    0x24d000  0x253000         0x300000  0x306000
       MMMMMMMMM       ...        NNNNNNNNN
       (2nd + 4th map)            (1st + 3rd map)
    """
    flags = rw(kernel)

    # current->mm is the test's mm for every call

    # Map at 0x300000, length 0x3000.
    addr = mm.mmap_region(0x300000, 0x3000, flags, 0x300)
    assert addr == 0x300000

    # Map at 0x250000, length 0x3000.
    addr = mm.mmap_region(0x250000, 0x3000, flags, 0x250)
    assert addr == 0x250000

    # Map at 0x303000, merging to 0x300000 of length 0x6000.
    addr = mm.mmap_region(0x303000, 0x3000, flags, 0x303)
    assert addr == 0x303000

    # Map at 0x24d000, merging to 0x250000 of length 0x6000.
    addr = mm.mmap_region(0x24d000, 0x3000, flags, 0x24d)
    assert addr == 0x24d000

    assert mm.map_count == 2

    for vma in mm.vmas():
        if vma.start == 0x300000:
            assert vma.end == 0x306000
            assert vma.pgoff == 0x300
        elif vma.start == 0x24d000:
            assert vma.end == 0x253000
            assert vma.pgoff == 0x24d
        else:
            assert False, f"unexpected {vma}"

    mm.cleanup()
