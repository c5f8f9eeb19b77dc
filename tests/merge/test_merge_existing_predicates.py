# SPDX-License-Identifier: GPL-2.0-or-later
"""Both sides of every merge predicate of vma_merge_existing_range().

The middle VMA differs from its neighbours in VM_EXEC; the change asks for the
neighbours' flags (unless a case says otherwise).  Scenes; ``*`` is the range
whose flags change:

    left           AA**       ->  AAAA        (target A, the middle removed)
    left-part      AA*BB      ->  AAABB       (target A, the middle shrunk)
    right          **BB       ->  AAAA        (target B, the middle removed)
    right-part     AA*BB      ->  AABBB       (target B; vmg->prev is the middle)
    both           AA**CC     ->  AAAAAA      (target A, middle and C removed)

Every scene runs anonymous and file-backed.
"""
import pytest

from .merge_helpers import (BACKINGS, IGNORED_FLAGS, P, SPECIAL_FLAGS, Backing, faulted,
                            ignored_for_merge, need_flag, row, rw, show, single_bits, spans,
                            unfaulted_target_takes_anon_vma)

SCENES = ["left", "left-part", "right", "right-part", "both"]


class Scene:
    """Neighbours and middle of one scene, mapped; ``change()`` runs the merge."""

    def __init__(self, k, mm, scene, backing, F=None, G=None, mid_kw=None, prev_kw=None,
                 next_kw=None):
        self.k, self.mm, self.scene = k, mm, scene
        self.b = b = Backing(k, backing)
        self.F = rw(k) if F is None else F
        self.G = self.F | k.flag("VM_EXEC") if G is None else G
        mid_kw, prev_kw, next_kw = mid_kw or {}, prev_kw or {}, next_kw or {}
        self.prev = self.next = None
        if scene == "left":
            self.prev = b.map(mm, 0, 2, self.F, **prev_kw)
            self.middle = b.map(mm, 2, 4, self.G, **mid_kw)
            self.range, self.vmg_prev = (2, 4), self.prev
        elif scene == "left-part":
            self.prev = b.map(mm, 0, 2, self.F, **prev_kw)
            self.middle = b.map(mm, 2, 5, self.G, **mid_kw)
            self.range, self.vmg_prev = (2, 3), self.prev
        elif scene == "right":
            self.middle = b.map(mm, 0, 2, self.G, **mid_kw)
            self.next = b.map(mm, 2, 4, self.F, **next_kw)
            self.range, self.vmg_prev = (0, 2), None
        elif scene == "right-part":
            self.middle = b.map(mm, 0, 3, self.G, **mid_kw)
            self.next = b.map(mm, 3, 5, self.F, **next_kw)
            self.range, self.vmg_prev = (2, 3), self.middle
        else:
            self.prev = b.map(mm, 0, 2, self.F, **prev_kw)
            self.middle = b.map(mm, 2, 4, self.G, **mid_kw)
            self.next = b.map(mm, 4, 6, self.F, **next_kw)
            self.range, self.vmg_prev = (2, 4), self.prev
        self.target = self.prev if self.prev is not None else self.next
        self.before = (row(mm), spans(mm))

    def change(self, flags=None):
        first, end = self.range
        return self.mm.merge_existing(self.middle, first * P, end * P,
                                      self.F if flags is None else flags, prev=self.vmg_prev)

    def merged(self):
        pg = self.b.pgoff
        return {"left": ("AAAA", [(0, 4, pg(0))]),
                "left-part": ("AAABB", [(0, 3, pg(0)), (3, 5, pg(3))]),
                "right": ("AAAA", [(0, 4, pg(0))]),
                "right-part": ("AABBB", [(0, 2, pg(0)), (2, 5, pg(2))]),
                "both": ("AAAAAA", [(0, 6, pg(0))])}[self.scene]

    def assert_merged(self, vma, state):
        assert (vma, state) == (self.target, "success"), show(self.mm)
        assert (row(self.mm), spans(self.mm)) == self.merged(), show(self.mm)

    def assert_unmerged(self, vma, state):
        assert (vma, state) == (None, "nomerge"), show(self.mm)
        assert (row(self.mm), spans(self.mm)) == self.before, show(self.mm)


# --- flags -------------------------------------------------------------------


@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("scene", SCENES)
def test_neighbours_flags_merge(kernel, mm, scene, backing):
    """
    The range takes its neighbours' flags: the scene merges.

    012345      merged      unmerged
    AA**        AAAA        AABB        left
    AA*BB       AAABB       AABBB       left-part
    **BB        AAAA        AABB        right
    AA*BB       AABBB       AAABB       right-part
    AA**CC      AAAAAA      AABBCC      both
    """
    s = Scene(kernel, mm, scene, backing)
    s.assert_merged(*s.change())
    assert s.target.flags == s.F


