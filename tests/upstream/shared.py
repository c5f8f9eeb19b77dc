# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers of the upstream port, in the roles upstream's shared helpers play.

Each kernel runs the version of a test that its own tree's upstream suite has:
``suite(kernel)`` says which one ("7.3": tools/testing/vma/tests/*.c, written for
the vma_flags_t trees; "6.12": tools/testing/vma/vma.c).
"""
from __future__ import annotations

import itertools

import pytest
from ..helpers import P, errno_of, rw  # noqa: F401  (the suite's helpers)


def suite(kernel) -> str:
    """Which upstream suite the tree's own tools/testing/vma follows."""
    return "7.3" if kernel.has("vma_flags_t") else "6.12"


def offsets(vma) -> tuple[int, int]:
    """(vma_start_pgoff, vma_start_anon_pgoff); on trees without a separate anonymous
    offset the second is vm_pgoff, which is what it means there."""
    return vma.pgoff, vma.anon_pgoff


def alloc_vma(mm, start, end, pgoff, flags):
    """Upstream's alloc_vma(): a VMA not in the tree."""
    return mm.alloc(start, end, pgoff, flags)


def assert_attached(vma) -> None:
    """vma_assert_attached() where the tree's upstream helpers assert it (7.3); the
    harness checks that the mm's tree maps the VMA."""
    if suite(vma.mm.k) == "7.3":
        assert vma.attached


def attach_vma(mm, vma) -> int:
    """Upstream's attach_vma(): link into the tree; the VMA is then attached."""
    res = errno_of(mm.link, vma)
    if res == 0:
        assert_attached(vma)
    return res


def alloc_and_link_vma(mm, start, end, pgoff, flags):
    """Upstream's alloc_and_link_vma() (write-lock mark of the link cleared)."""
    vma = mm.map(start, end, pgoff, flags)
    assert_attached(vma)
    return vma


def merge_new(vmg):
    """Upstream's merge_new(): prev/next from the iterator, vma_merge_new_range()."""
    vma = vmg.upstream_merge_new()
    if vma is not None:
        assert_attached(vma)
    return vma


def merge_existing(vmg):
    """Upstream's merge_existing(): vma_merge_existing_range()."""
    vma = vmg.merge_existing()
    if vma is not None:
        assert_attached(vma)
    return vma


def vmg_set_range_anon_vma(vmg, start, end, pgoff, flags, anon_vma) -> None:
    """Upstream's vmg_set_range_anon_vma()."""
    vmg.set_range(start, end, pgoff, flags)
    vmg.anon_vma = anon_vma


def try_merge_new_vma(mm, vmg, start, end, pgoff, flags):
    """Upstream's try_merge_new_vma(): (VMA, was_merged) — merge, or map a new VMA."""
    vmg.set_range(start, end, pgoff, flags)
    merged = merge_new(vmg)
    if merged is not None:
        assert vmg.state == "success"
        return merged, True
    assert vmg.state == "nomerge"
    return alloc_and_link_vma(mm, start, end, pgoff, flags), False


def set_dummy_anon_vma(vma, anon_vma) -> None:
    """Upstream's (__)vma_set_dummy_anon_vma(): the anon_vma and one chain entry."""
    vma.set_anon_vma(anon_vma)
    vma.add_avc(anon_vma)


def set_expand_target(kernel, vmg, vma) -> None:
    """The VMA vma_expand() grows: vmg->target, or vmg->vma on trees without it."""
    if kernel.has("vmg_target"):
        vmg.target = vma
    else:
        vmg.middle = vma


def sticky_cases(n: int, names: tuple[str, ...]):
    """Every permutation of n sticky booleans; all but the all-false case need the
    sticky feature (trees without it have only that case upstream)."""
    out = []
    for combo in itertools.product([False, True], repeat=n):
        ident = "-".join(f"{nm}{int(v)}" for nm, v in zip(names, combo))
        marks = [pytest.mark.requires("sticky")] if any(combo) else []
        out.append(pytest.param(*combo, id=ident, marks=marks))
    return out
