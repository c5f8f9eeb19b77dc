# SPDX-License-Identifier: GPL-2.0-or-later
"""Both sides of every merge predicate of vma_merge_new_range().

Three scenes; ``*`` is the new range:

    left     AA*          ->  AAA          (target: A)
    right    A  *BB       ->  A  BBB       (target: B; A is a far bystander, so
                                            the range has a vmg->prev)
    both     AA*BB        ->  AAAAA        (target: A, B removed)

Each predicate is broken in one way at a time and the outcome (state, layout,
flags) compared with what the tree's code decides.  Every scene runs anonymous
and file-backed (the file maps from page FILE_PGOFF, so pgoffs are not the
addresses).
"""
import pytest

from .merge_helpers import (BACKINGS, IGNORED_FLAGS, P, PLAIN_FLAGS, SPECIAL_FLAGS, Backing,
                           faulted, ignored_for_merge, need_flag, row, rw, show,
                           single_bits, spans, unfaulted_target_takes_anon_vma)

SIDES = ["left", "right", "both"]


class Scene:
    """The neighbours of one scene, mapped; ``merge()`` merges the range."""

    def __init__(self, k, mm, side, backing, flags=None, prev_kw=None, next_kw=None):
        self.k, self.mm, self.side = k, mm, side
        self.b = Backing(k, backing)
        self.F = rw(k) if flags is None else flags
        self.prev = self.next = None
        if side == "left":
            self.prev = self.b.map(mm, 0, 2, self.F, **(prev_kw or {}))
            self.range = (2, 3)
        elif side == "right":
            self.b.map(mm, 0, 1, self.F)                      # bystander
            self.next = self.b.map(mm, 4, 6, self.F, **(next_kw or {}))
            self.range = (3, 4)
        else:
            self.prev = self.b.map(mm, 0, 2, self.F, **(prev_kw or {}))
            self.next = self.b.map(mm, 3, 5, self.F, **(next_kw or {}))
            self.range = (2, 3)
        self.target = self.prev if side != "right" else self.next

    def merge(self, flags=None, **kw):
        first, end = self.range
        return self.b.merge_new_range(self.mm, first, end, self.F if flags is None else flags, **kw)

    # the pictures
    def merged(self):
        pg = self.b.pgoff
        return {"left": ("AAA", [(0, 3, pg(0))]),
                "right": ("A  BBB", [(0, 1, pg(0)), (3, 6, pg(3))]),
                "both": ("AAAAA", [(0, 5, pg(0))])}[self.side]

    def unmerged(self):
        pg = self.b.pgoff
        return {"left": ("AA", [(0, 2, pg(0))]),
                "right": ("A   BB", [(0, 1, pg(0)), (4, 6, pg(4))]),
                "both": ("AA BB", [(0, 2, pg(0)), (3, 5, pg(3))])}[self.side]

    def assert_merged(self, vma, state):
        assert (vma, state) == (self.target, "success"), show(self.mm)
        assert (row(self.mm), spans(self.mm)) == self.merged(), show(self.mm)

    def assert_unmerged(self, vma, state):
        assert (vma, state) == (None, "nomerge"), show(self.mm)
        assert (row(self.mm), spans(self.mm)) == self.unmerged(), show(self.mm)


def _pg(backing, page):
    return page + (0x100 if backing == "file" else 0)


# --- flags -------------------------------------------------------------------


@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("side", SIDES)
def test_equal_flags_merge(kernel, mm, side, backing):
    """
    Range and neighbours with equal flags: the scene merges.

    0123456     merged      unmerged
    AA*         AAA         AA          left
    A  *BB      A  BBB      A   BB      right
    AA*BB       AAAAA       AA BB       both
    """
    s = Scene(kernel, mm, side, backing)
    s.assert_merged(*s.merge())
    assert s.target.flags == s.F


@pytest.mark.parametrize("where", ["range", "neighbours"])
@pytest.mark.parametrize("flag", PLAIN_FLAGS)
@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("side", SIDES)
def test_plain_flag_difference_blocks(kernel, mm, side, backing, flag, where):
    """One non-sticky, non-special flag on the range only, or on the neighbours
    only: nothing merges.

    0123456     merged      unmerged
    AA*         AAA         AA          left
    A  *BB      A  BBB      A   BB      right
    AA*BB       AAAAA       AA BB       both
    """
    X = need_flag(kernel, flag)
    assert X & ignored_for_merge(kernel) == 0 and X & kernel.mask("VM_SPECIAL") == 0
    F = rw(kernel)
    s = Scene(kernel, mm, side, backing, flags=F | (X if where == "neighbours" else 0))
    vma, state = s.merge(F | (X if where == "range" else 0))
    s.assert_unmerged(vma, state)


