# SPDX-License-Identifier: GPL-2.0-or-later
"""The sticky-flag rules as facts, checked against every tree that has the feature.

The rest of the suite reads the masks from the built tree and moves a flag of that
mask around: it cannot notice a mask that is itself wrong (a tree whose
``VM_COPY_ON_FORK`` lost ``VM_MAYBE_GUARD`` agrees with every test that asks it for
the mask).  These tests state the rules of the review the sticky flags came from once,
independent of the tree's masks, and hold each tree to them:

* guard markers (``VM_MAYBE_GUARD``) are copied on fork: in ``VM_COPY_ON_FORK``;
* they are sticky across merges: in ``VMA_STICKY_FLAGS`` / ``VM_STICKY``, and a
  merged VMA carries the flag when any participant had it;
* they are ignored when flags are compared for a merge: in
  ``VMA_IGNORE_MERGE_FLAGS`` / ``VM_IGNORE_MERGE``, and VMAs that differ in it merge
  (where VMAs that differ in a flag outside the rules, ``VM_EXEC``, do not);
* with ``CONFIG_MEM_SOFT_DIRTY=y``, where the tree made soft-dirty sticky, the same
  two rules hold for ``VM_SOFTDIRTY``.

Each fact is checked under CONFIG_MEM_SOFT_DIRTY=y and =n, since the trees define
the sticky mask once per branch of that option.
"""
from __future__ import annotations

import pytest

from .sticky_helpers import P, kernel_with_soft_dirty, row, rw, show

pytestmark = pytest.mark.requires("sticky", "maybe_guard")

SOFT_DIRTY = pytest.mark.parametrize("soft_dirty", [True, False], ids=["sd", "nosd"])


@pytest.fixture
def kb(kernel, load_kernel, soft_dirty):
    """*kernel*'s tree built with CONFIG_MEM_SOFT_DIRTY=*soft_dirty*."""
    k = kernel_with_soft_dirty(kernel, load_kernel, soft_dirty)
    k.clear_warnings()
    yield k
    warns = k.warnings()
    k.clear_warnings()
    if warns:
        pytest.fail("WARN in kernel code:\n" + "\n".join(f"  {w}" for w in warns),
                    pytrace=False)


def names(k, value: int) -> list[str]:
    return sorted(k.names_of(value))


@SOFT_DIRTY
def test_guard_is_one_flag_bit(kb):
    """VM_MAYBE_GUARD is one VMA flag bit of its own (a mask test of 0 proves nothing)."""
    g = kb.flag("VM_MAYBE_GUARD")
    assert g and g & (g - 1) == 0, hex(g)
    for other in ("VM_READ", "VM_WRITE", "VM_EXEC", "VM_SHARED", "VM_ACCOUNT"):
        assert not g & kb.flag(other), other


@pytest.mark.requires("copy_on_fork")
@SOFT_DIRTY
def test_guard_copied_on_fork(kb):
    """fork() copies the page tables of a VMA that may hold guard markers:
    VM_MAYBE_GUARD is in VM_COPY_ON_FORK (with VM_PFNMAP and VM_MIXEDMAP, whose page
    tables cannot be faulted in again, and VM_UFFD_WP, whose PTE bits hold the
    write-protection, where the build has it: VM_NONE without CONFIG_USERFAULTFD)."""
    mask = kb.mask("VM_COPY_ON_FORK")
    uffd = ("VM_UFFD_WP",) if kb.has_flag("VM_UFFD_WP") else ()
    for flag in ("VM_MAYBE_GUARD", "VM_PFNMAP", "VM_MIXEDMAP", *uffd):
        assert kb.flag(flag) & mask, \
            f"{flag} is not in VM_COPY_ON_FORK of {kb.version}: {names(kb, mask)}"


@SOFT_DIRTY
def test_guard_in_sticky_mask(kb):
    """VM_MAYBE_GUARD is sticky: in VMA_STICKY_FLAGS (VM_STICKY)."""
    assert kb.flag("VM_MAYBE_GUARD") & kb.sticky_mask, \
        f"VM_MAYBE_GUARD is not sticky in {kb.version}: {names(kb, kb.sticky_mask)}"


@SOFT_DIRTY
def test_guard_in_ignore_merge_mask(kb):
    """VM_MAYBE_GUARD is ignored when flags are compared for a merge."""
    mask = kb.ignore_merge_mask
    assert kb.flag("VM_MAYBE_GUARD") & mask, \
        f"VM_MAYBE_GUARD is not ignored on merge in {kb.version}: {names(kb, mask)}"


@pytest.mark.requires("soft_dirty_sticky")
def test_soft_dirty_sticky_and_ignored(kernel, load_kernel):
    """With CONFIG_MEM_SOFT_DIRTY=y, VM_SOFTDIRTY is sticky and ignored on merge."""
    k = kernel_with_soft_dirty(kernel, load_kernel, True)
    sd = k.flag("VM_SOFTDIRTY")
    assert sd & k.sticky_mask, names(k, k.sticky_mask)
    assert sd & k.ignore_merge_mask, names(k, k.ignore_merge_mask)


@SOFT_DIRTY
@pytest.mark.parametrize("where", ["prev", "new", "next"])
def test_guard_differing_vmas_merge_and_keep_guard(kb, where):
    """
    Only one of the three carries VM_MAYBE_GUARD; they merge anyway (the flag is
    ignored when comparing) and the merged VMA carries it (sticky).

    01234           01234
    AA*BB     ->    AAAAA
    """
    g, F = kb.flag("VM_MAYBE_GUARD"), rw(kb)
    with kb.mm(check_each=True) as mm:
        a = mm.map(0, 2 * P, 0, F | (g if where == "prev" else 0))
        mm.map(3 * P, 5 * P, 3, F | (g if where == "next" else 0))

        vma, state = mm.merge_new_range(2 * P, 3 * P, 2, F | (g if where == "new" else 0))

        assert (vma, state) == (a, "success"), show(mm)
        assert row(mm) == "AAAAA", show(mm)
        assert a.flags == F | g, show(mm)


@SOFT_DIRTY
def test_non_sticky_difference_blocks_merge(kb):
    """
    The control: a flag outside the rules (VM_EXEC) keeps VMAs apart, so the merge
    above is the rule at work and not a merge that ignores every flag.

    012           012
    A*     ->     A*   (no merge)
    """
    F = rw(kb)
    with kb.mm(check_each=True) as mm:
        mm.map(0, 2 * P, 0, F | kb.flag("VM_EXEC"))
        vma, state = mm.merge_new_range(2 * P, 3 * P, 2, F)
        assert vma is None and state == "nomerge", show(mm)
        assert row(mm) == "AA", show(mm)
