# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared pieces of the merge-predicate suite (imported by the tests here).

Layouts are drawn one column a page, one letter a VMA in address order (as
``mm.diagram()`` draws them); ``row(mm)`` returns that letter row so a test can
assert the picture its comment shows.  ``*`` marks the range being merged.
"""
from __future__ import annotations

import pytest
from ..helpers import P, row, rw, show, spans  # noqa: F401  (the suite's helpers)

FILE_PGOFF = 0x100      # file-backed VMAs map from this page of their file

BACKINGS = ["anon", "file"]

# Flags that are neither sticky/ignored nor VM_SPECIAL on either tree, so a
# difference in any of them must block a merge.  (Names only: values come from
# the tree; a name the tree lacks is skipped.)
PLAIN_FLAGS = ["VM_EXEC", "VM_MAYEXEC", "VM_SHARED", "VM_LOCKED", "VM_SEQ_READ",
               "VM_DONTCOPY", "VM_ACCOUNT", "VM_NORESERVE", "VM_WIPEONFORK",
               "VM_DONTDUMP", "VM_HUGEPAGE", "VM_NOHUGEPAGE", "VM_MERGEABLE"]
# Candidates for "a difference here does not block a merge".
IGNORED_FLAGS = ["VM_SOFTDIRTY", "VM_MAYBE_GUARD"]
SPECIAL_FLAGS = ["VM_IO", "VM_DONTEXPAND", "VM_PFNMAP", "VM_MIXEDMAP"]


def single_bits(k) -> list[str]:
    """The tree's single-bit flag names (composites like VM_STACK_INCOMPLETE_SETUP
    left out)."""
    return [n for n in k.flag_names if (v := k.flag(n)) & (v - 1) == 0]


def ignored_for_merge(k) -> int:
    """What the tree's is_mergeable_vma() leaves out of the flag comparison: the
    tree's VMA_IGNORE_MERGE_FLAGS on sticky trees; on pre-sticky trees the code
    masks exactly VM_SOFTDIRTY (``(a ^ b) & ~VM_SOFTDIRTY``), which is VM_NONE
    without CONFIG_MEM_SOFT_DIRTY."""
    if k.has("sticky"):
        return k.ignore_merge_mask
    return k.flag("VM_SOFTDIRTY") if k.has_flag("VM_SOFTDIRTY") else 0


def unfaulted_target_takes_anon_vma(k) -> bool:
    """Whether an unfaulted VMA (no anon_vma, empty anon_vma_chain) may merge with a
    faulted range.  The old is_mergeable_anon_vma(anon_vma1, anon_vma2, vma) (6.12;
    feature ``mergeable_anon_vma_pair``) requires the target's chain to be singular
    even when it has no anon_vma, so it refuses; the later "Case 1/2/3" form allows
    it unless the source is a fork child."""
    return not k.has("mergeable_anon_vma_pair")


def need_flag(k, name: str) -> int:
    if not k.has_flag(name):
        pytest.skip(f"{k.version} has no {name} with this config")
    return k.flag(name)


def faulted(vma, av, chain: int = 1) -> None:
    """Give *vma* anon_vma *av* and *chain* anon_vma_chain entries (2 or more: it
    looks like a fork child)."""
    vma.set_anon_vma(av)
    for _ in range(chain):
        vma.add_avc(av)


class Backing:
    """Anonymous or file-backed mappings with the matching pgoffs."""

    def __init__(self, k, kind: str) -> None:
        self.kind = kind
        self.file = k.file() if kind == "file" else None

    def pgoff(self, page: int) -> int:
        return page + (FILE_PGOFF if self.file is not None else 0)

    def map(self, mm, first: int, end: int, flags: int, pgoff: int | None = None, **kw):
        kw.setdefault("file", self.file)
        return mm.map(first * P, end * P, self.pgoff(first) if pgoff is None else pgoff,
                      flags, **kw)

    def merge_new_range(self, mm, first: int, end: int, flags: int, pgoff: int | None = None,
                  **kw):
        kw.setdefault("file", self.file)
        return mm.merge_new_range(first * P, end * P, self.pgoff(first) if pgoff is None else pgoff,
                            flags, **kw)
