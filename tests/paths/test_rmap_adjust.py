# SPDX-License-Identifier: GPL-2.0-or-later
"""vma_prepare() / vma_complete() when a merge moves the boundary between two VMAs
of one file: the VMA whose range is adjusted (vp->adj_next) leaves the file's rmap
tree before the change and comes back after it, so the tree holds each VMA once.

``pyvma mutate`` found the adj_next removal and insertion noticed by diff only
(its compared per-file state); here ``File.i_mmap_vmas`` (insertions the kernel
code made into the mapping's rmap tree, less removals) is held to the number of
VMAs mapping the file, with the layout, after each such merge.
"""
import pytest

from .paths_helpers import P, row, rw, show, spans

X = "VM_EXEC"


@pytest.mark.parametrize("side", ["left", "right"])
def test_boundary_moved_between_file_vmas(kernel, mm, side):
    """
    left:  the first page of B takes A's flags: A grows, B's start moves up.

    0123            0123
    AA*B     ->     AAAB

    right: the last page of A takes B's flags: B grows, A's end moves down.

    0123            0123
    A*BB     ->     ABBB

    Both VMAs map the file f at consecutive offsets; both stay in its rmap tree,
    once each; no lock is left held.
    """
    f = kernel.file()
    F = rw(kernel)
    a = mm.map(0, 2 * P, 0x10, F, file=f)
    b = mm.map(2 * P, 4 * P, 0x12, F | kernel.flag(X), file=f)
    assert f.i_mmap_vmas == 2
    if side == "left":
        vma = mm.modify_flags(mm.vmi(2 * P), a, b, 2 * P, 3 * P, F)
        assert vma == a, show(mm)
        assert spans(mm) == [(0, 3, 0x10), (3, 4, 0x13)], show(mm)
    else:
        # prev is the VMA itself when the range starts inside it (as mprotect_fixup())
        vma = mm.modify_flags(mm.vmi(P), a, a, P, 2 * P, F | kernel.flag(X))
        assert vma == b, show(mm)
        assert spans(mm) == [(0, 1, 0x10), (1, 4, 0x11)], show(mm)
    assert row(mm) == ("AAAB" if side == "left" else "ABBB")
    assert f.i_mmap_vmas == 2, f"the file's rmap tree holds {f.i_mmap_vmas} VMAs" + show(mm)
    assert kernel.locks_held == 0