@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("scene", SCENES)
def test_unchanged_flags_do_not_merge(kernel, mm, scene, backing):
    """Asking for the middle VMA's own flags: they still differ from the
    neighbours' (VM_EXEC), so nothing merges.

    012345      merged      unmerged
    AA**        AAAA        AABB        left
    AA*BB       AAABB       AABBB       left-part
    **BB        AAAA        AABB        right
    AA*BB       AABBB       AAABB       right-part
    AA**CC      AAAAAA      AABBCC      both
    """
    s = Scene(kernel, mm, scene, backing)
    s.assert_unmerged(*s.change(s.G))


@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("scene", SCENES)
def test_plain_extra_flag_blocks(kernel, mm, scene, backing):
    """The request has the neighbours' flags plus VM_DONTDUMP: no merge.

    012345      merged      unmerged
    AA**        AAAA        AABB        left
    AA*BB       AAABB       AABBB       left-part
    **BB        AAAA        AABB        right
    AA*BB       AABBB       AAABB       right-part
    AA**CC      AAAAAA      AABBCC      both
    """
    s = Scene(kernel, mm, scene, backing)
    s.assert_unmerged(*s.change(s.F | kernel.flag("VM_DONTDUMP")))


@pytest.mark.parametrize("flag", IGNORED_FLAGS)
@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("scene", SCENES)
def test_ignored_extra_flag_merges(kernel, mm, scene, backing, flag):
    """The request has the neighbours' flags plus a flag the tree ignores for
    merging: it merges; the target keeps the flag only on sticky trees.

    012345      merged      unmerged
    AA**        AAAA        AABB        left
    AA*BB       AAABB       AABBB       left-part
    **BB        AAAA        AABB        right
    AA*BB       AABBB       AAABB       right-part
    AA**CC      AAAAAA      AABBCC      both
    """
    X = need_flag(kernel, flag)
    assert X & ignored_for_merge(kernel) == X
    s = Scene(kernel, mm, scene, backing)
    s.assert_merged(*s.change(s.F | X))
    assert s.target.flags == s.F | (X if kernel.has("sticky") else 0), show(mm)


