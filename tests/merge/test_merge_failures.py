# SPDX-License-Identifier: GPL-2.0-or-later
"""What a merge that fails half-way leaves behind: state, layout, the iterator.

The two forced failures are upstream's: anon_vma_clone() (the unfaulted target
must take a faulted VMA's anon_vma) and the maple tree preallocation.  ``*`` marks
the range; every scene has an unfaulted A and a faulted B (or C), so the merge
needs the clone.
"""
import pytest

from ..helpers import errno_of
from .merge_helpers import P, faulted, row, rw, show, spans

ENOMEM = -12


class KernelWarned(Exception):
    """The kernel code WARNed where it should not have."""


class IteratorAstray(Exception):
    """The iterator is not where the caller will assume it is."""


class HarnessDeviation(Exception):
    """The harness's stand-in differs from the kernel function it replaces."""


def _fail(kernel, how, on):
    if how == "clone":
        kernel.fail_anon_vma_clone(on)
    else:
        kernel.fail_prealloc(on)


@pytest.mark.parametrize("how", ["clone", "prealloc"])
def test_new_range_failure(kernel, mm, how):
    """
    A clone failure surfaces from vma_expand() without touching vmg->state, so
    the new-range merge reports "nomerge" (mm/vma.c: by convention its callers
    ignore OOM here); a preallocation failure reports "nomem".

    01234           01234
    AA*BB     ->    AA BB
    """
    F = rw(kernel)
    a = mm.map(0, 2 * P, 0, F)
    b = mm.map(3 * P, 5 * P, 3, F)
    faulted(b, kernel.anon_vma())

    _fail(kernel, how, True)
    vma, state = mm.merge_new_range(2 * P, 3 * P, 2, F)
    _fail(kernel, how, False)

    assert (vma, state) == (None, "nomerge" if how == "clone" else "nomem"), show(mm)
    assert row(mm) == "AA BB"
    assert spans(mm) == [(0, 2, 0), (3, 5, 3)]
    assert (a.flags, b.flags) == (F, F)


@pytest.mark.parametrize("how", ["clone", "prealloc"])
def test_existing_range_failure(kernel, mm, how):
    """
    The middle B takes A's flags and would merge with A and C; A is unfaulted
    and must take C's anon_vma.  Either failure: "nomem", nothing changed.

    012345          012345
    AA**CC    ->    AABBCC
    """
    F, X = rw(kernel), kernel.flag("VM_EXEC")
    a = mm.map(0, 2 * P, 0, F)
    b = mm.map(2 * P, 4 * P, 2, F | X)
    c = mm.map(4 * P, 6 * P, 4, F)
    faulted(c, kernel.anon_vma())

    _fail(kernel, how, True)
    vma, state = mm.merge_existing(b, 2 * P, 4 * P, F, prev=a)
    _fail(kernel, how, False)

    assert (vma, state) == (None, "nomem"), show(mm)
    assert row(mm) == "AABBCC"
    assert (a.flags, b.flags, c.flags) == (F, F | X, F)


@pytest.mark.parametrize("how", ["clone", "prealloc"])
def test_expand_failure(kernel, mm, how):
    """
    012345          012345
    AA**BB    ->    AA  BB    (-ENOMEM)
    """
    F = rw(kernel)
    a = mm.map(0, 2 * P, 0, F)
    b = mm.map(4 * P, 6 * P, 4, F)
    faulted(b, kernel.anon_vma())

    _fail(kernel, how, True)
    err = errno_of(mm.expand, a, 0, 6 * P, next=b)
    _fail(kernel, how, False)

    assert err == ENOMEM
    assert row(mm) == "AA  BB"
    assert spans(mm) == [(0, 2, 0), (4, 6, 4)]


@pytest.mark.xfail(strict=True, raises=IteratorAstray, reason=(
    "kernel bug: vma_merge_new_range() moves the iterator to prev before "
    "vma_expand() and leaves it there when the anon_vma clone fails; 6.12 means to "
    "reset it but tests `vmg->vma == prev` right after setting vmg->vma = NULL, 7.x "
    "dropped the reset.  Callers (mmap) then vma_iter_config() the gap from prev's slot"))
