# SPDX-License-Identifier: GPL-2.0-or-later
"""VM_SOFTDIRTY on every merge path, on trees with and without sticky flags.

Both generations ignore VM_SOFTDIRTY when deciding whether two VMAs may merge
(6.12: ``(a ^ b) & ~VM_SOFTDIRTY``; 7.x: VMA_IGNORE_MERGE_FLAGS).  They differ in
what the merged VMA gets:

* sticky trees: the union of the participants' sticky flags;
* pre-sticky trees (6.12): the flags of the VMA that survives (the target), the
  others' bit is dropped (mmap's caller sets VM_SOFTDIRTY on the result itself).

Participants per path (the target first); ``*`` marks the range:

    new-left        AA*   -> AAA         prev (target), new
    new-right       A *BB -> A BBB       next (target), new    (A: bystander)
    new-both        AA*BB -> AAAAA       prev (target), new, next
    existing-left   AA*BBB -> AAABBB     prev (target), middle
    existing-right  AAA*BB -> AAABBB     next (target), middle
    existing-both   AA**CC -> AAAAAA     prev (target), middle, next

For an existing range, ``middle`` means the middle VMA has the bit and so does
the request (flags derived from the VMA's own, as mprotect does).
"""
import pytest

from .sticky_helpers import P, row, rw, show, spans

PATHS = {
    "new-left": ["prev", "new"],
    "new-right": ["next", "new"],
    "new-both": ["prev", "new", "next"],
    "existing-left": ["prev", "middle"],
    "existing-right": ["next", "middle"],
    "existing-both": ["prev", "middle", "next"],
}
CASES = [pytest.param(path, who, id=f"{path}-on-{who}")
         for path, whos in PATHS.items() for who in whos]


@pytest.mark.parametrize("path,who", CASES)
def test_softdirty_difference_never_blocks_merge(kernel, mm, path, who):
    """
    VM_SOFTDIRTY on participant *who* only; the path merges all the same.

    0123456         0123456
    AA*       ->    AAA          new-left
    A *BB     ->    A BBB        new-right
    AA*BB     ->    AAAAA        new-both
    AA*BBB    ->    AAABBB       existing-left
    AAA*BB    ->    AAABBB       existing-right
    AA**CC    ->    AAAAAA       existing-both
    """
    if not kernel.has_flag("VM_SOFTDIRTY"):
        pytest.skip(f"this build of {kernel.version} has no VM_SOFTDIRTY "
                    "(CONFIG_MEM_SOFT_DIRTY=n)")
    sd = kernel.flag("VM_SOFTDIRTY")
    F = rw(kernel)
    X = kernel.flag("VM_EXEC")           # makes a middle VMA differ from its neighbours

    def f(name, base=F):
        return base | (sd if who == name else 0)

    if path == "new-left":
        target = mm.map(0, 2 * P, 0, f("prev"))
        vma, state = mm.merge_new_range(2 * P, 3 * P, 2, f("new"))
        want_row, want_spans = "AAA", [(0, 3, 0)]
    elif path == "new-right":
        mm.map(0, 1 * P, 0, F)           # a VMA below the gap (see tests/merge)
        target = mm.map(3 * P, 5 * P, 3, f("next"))
        vma, state = mm.merge_new_range(2 * P, 3 * P, 2, f("new"))
        want_row, want_spans = "A BBB", [(0, 1, 0), (2, 5, 2)]
    elif path == "new-both":
        target = mm.map(0, 2 * P, 0, f("prev"))
        mm.map(3 * P, 5 * P, 3, f("next"))
        vma, state = mm.merge_new_range(2 * P, 3 * P, 2, f("new"))
        want_row, want_spans = "AAAAA", [(0, 5, 0)]
    elif path == "existing-left":
        target = mm.map(0, 2 * P, 0, f("prev"))
        b = mm.map(2 * P, 6 * P, 2, f("middle", F | X))
        vma, state = mm.merge_existing(b, 2 * P, 3 * P, f("middle"), prev=target)
        want_row, want_spans = "AAABBB", [(0, 3, 0), (3, 6, 3)]
    elif path == "existing-right":
        a = mm.map(0, 4 * P, 0, f("middle", F | X))
        target = mm.map(4 * P, 6 * P, 4, f("next"))
        vma, state = mm.merge_existing(a, 3 * P, 4 * P, f("middle"), prev=a)
        want_row, want_spans = "AAABBB", [(0, 3, 0), (3, 6, 3)]
    else:
        target = mm.map(0, 2 * P, 0, f("prev"))
        b = mm.map(2 * P, 4 * P, 2, f("middle", F | X))
        mm.map(4 * P, 6 * P, 4, f("next"))
        vma, state = mm.merge_existing(b, 2 * P, 4 * P, f("middle"), prev=target)
        want_row, want_spans = "AAAAAA", [(0, 6, 0)]

    assert (vma, state) == (target, "success"), show(mm)
    assert row(mm) == want_row
    assert spans(mm) == want_spans
    target_had_it = who in ("prev", "next") and PATHS[path][0] == who
    keeps = kernel.has("sticky") or target_had_it
    assert target.flags == F | (sd if keeps else 0), show(mm)
    if path in ("existing-left", "existing-right"):
        rest = [v for v in mm.vmas() if v != target][0]
        assert rest.flags == f("middle", F | X), show(mm)


def test_sticky_feature_matches_the_tree(kernel):
    """The feature probe and the built masks agree; pre-sticky trees have no
    VM_MAYBE_GUARD and no sticky mask, sticky trees have both."""
    if kernel.has("sticky"):
        assert kernel.sticky_mask
        assert kernel.has_flag("VM_MAYBE_GUARD")
        assert kernel.sticky_mask & kernel.flag("VM_MAYBE_GUARD")
    else:
        assert kernel.sticky_mask == 0
        assert kernel.ignore_merge_mask == 0
        assert not kernel.has_flag("VM_MAYBE_GUARD")