@pytest.mark.parametrize("backing", BACKINGS)
def test_every_flag_in_request(kernel, mm, backing):
    """
    Every single-bit flag toggled in the request (against the neighbours' flags),
    on the "both" scene: all three merge exactly when the flag is ignored for
    merging and the request is not special.

    012345          012345
    AA**CC    ->    AAAAAA  or unchanged
    """
    ignored, special = ignored_for_merge(kernel), kernel.mask("VM_SPECIAL")
    wrong = []
    for name in single_bits(kernel):
        f = kernel.flag(name)
        with kernel.mm(check_each=True) as m:
            s = Scene(kernel, m, "both", backing)
            vma, state = s.change(s.F ^ f)
            want = "success" if (f & ignored and not (s.F ^ f) & special) else "nomerge"
            if state != want:
                wrong.append(f"{name}: {state}, expected {want}\n{m.diagram()}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("flag", SPECIAL_FLAGS)
@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("scene", SCENES)
def test_special_flag_blocks_even_when_equal(kernel, mm, scene, backing, flag):
    """Neighbours, middle and request all carry the same VM_SPECIAL flag, and the
    request is otherwise the neighbours' flags: no merge.

    012345      merged      unmerged
    AA**        AAAA        AABB        left
    AA*BB       AAABB       AABBB       left-part
    **BB        AAAA        AABB        right
    AA*BB       AABBB       AAABB       right-part
    AA**CC      AAAAAA      AABBCC      both
    """
    X = need_flag(kernel, flag)
    assert X & kernel.mask("VM_SPECIAL") == X
    F = rw(kernel) | X
    s = Scene(kernel, mm, scene, backing, F=F)
    s.assert_unmerged(*s.change(F))


# --- file ----------------------------------------------------------------------


@pytest.mark.parametrize("case", ["same-file", "other-file", "anon-middle"])
@pytest.mark.parametrize("scene", SCENES)
def test_file_identity(kernel, mm, scene, case):
    """File-backed neighbours; the middle maps the same file, another file, or is
    anonymous (vmg->file is the middle's).  Only same-file merges.

    012345      merged      unmerged
    AA**        AAAA        AABB        left
    AA*BB       AAABB       AABBB       left-part
    **BB        AAAA        AABB        right
    AA*BB       AABBB       AAABB       right-part
    AA**CC      AAAAAA      AABBCC      both
    """
    mid = {"same-file": {}, "other-file": {"file": kernel.file()},
           "anon-middle": {"file": None}}[case]
    s = Scene(kernel, mm, scene, "file", mid_kw=mid)
    vma, state = s.change()
    if case == "same-file":
        s.assert_merged(vma, state)
    else:
        s.assert_unmerged(vma, state)


# --- pgoff -------------------------------------------------------------------


@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("scene", SCENES)
def test_pgoff_discontiguous_middle(kernel, mm, scene, backing):
    """The middle VMA's pgoff does not continue its neighbours': no merge.

    012345      merged      unmerged
    AA**        AAAA        AABB        left
    AA*BB       AAABB       AABBB       left-part
    **BB        AAAA        AABB        right
    AA*BB       AABBB       AAABB       right-part
    AA**CC      AAAAAA      AABBCC      both
    """
    b = Backing(kernel, backing)
    first = 0 if scene.startswith("right") else 2
    s = Scene(kernel, mm, scene, backing, mid_kw={"pgoff": b.pgoff(first) + 7})
    s.assert_unmerged(*s.change())


@pytest.mark.parametrize("backing", BACKINGS)
def test_pgoff_discontiguous_next_merges_left_only(kernel, mm, backing):
    """
    C's pgoff does not continue B's: A absorbs B, C stays.

    012345          012345
    AA**CC    ->    AAAABB
    """
    b = Backing(kernel, backing)
    s = Scene(kernel, mm, "both", backing, next_kw={"pgoff": b.pgoff(4) + 7})
    vma, state = s.change()
    assert (vma, state) == (s.prev, "success"), show(mm)
    assert row(mm) == "AAAABB"
    assert spans(mm) == [(0, 4, b.pgoff(0)), (4, 6, b.pgoff(4) + 7)]


# --- anon_vma ------------------------------------------------------------------

# (target's, middle's): "av1"/"av2" distinct anon_vmas with one chain entry, "fork"
# av1 with two chain entries (a fork child), None unfaulted.
ANON_CASES = {
    "none-none": (None, None),
    "same": ("av1", "av1"),
    "distinct": ("av1", "av2"),
    "target-faulted": ("av1", None),
    "target-fork-child": ("fork", None),
    "middle-faulted": (None, "av1"),
    "middle-fork-child": (None, "fork"),
}


@pytest.mark.parametrize("case", list(ANON_CASES))
@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("scene", ["left", "left-part", "right", "right-part"])
def test_anon_vma_compatibility(kernel, mm, scene, backing, case):
    """
    Same or absent anon_vmas merge, distinct ones never do; a fork child never
    takes an unfaulted range nor gives its anon_vma to an unfaulted target; an
    unfaulted target takes a faulted middle on 7.x but not on 6.12.

    012345      merged      unmerged
    AA**        AAAA        AABB        left
    AA*BB       AAABB       AABBB       left-part
    **BB        AAAA        AABB        right
    AA*BB       AABBB       AAABB       right-part
    AA**CC      AAAAAA      AABBCC      both
    """
    avs = {"av1": kernel.anon_vma(), "av2": kernel.anon_vma()}
    tgt, mid = ANON_CASES[case]
    s = Scene(kernel, mm, scene, backing)
    for vma, what in ((s.target, tgt), (s.middle, mid)):
        if what is not None:
            faulted(vma, avs["av1" if what == "fork" else what], 2 if what == "fork" else 1)
    vma, state = s.change()

    merges = {"none-none": True, "same": True, "distinct": False, "target-faulted": True,
              "target-fork-child": False,
              "middle-faulted": unfaulted_target_takes_anon_vma(kernel),
              "middle-fork-child": False}[case]
    if merges:
        s.assert_merged(vma, state)
        if mid is not None:
            assert s.target.anon_vma == avs["av1"]
    else:
        s.assert_unmerged(vma, state)


@pytest.mark.parametrize("backing", BACKINGS)
def test_anon_vma_prev_and_next_distinct_merges_left_only(kernel, mm, backing):
    """
    A and C have distinct anon_vmas, B none: B may join either, not both.

    012345          012345
    AA**CC    ->    AAAABB
    """
    av1, av2 = kernel.anon_vma(), kernel.anon_vma()
    s = Scene(kernel, mm, "both", backing)
    faulted(s.prev, av1)
    faulted(s.next, av2)
    vma, state = s.change()
    assert (vma, state) == (s.prev, "success"), show(mm)
    assert row(mm) == "AAAABB"
    assert (s.prev.anon_vma, s.next.anon_vma) == (av1, av2)


# --- adjacency and the range -------------------------------------------------


@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("side", ["left", "right"])
def test_gap_blocks(kernel, mm, side, backing):
    """
    The middle VMA's neighbour is one page away (pgoffs still continuous).

    left:   AA **    ->  AA BB        right:  ** BB   ->  AA BB
    """
    b = Backing(kernel, backing)
    F, G = rw(kernel), rw(kernel) | kernel.flag("VM_EXEC")
    if side == "left":
        a = b.map(mm, 0, 2, F)
        mid = b.map(mm, 3, 5, G, pgoff=b.pgoff(2))
        vma, state = mm.merge_existing(mid, 3 * P, 5 * P, F, prev=a)
    else:
        mid = b.map(mm, 0, 2, G)
        b.map(mm, 3, 5, F, pgoff=b.pgoff(2))
        vma, state = mm.merge_existing(mid, 0, 2 * P, F, prev=None)
    assert (vma, state) == (None, "nomerge"), show(mm)
    assert row(mm) == "AA BB"


@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("pos", ["whole", "left-part", "right-part", "inner"])
def test_range_position(kernel, mm, backing, pos):
    """
    Where the range sits in the middle VMA B decides which neighbour it can join;
    a range touching neither end joins none.

    0123456         0123456
    AA***CC   ->    AAAAAAA   whole
    AA*BBCC   ->    AAABBCC   left-part
    AABB*CC   ->    AABBCCC   right-part
    AAB*BCC   ->    AABBBCC   inner (nomerge)
    """
    b = Backing(kernel, backing)
    pg = b.pgoff
    F, G = rw(kernel), rw(kernel) | kernel.flag("VM_EXEC")
    a = b.map(mm, 0, 2, F)
    mid = b.map(mm, 2, 5, G)
    c = b.map(mm, 5, 7, F)
    first, end, prev, want_vma, want = {
        "whole": (2, 5, a, a, ("AAAAAAA", [(0, 7, pg(0))])),
        "left-part": (2, 3, a, a, ("AAABBCC", [(0, 3, pg(0)), (3, 5, pg(3)), (5, 7, pg(5))])),
        "right-part": (4, 5, mid, c, ("AABBCCC", [(0, 2, pg(0)), (2, 4, pg(2)), (4, 7, pg(4))])),
        "inner": (3, 4, mid, None, ("AABBBCC", [(0, 2, pg(0)), (2, 5, pg(2)), (5, 7, pg(5))])),
    }[pos]
    vma, state = mm.merge_existing(mid, first * P, end * P, F, prev=prev)
    assert (vma, state) == (want_vma, "success" if want_vma else "nomerge"), show(mm)
    assert (row(mm), spans(mm)) == want, show(mm)


# --- ->close -------------------------------------------------------------------


@pytest.mark.parametrize("backing", BACKINGS)
@pytest.mark.parametrize("case", ["middle-whole", "middle-part", "next", "prev"])
def test_close_hook(kernel, mm, backing, case):
    """
    A VMA with ->close may shrink or grow, not go.

    middle-whole: B (->close) would be removed       AA**CC -> AABBCC (nomerge)
    middle-part:  B (->close) only shrinks           AA*BCC -> AAABCC
    next:         C (->close) would be removed       AA**CC -> AAAABB
    prev:         A (->close) only grows             AA**CC -> AAAAAA
    """
    s = Scene(kernel, mm, "both", backing)      # middle-part changes [2, 3) of B
    who = {"middle-whole": s.middle, "middle-part": s.middle, "next": s.next,
           "prev": s.prev}[case]
    who.set_vm_ops(close=True)
    pg = s.b.pgoff
    if case == "middle-part":
        vma, state = mm.merge_existing(s.middle, 2 * P, 3 * P, s.F, prev=s.prev)
        assert (vma, state) == (s.prev, "success"), show(mm)
        assert (row(mm), spans(mm)) == ("AAABCC", [(0, 3, pg(0)), (3, 4, pg(3)),
                                                   (4, 6, pg(4))]), show(mm)
    elif case == "middle-whole":
        s.assert_unmerged(*s.change())
    elif case == "next":
        vma, state = s.change()
        assert (vma, state) == (s.prev, "success"), show(mm)
        assert (row(mm), spans(mm)) == ("AAAABB", [(0, 4, pg(0)), (4, 6, pg(4))]), show(mm)
    else:
        s.assert_merged(*s.change())
