# SPDX-License-Identifier: GPL-2.0-or-later
"""Layouts as diagrams, both ways."""
import pytest

from pyvma.api.diagram import parse


def test_parse_reads_letters_and_gaps():
    assert parse("0123456789\nAAA BB  CC") == [("A", 0, 3), ("B", 4, 6), ("C", 8, 10)]
    with pytest.raises(ValueError):
        parse("AA\nBB")


def test_from_diagram_round_trips_through_the_kernel(kernel, mm):
    vmas = mm.from_diagram("AAA BB  CC")
    assert [(v.start, v.end, v.pgoff) for v in vmas.values()] == \
        [(0, 0x3000, 0), (0x4000, 0x6000, 4), (0x8000, 0xa000, 8)]
    assert mm.diagram().splitlines()[1] == "AAA BB  CC"
    # 0123456789
    # AAA*BB  CC   ->   AAAAAA  CC
    vma, state = mm.merge_new_range(0x3000, 0x4000, 3)
    assert state == "success" and vma == vmas["A"]
    assert mm.diagram().splitlines()[1] == "AAAAAA  BB"