def test_failed_new_range_merge_leaves_iterator_at_gap(kernel, mm):
    """
    The merge moves the iterator to A, then fails to clone B's anon_vma into A.
    Whoever maps the gap next (mmap_region's new VMA) configures the iterator for
    [2, 3) assuming it stands in the gap.

    01234           01234
    AA*BB     ->    AA BB     (iterator should be back at page 2)
    """
    F = rw(kernel)
    mm.map(0, 2 * P, 0, F)
    b = mm.map(3 * P, 5 * P, 3, F)
    faulted(b, kernel.anon_vma())
    vmi = mm.vmi(2 * P)
    vmg = mm.vmg(vmi)
    vmg.set_range(2 * P, 3 * P, 2, F)

    kernel.fail_anon_vma_clone(True)
    vma = vmg.upstream_merge_new()
    kernel.fail_anon_vma_clone(False)

    assert vma is None
    assert row(mm) == "AA BB"
    if vmi.addr != 2 * P:
        raise IteratorAstray(f"the iterator stands at {vmi.addr:#x}, in A")


@pytest.mark.requires("mmap_region")
@pytest.mark.xfail(strict=True, raises=KernelWarned, reason=(
    "kernel bug: after the failed merge __mmap_new_vma()'s vma_iter_config() finds "
    "the iterator on prev and __mas_set_range()'s MAS_WARN_ON (a plain WARN_ON "
    "without CONFIG_DEBUG_MAPLE_TREE) fires"))
def test_mmap_after_failed_merge_does_not_warn(kernel, mm):
    """
    mmap() of the hole between an unfaulted A and a faulted C: the merge needs an
    anon_vma clone into A, which fails; mmap falls back to a new VMA B.  The
    layout is right, but the kernel WARNs on the way.

    012345          012345
    AA**CC    ->    AABBCC
    """
    F = rw(kernel)
    assert mm.mmap_region(0, 2 * P, F) == 0
    assert mm.mmap_region(4 * P, 2 * P, F) == 4 * P
    faulted(mm.vmas()[1], kernel.anon_vma())
    kernel.clear_warnings()

    kernel.fail_anon_vma_clone(True)
    ret = mm.mmap_region(2 * P, 2 * P, F)
    kernel.fail_anon_vma_clone(False)

    assert ret == 2 * P
    assert row(mm) == "AABBCC", show(mm)
    assert spans(mm) == [(0, 2, 0), (2, 4, 2), (4, 6, 4)]
    warns = kernel.warnings()
    if warns:
        kernel.clear_warnings()
        raise KernelWarned("; ".join(map(str, warns)))


@pytest.mark.requires("mmap_region")
def test_mmap_merges_when_clone_succeeds(kernel, mm):
    """
    The control for the test above: without the forced failure all three merge
    and nothing WARNs.

    012345          012345
    AA**CC    ->    AAAAAA
    """
    F = rw(kernel)
    assert mm.mmap_region(0, 2 * P, F) == 0
    assert mm.mmap_region(4 * P, 2 * P, F) == 4 * P
    av = kernel.anon_vma()
    faulted(mm.vmas()[1], av)

    assert mm.mmap_region(2 * P, 2 * P, F) == 2 * P
    assert row(mm) == "AAAAAA", show(mm)
    assert mm.vmas()[0].anon_vma == av


@pytest.mark.parametrize("path", ["new", "existing", "expand"])
def test_failed_clone_leaves_target_unfaulted(kernel, mm, path):
    """
    The target A was unfaulted before the failed merge and must still be.

    01234           01234
    AA*BB     ->    AA BB     new:      merge_new of the gap
    AA**CC    ->    AABBCC    existing: B takes A's flags, would absorb C
    AA**BB    ->    AA  BB    expand:   A over the gap and B
    """
    F, X = rw(kernel), kernel.flag("VM_EXEC")
    a = mm.map(0, 2 * P, 0, F)
    kernel.fail_anon_vma_clone(True)
    try:
        if path == "new":
            faulted(mm.map(3 * P, 5 * P, 3, F), kernel.anon_vma())
            assert mm.merge_new_range(2 * P, 3 * P, 2, F)[0] is None
        elif path == "existing":
            b = mm.map(2 * P, 4 * P, 2, F | X)
            faulted(mm.map(4 * P, 6 * P, 4, F), kernel.anon_vma())
            assert mm.merge_existing(b, 2 * P, 4 * P, F, prev=a)[0] is None
        else:
            b = mm.map(4 * P, 6 * P, 4, F)
            faulted(b, kernel.anon_vma())
            assert errno_of(mm.expand, a, 0, 6 * P, next=b) == ENOMEM
    finally:
        kernel.fail_anon_vma_clone(False)
    if a.anon_vma is not None:
        raise HarnessDeviation("A holds the anon_vma it failed to clone")
