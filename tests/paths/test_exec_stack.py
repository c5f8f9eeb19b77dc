# SPDX-License-Identifier: GPL-2.0-or-later
"""mm/vma_exec.c: exec's first stack (create_init_stack_vma()) and its move to its
place (relocate_vma_down(), as setup_arg_pages() calls it).

The stack is made one page below STACK_TOP_MAX (the harness is x86-64: 1 << 47 less
a page), written to (copy_strings() faults the arguments in: anon_vma_prepare()),
then moved down.  ``pyvma mutate`` found these paths reached by diff only; here
what they leave is asserted: the layout, the flags, the mm's counters, the charge,
the anon_vma, and the error paths.
"""
import pytest

from .paths_helpers import EFAULT, EINTR, P, errno_of, place, rw, show, soft_dirty, spans

pytestmark = pytest.mark.requires("vma_exec.c")

TOP = ((1 << 47) - P) // P          # STACK_TOP_MAX, in pages


def _stack(kernel, mm):
    s = mm.create_init_stack_vma()
    mm.anon_vma_prepare(s)          # the arguments written: a first fault
    return s


def test_create_init_stack_vma(kernel, mm):
    """
    page TOP-1  TOP
         S      |          one page just below STACK_TOP_MAX

    An anonymous, growing-down stack, charged (VM_ACCOUNT), still marked as
    not set up (VM_STACK_INCOMPLETE_SETUP: VM_RAND_READ | VM_SEQ_READ), soft-dirty
    where the build tracks it; its page offset is its page number; the mm counts
    it as one page of stack and one in all.
    """
    s = mm.create_init_stack_vma()
    assert spans(mm) == [(TOP - 1, TOP, TOP - 1)], show(mm)
    assert s.is_anonymous and s.anon_vma is None
    want = kernel.flag("VM_GROWSDOWN", "VM_ACCOUNT", "VM_RAND_READ", "VM_SEQ_READ",
                       "VM_READ", "VM_WRITE", "VM_MAYREAD", "VM_MAYWRITE")
    assert s.flags & want == want, kernel.sorted_names_of(s.flags)
    assert s.flags & soft_dirty(kernel) == soft_dirty(kernel), kernel.sorted_names_of(s.flags)
    assert not s.flags & kernel.flag("VM_SHARED", "VM_MAYSHARE")
    assert mm.counters["stack_vm"] == 1 and mm.counters["total_vm"] == 1, mm.counters
    assert kernel.committed == 1
    assert kernel.locks_held == 0


def test_relocate_vma_down(kernel, mm):
    """
    page TOP-17       TOP-1            TOP-17       TOP-1
         *            S         ->     S

    setup_arg_pages(): the written stack moved down 16 pages.  It is the same VMA,
    one page long, with its anon_vma and its page offset (anonymous pages keep
    their index); counters and charge are unchanged, no rmap lock is left held.
    """
    s = _stack(kernel, mm)
    av = s.anon_vma
    mm.relocate_vma_down(s, 16 * P)
    assert spans(mm) == [(TOP - 17, TOP - 16, TOP - 1)], show(mm)
    assert (s.start, s.end) == ((TOP - 17) * P, (TOP - 16) * P)
    assert s.anon_vma == av
    assert mm.counters["stack_vm"] == 1 and mm.counters["total_vm"] == 1, mm.counters
    assert kernel.committed == 1
    assert kernel.locks_held == 0


def test_relocate_vma_down_onto_a_vma(kernel, mm):
    """
    page TOP-17       TOP-1
         A*           S        relocate_vma_down() of S by 16 pages: A is in the way

    -EFAULT, and nothing moved.
    """
    s = _stack(kernel, mm)
    place(mm, (TOP - 17) * P, (TOP - 16) * P, TOP - 17, rw(kernel))
    before = spans(mm)
    assert errno_of(mm.relocate_vma_down, s, 16 * P) == EFAULT
    assert spans(mm) == before, show(mm)
    assert (s.start, s.end) == ((TOP - 1) * P, TOP * P)


def test_create_init_stack_vma_killed(kernel, mm):
    """A fatal signal while create_init_stack_vma() waits for the mmap lock:
    -EINTR, no VMA, nothing counted or charged."""
    kernel.fail("fatal_signal")
    try:
        assert errno_of(mm.create_init_stack_vma) == EINTR
    finally:
        kernel.fail("fatal_signal", False)
    assert spans(mm) == [], show(mm)
    assert mm.counters["stack_vm"] == 0 and mm.counters["total_vm"] == 0
    assert kernel.committed == 0
