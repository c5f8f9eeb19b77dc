# SPDX-License-Identifier: GPL-2.0-or-later
"""CONFIG_MEM_SOFT_DIRTY and the sticky set.

On trees with sticky flags, VM_SOFTDIRTY is sticky exactly when
CONFIG_MEM_SOFT_DIRTY=y; VM_MAYBE_GUARD is sticky either way.  With the option
off, VM_SOFTDIRTY is VM_NONE, and the bit it would use (the tree's own value,
read from the build with the option on) is an ordinary flag: a difference in it
blocks a merge, and nothing carries it over.  Pre-sticky trees (6.12) behave the
same way with the option off, and with it on ignore the bit when comparing but do
not carry it to the merged VMA.
"""
import pytest

from .sticky_helpers import P, kernel_with_soft_dirty, row, rw, show

SD = [pytest.param(True, id="softdirty-on"), pytest.param(False, id="softdirty-off")]


@pytest.fixture
def builds(kernel, load_kernel):
    """(soft-dirty-on build, soft-dirty-off build) of the tree under test."""
    return (kernel_with_soft_dirty(kernel, load_kernel, True),
            kernel_with_soft_dirty(kernel, load_kernel, False))


def _checked_mm(k):
    k.clear_warnings()
    k.fail_anon_vma_clone(False)
    return k.mm(check_each=True)


def _finish(k, mm):
    mm.check_each = False
    mm.check()
    mm.close()
    warns = k.warnings()
    k.clear_warnings()
    assert not warns, "WARN in kernel code:\n" + "\n".join(map(str, warns))


@pytest.mark.requires("sticky")
def test_softdirty_sticky_iff_config(builds):
    on, off = builds
    assert on.config.enabled("CONFIG_MEM_SOFT_DIRTY")
    assert not off.config.enabled("CONFIG_MEM_SOFT_DIRTY")

    sd = on.flag("VM_SOFTDIRTY")
    guard_on, guard_off = on.flag("VM_MAYBE_GUARD"), off.flag("VM_MAYBE_GUARD")
    assert guard_on == guard_off

    # on: soft-dirty is sticky, and (like every sticky flag) ignored for merging
    assert on.sticky_mask & sd == sd
    assert on.sticky_mask & guard_on == guard_on
    assert on.ignore_merge_mask & on.sticky_mask == on.sticky_mask
    # off: VM_SOFTDIRTY is VM_NONE, and its bit has left the sticky set only
    assert not off.has_flag("VM_SOFTDIRTY")
    assert off.sticky_mask == on.sticky_mask & ~sd
    assert off.sticky_mask & guard_off == guard_off
    assert off.ignore_merge_mask & off.sticky_mask == off.sticky_mask
    assert off.ignore_merge_mask & sd == 0


@pytest.mark.parametrize("soft_dirty", SD)
@pytest.mark.parametrize("carrier", ["prev", "new"])
def test_softdirty_bit_merge_behaviour(builds, kernel, soft_dirty, carrier):
    """
    The soft-dirty bit on one side only.

    0123            0123
    AA*     ->      AAA       (soft-dirty on: merges)
    AA*     ->      AA        (soft-dirty off: the bit is an ordinary flag; nomerge)

    With the option on, the merged VMA has the bit if the tree has sticky flags,
    or (pre-sticky) if the target A had it: the new range's bit is dropped.
    """
    on, off = builds
    k = on if soft_dirty else off
    sd = on.flag("VM_SOFTDIRTY")           # the tree's bit, named in the "on" build
    F = rw(k)
    mm = _checked_mm(k)
    a = mm.map(0, 2 * P, 0, F | (sd if carrier == "prev" else 0))

    vma, state = mm.merge_new_range(2 * P, 3 * P, 2, F | (sd if carrier == "new" else 0))

    if soft_dirty:
        assert (vma, state) == (a, "success"), show(mm)
        assert row(mm) == "AAA"
        keeps = k.has("sticky") or carrier == "prev"
        assert a.flags == F | (sd if keeps else 0), show(mm)
    else:
        assert (vma, state) == (None, "nomerge"), show(mm)
        assert row(mm) == "AA"
        assert a.flags == F | (sd if carrier == "prev" else 0)
    _finish(k, mm)


@pytest.mark.requires("sticky")
@pytest.mark.parametrize("soft_dirty", SD)
def test_guard_sticky_either_way_softdirty_only_when_on(builds, soft_dirty):
    """
    A has VM_MAYBE_GUARD, B the soft-dirty bit; the range between them is plain.

    01234           01234
    AA*BB     ->    AAAAA     (on: union of both flags)
    AA*BB     ->    AAABB     (off: the bit blocks merging with B; A keeps guard)
    """
    on, off = builds
    k = on if soft_dirty else off
    sd, guard = on.flag("VM_SOFTDIRTY"), k.flag("VM_MAYBE_GUARD")
    F = rw(k)
    mm = _checked_mm(k)
    a = mm.map(0, 2 * P, 0, F | guard)
    b = mm.map(3 * P, 5 * P, 3, F | sd)

    vma, state = mm.merge_new_range(2 * P, 3 * P, 2, F)

    assert (vma, state) == (a, "success"), show(mm)
    if soft_dirty:
        assert row(mm) == "AAAAA"
        assert a.flags == F | guard | sd, show(mm)
    else:
        assert row(mm) == "AAABB"
        assert a.flags == F | guard, show(mm)
        assert b.flags == F | sd, show(mm)
    _finish(k, mm)


@pytest.mark.requires("mmap_region")
@pytest.mark.parametrize("soft_dirty", SD)
def test_mmap_marks_softdirty_iff_config(builds, soft_dirty):
    """
    __mmap_complete() marks every new or expanded mapping soft-dirty, when the
    page tables support it, i.e. only with CONFIG_MEM_SOFT_DIRTY=y.

    0123            0123            0123
                ->  AA        ->    AAAA    (mmap [0,2), then mmap [2,4): expands A)
    """
    on, off = builds
    k = on if soft_dirty else off
    sd = on.flag("VM_SOFTDIRTY")
    F = rw(k)
    mm = _checked_mm(k)

    assert mm.mmap_region(0, 2 * P, F) == 0
    (a,) = mm.vmas()
    assert bool(a.flags & sd) == soft_dirty, show(mm)
    a.set_flags(a.flags & ~sd)           # as clear_refs would: clean

    assert mm.mmap_region(2 * P, 2 * P, F) == 2 * P
    assert row(mm) == "AAAA", show(mm)
    assert bool(a.flags & sd) == soft_dirty, show(mm)
    _finish(k, mm)
