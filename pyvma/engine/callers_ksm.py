# SPDX-License-Identifier: GPL-2.0-or-later
"""KSM around the mm/vma.c entry points, as mm/ksm.c does it: the mm's merge-any
state (prctl(PR_SET_MEMORY_MERGE)) and which VMAs may be mergeable.  The harness's
ksm_vma_flags() stand-in passes flags through, so the caller applies the merge-any
state to mmap's flags: before the merge where the tree's mmap path calls
ksm_vma_flags() (:func:`ksm_flags_before_merge`), after it (ksm_add_vma() on the VMA
made or merged) where not.
"""
from __future__ import annotations

from ..api import MM, Kernel


def f(k: Kernel, *names: str) -> int:
    """The flags of *names* the tree has (0 for the others)."""
    have = [n for n in names if k.has_flag(n)]
    return k.flag(*have) if have else 0


def ksm_compatible(k: Kernel, flags: int) -> bool:
    """ksm_compatible() of a VMA's flags (no DAX file here): not shared, hugetlb,
    droppable or VM_SPECIAL."""
    return not flags & f(k, "VM_SHARED", "VM_MAYSHARE", "VM_HUGETLB", "VM_DROPPABLE",
                         "VM_IO", "VM_DONTEXPAND", "VM_PFNMAP", "VM_MIXEDMAP")


def ksm_merge_any(k: Kernel, mm: MM, on: bool) -> None:
    """prctl(PR_SET_MEMORY_MERGE) once the mm's merge-any state changes:
    ksm_enable_merge_any()'s ksm_add_vmas() sets VM_MERGEABLE on every compatible
    VMA, ksm_disable_merge_any()'s ksm_del_vmas() clears it on every VMA (both
    vm_flags_set/clear(): no merge).  The state itself is the caller's to keep."""
    bit = f(k, "VM_MERGEABLE")
    for v in mm.vmas():
        if on and not v.flags & bit and ksm_compatible(k, v.flags):
            v.set_flags(v.flags | bit)
        elif not on and v.flags & bit:
            v.set_flags(v.flags & ~bit)




def ksm_flags_before_merge(k: Kernel) -> bool:
    """Whether the tree's mmap path calls ksm_vma_flags() on the flags before it
    merges (mm/vma.c), rather than ksm_add_vma() on the VMA it made or merged."""
    return k.has("ksm_flags_before_merge")