@pytest.mark.parametrize("where", ["range", "neighbours"])
@pytest.mark.parametrize("flag", IGNORED_FLAGS)
@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("side", SIDES)
def test_ignored_flag_difference_merges(kernel, mm, side, backing, flag, where):
    """A flag the tree leaves out of the comparison (sticky flags; 6.12:
    VM_SOFTDIRTY) on one side only does not block the merge.  The merged VMA has
    it on sticky trees; on 6.12 only when the target had it.

    0123456     merged      unmerged
    AA*         AAA         AA          left
    A  *BB      A  BBB      A   BB      right
    AA*BB       AAAAA       AA BB       both
    """
    X = need_flag(kernel, flag)
    assert X & ignored_for_merge(kernel) == X, f"{flag} is not ignored by {kernel.version}"
    F = rw(kernel)
    s = Scene(kernel, mm, side, backing, flags=F | (X if where == "neighbours" else 0))
    vma, state = s.merge(F | (X if where == "range" else 0))
    s.assert_merged(vma, state)
    keeps = kernel.has("sticky") or where == "neighbours"
    assert s.target.flags == F | (X if keeps else 0), show(mm)


@pytest.mark.parametrize("backing", BACKINGS)
def test_every_flag_difference(kernel, mm, backing):
    """
    Every single-bit flag of the tree, toggled on the new range only: it merges
    exactly when the flag is ignored for merging and the range is not special.

    0123            0123
    AA*     ->      AAA  or  AA
    """
    F = rw(kernel)
    ignored, special = ignored_for_merge(kernel), kernel.mask("VM_SPECIAL")
    assert special, "the tree's VM_SPECIAL reads as empty"
    wrong = []
    for name in single_bits(kernel):
        f = kernel.flag(name)
        with kernel.mm(check_each=True) as m:
            s = Scene(kernel, m, "left", backing)
            vma, state = s.merge(F ^ f)
            want = "success" if (f & ignored and not (F ^ f) & special) else "nomerge"
            if state != want:
                wrong.append(f"{name}: {state}, expected {want}\n{m.diagram()}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("backing", BACKINGS)
def test_every_flag_on_both_sides(kernel, mm, backing):
    """Every single-bit flag on the neighbour and the range alike: it merges
    exactly when the flag is not in VM_SPECIAL.

    012         012
    AA*   ->    AAA   or   AA
    """
    F = rw(kernel)
    special = kernel.mask("VM_SPECIAL")
    wrong = []
    for name in single_bits(kernel):
        f = kernel.flag(name)
        with kernel.mm(check_each=True) as m:
            s = Scene(kernel, m, "left", backing, flags=F | f)
            vma, state = s.merge(F | f)
            want = "nomerge" if f & special else "success"
            if state != want:
                wrong.append(f"{name}: {state}, expected {want}\n{m.diagram()}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("flag", SPECIAL_FLAGS)
@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("side", SIDES)
def test_special_flag_blocks_even_when_equal(kernel, mm, side, backing, flag):
    """Neighbours and range all have the same VM_SPECIAL flag: still no merge.

    0123456     merged      unmerged
    AA*         AAA         AA          left
    A  *BB      A  BBB      A   BB      right
    AA*BB       AAAAA       AA BB       both
    """
    X = need_flag(kernel, flag)
    assert X & kernel.mask("VM_SPECIAL") == X
    F = rw(kernel) | X
    s = Scene(kernel, mm, side, backing, flags=F)
    s.assert_unmerged(*s.merge(F))


# --- file ----------------------------------------------------------------------


@pytest.mark.parametrize("case", ["same-file", "other-file", "anon-range", "file-range"])
@pytest.mark.parametrize("side", SIDES)
def test_file_identity(kernel, mm, side, case):
    """
    same-file: range and neighbours map one file; other-file: the range maps
    another; anon-range: file-backed neighbours, anonymous range; file-range:
    anonymous neighbours, file-backed range.  Only same-file merges.

    0123456     merged      unmerged
    AA*         AAA         AA          left
    A  *BB      A  BBB      A   BB      right
    AA*BB       AAAAA       AA BB       both
    """
    s = Scene(kernel, mm, side, "anon" if case == "file-range" else "file")
    f = {"same-file": s.b.file, "other-file": kernel.file(), "anon-range": None,
         "file-range": kernel.file()}[case]
    first = s.range[0]
    vma, state = s.merge(pgoff=_pg("file" if f is not None else "anon", first)
                         if case != "file-range" else first, file=f)
    if case == "same-file":
        s.assert_merged(vma, state)
    else:
        s.assert_unmerged(vma, state)


# --- pgoff -------------------------------------------------------------------


@pytest.mark.parametrize("delta", [0, 1, -1], ids=["contiguous", "plus-one", "minus-one"])
@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("side", SIDES)
def test_pgoff_contiguity(kernel, mm, side, backing, delta):
    """
    The range's pgoff continues its neighbours' (merge) or is one off (no merge).

    0123456     merged      unmerged
    AA*         AAA         AA          left
    A  *BB      A  BBB      A   BB      right
    AA*BB       AAAAA       AA BB       both
    """
    s = Scene(kernel, mm, side, backing)
    vma, state = s.merge(pgoff=s.b.pgoff(s.range[0]) + delta)
    if delta == 0:
        s.assert_merged(vma, state)
    else:
        s.assert_unmerged(vma, state)


@pytest.mark.parametrize("backing", BACKINGS)
def test_pgoff_discontiguous_next_merges_left_only(kernel, mm, backing):
    """
    B's pgoff does not continue the range's: only A takes the range.

    01234           01234
    AA*BB     ->    AAABB
    """
    s = Scene(kernel, mm, "both", backing, next_kw={"pgoff": _pg(backing, 3) + 5})
    vma, state = s.merge()
    assert (vma, state) == (s.prev, "success"), show(mm)
    assert row(mm) == "AAABB"
    assert spans(mm) == [(0, 3, _pg(backing, 0)), (3, 5, _pg(backing, 3) + 5)]


# --- anon_vma ------------------------------------------------------------------

# (target's anon_vma, range's anon_vma): "av1"/"av2" distinct anon_vmas with one
# chain entry; "fork" = av1 with two chain entries (a fork child); None = unfaulted.
ANON_CASES = {
    "none-none": (None, None),
    "same": ("av1", "av1"),
    "distinct": ("av1", "av2"),
    "target-faulted": ("av1", None),
    "target-fork-child": ("fork", None),
    "range-faulted": (None, "av1"),
}


@pytest.mark.parametrize("case", list(ANON_CASES))
@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("side", ["left", "right"])
def test_anon_vma_compatibility(kernel, mm, side, backing, case):
    """
    same / none on either side merge; distinct anon_vmas never do; a fork child
    target takes no unfaulted range; an unfaulted target takes a faulted range on
    7.x but not on 6.12 (see unfaulted_target_takes_anon_vma).

    0123456     merged      unmerged
    AA*         AAA         AA          left
    A  *BB      A  BBB      A   BB      right
    AA*BB       AAAAA       AA BB       both
    """
    avs = {"av1": kernel.anon_vma(), "av2": kernel.anon_vma()}
    tgt, rng = ANON_CASES[case]
    s = Scene(kernel, mm, side, backing)
    if tgt is not None:
        faulted(s.target, avs["av1" if tgt == "fork" else tgt], 2 if tgt == "fork" else 1)
    vma, state = s.merge(anon_vma=avs[rng] if rng else None)

    merges = {"none-none": True, "same": True, "distinct": False, "target-faulted": True,
              "target-fork-child": False,
              "range-faulted": unfaulted_target_takes_anon_vma(kernel)}[case]
    if merges:
        s.assert_merged(vma, state)
    else:
        s.assert_unmerged(vma, state)


@pytest.mark.parametrize("backing", BACKINGS)
def test_anon_vma_prev_and_next_distinct_merges_left_only(kernel, mm, backing):
    """
    The range is compatible with A and with B, but A and B are not with each
    other: only A takes the range.

    01234           01234
    AA*BB     ->    AAABB
    """
    av1, av2 = kernel.anon_vma(), kernel.anon_vma()
    s = Scene(kernel, mm, "both", backing)
    faulted(s.prev, av1)
    faulted(s.next, av2)
    vma, state = s.merge()
    assert (vma, state) == (s.prev, "success"), show(mm)
    assert row(mm) == "AAABB"
    assert (s.prev.anon_vma, s.next.anon_vma) == (av1, av2)


@pytest.mark.parametrize("backing", BACKINGS)
def test_anon_vma_unfaulted_prev_faulted_next_merges_both(kernel, mm, backing):
    """
    A is unfaulted, B faulted: all three merge and A takes B's anon_vma.

    01234           01234
    AA*BB     ->    AAAAA
    """
    av = kernel.anon_vma()
    s = Scene(kernel, mm, "both", backing)
    faulted(s.next, av)
    s.assert_merged(*s.merge())
    assert s.prev.anon_vma == av
    assert av.was_cloned


# --- adjacency -----------------------------------------------------------------


@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("side", SIDES)
def test_gap_blocks(kernel, mm, side, backing):
    """
    The range is one page away from its neighbour(s); its pgoff still continues
    theirs, so only the address gap stands in the way.

    left:   AA *        ->  AA        right:  A *  BB  ->  A   BB
    both:   AA * BB     ->  AA   BB
    """
    b = Backing(kernel, backing)
    F = rw(kernel)
    pg = b.pgoff
    if side == "left":
        b.map(mm, 0, 2, F)
        vma, state = b.merge_new_range(mm, 3, 4, F, pgoff=pg(2))
        want = ("AA", [(0, 2, pg(0))])
    elif side == "right":
        b.map(mm, 0, 1, F)
        b.map(mm, 4, 6, F)
        vma, state = b.merge_new_range(mm, 2, 3, F, pgoff=pg(3))
        want = ("A   BB", [(0, 1, pg(0)), (4, 6, pg(4))])
    else:
        b.map(mm, 0, 2, F)
        b.map(mm, 5, 7, F, pgoff=pg(3))
        vma, state = b.merge_new_range(mm, 3, 4, F, pgoff=pg(2))
        want = ("AA   BB", [(0, 2, pg(0)), (5, 7, pg(3))])
    assert (vma, state) == (None, "nomerge"), show(mm)
    assert (row(mm), spans(mm)) == want, show(mm)


def test_no_vma_at_all(kernel, mm):
    """An empty address space: vma_merge_new_range() gives up at once.

    0123        0123
      *   ->              (nothing mapped, nothing merged)
    """
    vma, state = mm.merge_new_range(2 * P, 3 * P, 2, rw(kernel))
    assert (vma, state) == (None, "nomerge")
    assert mm.map_count == 0


# --- ->close -------------------------------------------------------------------


@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("side,who", [("left", "prev"), ("right", "next"), ("both", "prev"),
                                      ("both", "next")],
                         ids=["left-prev", "right-next", "both-prev", "both-next"])
def test_close_hook(kernel, mm, side, backing, who):
    """
    A VMA with ->close may be expanded but not removed.  Only "both" removes a
    VMA (B): with B's ->close the merge is cut down to A.

    both, B has ->close:   AA*BB  ->  AAABB
    otherwise:             as the scene merges
    """
    s = Scene(kernel, mm, side, backing)
    (s.prev if who == "prev" else s.next).set_vm_ops(close=True)
    vma, state = s.merge()
    if side == "both" and who == "next":
        assert (vma, state) == (s.prev, "success"), show(mm)
        assert row(mm) == "AAABB"
        assert spans(mm) == [(0, 3, s.b.pgoff(0)), (3, 5, s.b.pgoff(3))]
    else:
        s.assert_merged(vma, state)


@pytest.mark.parametrize("backing", BACKINGS)
def test_right_merge_with_nothing_below(kernel, mm, backing):
    """
    No VMA below the range (vmg->prev is NULL): the range still joins B, and the
    maple tree stays sound (the iterator must stay at the gap, not skip to B).

    0123            0123
    *BB      ->     AAA
    """
    b = Backing(kernel, backing)
    F = rw(kernel)
    nxt = b.map(mm, 1, 3, F)
    vma, state = b.merge_new_range(mm, 0, 1, F)
    assert (vma, state) == (nxt, "success"), show(mm)
    assert (row(mm), spans(mm)) == ("AAA", [(0, 3, b.pgoff(0))])
