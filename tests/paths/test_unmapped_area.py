# SPDX-License-Identifier: GPL-2.0-or-later
"""unmapped_area() / unmapped_area_topdown(): the lowest / highest gap of a
length in [low, high), alignment and the start gap, mmap_min_addr, and the
stack guard gap below a VM_GROWSDOWN VMA (a gap that close to a stack is
skipped).  Addresses are in pages in the diagrams (0x10 pages a column).
"""
import pytest

from .paths_helpers import ENOMEM, P, errno_of, place, rw

pytestmark = pytest.mark.requires("unmapped_area")

GUARD = 256     # stack_guard_gap, pages


def _map(kernel, mm, start, end, extra=0):
    return place(mm, start * P, end * P, start, rw(kernel) | extra)


def test_empty_mm(kernel, mm):
    """Bottom-up starts at mmap_min_addr (page 1) even when asked for 0; top-down
    ends at the high limit.

    0x1 ............ 0xfc 0x100
    ****             ****        (bottom-up / top-down answers)
    """
    assert mm.unmapped_area(4 * P, 0, 0x100 * P) == P
    assert mm.unmapped_area(4 * P, 0, 0x100 * P, topdown=True) == 0xfc * P


def test_lowest_and_highest_fitting_gap(kernel, mm):
    """
    0x10      0x20 0x22      0x30            0x40
    AAAAAAAAAA  ..  BBBBBBBBBBB    gap           |high
    The 2-page gap is too small for 4 pages: bottom-up takes 0x30, top-down 0x3c.

        -> bottom-up: AAAA..BBBB****    top-down: AAAA..BBBB    ****|
    """
    _map(kernel, mm, 0x10, 0x20)
    _map(kernel, mm, 0x22, 0x30)
    assert mm.unmapped_area(4 * P, 0x10 * P, 0x40 * P) == 0x30 * P
    assert mm.unmapped_area(2 * P, 0x10 * P, 0x40 * P) == 0x20 * P
    assert mm.unmapped_area(4 * P, 0x10 * P, 0x40 * P, topdown=True) == 0x3c * P
    assert errno_of(mm.unmapped_area, 4 * P, 0x10 * P, 0x30 * P, topdown=True) == ENOMEM


def test_alignment_and_start_gap(kernel, mm):
    """A 16-page alignment (at an offset) and a 2-page start gap: the start gap
    comes first, then the address moves up to the alignment.

    0x10         0x31
    AAAAAAAAAAAAA|  -> 0x33 (offset 3, or the start gap), 0x35 (both, offset 5)
    """
    _map(kernel, mm, 0x10, 0x31)
    align = 0x10 * P - 1 & ~(P - 1)
    assert mm.unmapped_area(4 * P, 0x10 * P, 0x100 * P, align_mask=align,
                            align_offset=3 * P) == 0x33 * P
    assert mm.unmapped_area(4 * P, 0x10 * P, 0x100 * P, start_gap=2 * P) == 0x33 * P
    assert mm.unmapped_area(4 * P, 0x10 * P, 0x100 * P, align_mask=align,
                            align_offset=5 * P, start_gap=2 * P) == 0x35 * P
    top = mm.unmapped_area(4 * P, 0x10 * P, 0x100 * P, align_mask=align, topdown=True)
    assert top == 0xf0 * P


def test_length_overflow_and_no_room(kernel, mm):
    """A length that overflows with the alignment, or no gap big enough: -ENOMEM.

    0x10                        0x100
    AAAAAAAAAAAAAAAAAAAAAAAAAAAA|      (no gap at all)
    """
    assert errno_of(mm.unmapped_area, 4 * P, 0, 0x100 * P, align_mask=(1 << 64) - 2 * P) == ENOMEM
    assert errno_of(mm.unmapped_area, 4 * P, 0, 0x100 * P, align_mask=(1 << 64) - 2 * P,
                    topdown=True) == ENOMEM
    _map(kernel, mm, 0x10, 0x100)
    assert errno_of(mm.unmapped_area, 4 * P, 0x10 * P, 0x100 * P) == ENOMEM
    assert errno_of(mm.unmapped_area, 4 * P, 0x10 * P, 0x100 * P, topdown=True) == ENOMEM


def test_gap_below_a_stack_keeps_the_guard_gap(kernel, mm):
    """A stack S at 0x200: a gap ending within its 256-page guard gap is passed
    over - bottom-up looks above S, top-down below the guard gap.

    0x80   0x100            0x200    0x210
    gap    |... guard ...   SSSSSSSSS  gap

        -> bottom-up: SSSS**** (0x210)   top-down: ****|guard|SSSS (0xfc)
    """
    _map(kernel, mm, 0x200, 0x210, kernel.flag("VM_GROWSDOWN"))
    assert mm.unmapped_area(4 * P, 0x100 * P, 0x300 * P) == 0x210 * P
    assert mm.unmapped_area(4 * P, 0x80 * P, 0x200 * P, topdown=True) == 0xfc * P
    # nothing below the guard gap within the limits: no room
    assert errno_of(mm.unmapped_area, 4 * P, 0x100 * P, 0x200 * P, topdown=True) == ENOMEM
    # an ordinary VMA there instead: the gap right below it is taken
    _map(kernel, mm, 0x400, 0x410)
    assert mm.unmapped_area(4 * P, 0x300 * P, 0x400 * P, topdown=True) == 0x3fc * P


def test_stack_far_above_the_gap(kernel, mm):
    """A stack more than its guard gap above the lowest gap does not get in the
    way.

    0x100 ....... 0x300              0x100 ....... 0x300
    ..... ....... SSSS     ->        ****          SSSS
    """
    _map(kernel, mm, 0x300, 0x310, kernel.flag("VM_GROWSDOWN"))
    assert mm.unmapped_area(4 * P, 0x100 * P, 0x400 * P) == 0x100 * P
