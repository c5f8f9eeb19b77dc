# SPDX-License-Identifier: GPL-2.0-or-later
"""expand_downwards() and acct_stack_growth(): a VM_GROWSDOWN stack growing
towards lower addresses, the stack guard gap, and the limits it is held to
(RLIMIT_AS, RLIMIT_STACK, RLIMIT_MEMLOCK for a locked stack, overcommit).

Stacks here start at page 0x1000 (page offset 0x1000) and are 16 pages long;
the guard gap is the harness's stack_guard_gap, 256 pages.
"""
import pytest

from .paths_helpers import EFAULT, ENOMEM, EPERM, P, errno_of, place, rw, show, spans

pytestmark = pytest.mark.requires("expand_downwards")

TOP = 0x1000
GAP = 256


def _stack(kernel, mm, extra=0, start=TOP):
    return place(mm, start * P, (start + 16) * P, start,
                 rw(kernel) | kernel.flag("VM_GROWSDOWN") | extra)


def test_stack_grows_down(kernel, mm):
    """
    page 0x0ff0   0x1000   0x1010          0x0ff0   0x1000   0x1010
         ******** SSSSSSSS          ->     SSSSSSSSSSSSSSSSS

    The VMA starts 16 pages lower, its page offset with it; the pages are
    charged and counted as stack; the stack gets an anon_vma.
    """
    s = _stack(kernel, mm)
    assert s.anon_vma is None
    mm.expand_downwards(s, (TOP - 16) * P + 123)
    assert spans(mm) == [(TOP - 16, TOP + 16, TOP - 16)]
    assert mm.counters["stack_vm"] == 32
    assert kernel.committed == 16
    assert s.anon_vma is not None
    assert s.write_locked
    assert kernel.locks_held == 0


def test_stack_above_the_address_does_not_move(kernel, mm):
    """Asked for an address already inside the stack: nothing to do.

    SSSSSSSS   ->   SSSSSSSS   (address inside S: unchanged)
    """
    s = _stack(kernel, mm)
    mm.expand_downwards(s, (TOP + 4) * P)
    assert spans(mm) == [(TOP, TOP + 16, TOP)]
    assert kernel.committed == 0


def test_not_a_stack(kernel, mm):
    """A VMA without VM_GROWSDOWN does not grow down: -EFAULT.

    *AAAAAAA   ->   AAAAAAA    (-EFAULT)
    """
    a = place(mm, TOP * P, (TOP + 16) * P, TOP, rw(kernel))
    assert errno_of(mm.expand_downwards, a, (TOP - 1) * P) == EFAULT
    assert spans(mm) == [(TOP, TOP + 16, TOP)]


def test_stack_below_mmap_min_addr(kernel, mm):
    """Growing into the first page (below mmap_min_addr): -EPERM.

    0123456789012345678      0123456789012345678
    *  SSSSSSSSSSSSSSSS  ->     SSSSSSSSSSSSSSSS
    """
    s = _stack(kernel, mm, start=3)
    assert errno_of(mm.expand_downwards, s, 0) == EPERM
    assert spans(mm) == [(3, 19, 3)]


def test_stack_growth_beyond_its_page_offset(kernel, mm):
    """The stack would grow below page offset 0: -ENOMEM.

    0123456789012345678      0123456789012345678
      *SSSSSSSSSSSSSSSS  ->     SSSSSSSSSSSSSSSS   (page offset 1)
    """
    s = place(mm, 3 * P, 19 * P, 1, rw(kernel) | kernel.flag("VM_GROWSDOWN"))
    mm.expand_downwards(s, 2 * P)
    assert errno_of(mm.expand_downwards, s, P) == ENOMEM
    assert spans(mm) == [(2, 19, 0)]


@pytest.mark.parametrize("below", ["plain", "stack", "prot_none"])
def test_stack_guard_gap(kernel, mm, below):
    """An accessible VMA below, closer than the guard gap to the new start, stops
    the growth (-ENOMEM); another stack or a PROT_NONE mapping does not.

    AAAA .... (< 256 pages) .... ****SSSS

    AAAA ....... ********SSSSSSSS   ->   AAAA ....... SSSSSSSSSSSSSSSS  (stack / PROT_NONE A)
                                         AAAA .......         SSSSSSSS  (plain A: -ENOMEM)
    """
    F = rw(kernel)
    flags = {"plain": F, "stack": F | kernel.flag("VM_GROWSDOWN"),
             "prot_none": kernel.flag("VM_MAYREAD", "VM_MAYWRITE")}[below]
    place(mm, (TOP - GAP) * P, (TOP - GAP + 4) * P, TOP - GAP, flags)
    s = _stack(kernel, mm)
    ret = errno_of(mm.expand_downwards, s, (TOP - 8) * P)
    if below == "plain":
        assert ret == ENOMEM
        assert spans(mm)[1] == (TOP, TOP + 16, TOP)
    else:
        assert ret == 0
        assert spans(mm)[1] == (TOP - 8, TOP + 16, TOP - 8)
    # beyond the guard gap the plain VMA is no obstacle
    if below == "plain":
        place(mm, 0x10 * P, 0x14 * P, 0x10, F)
        s2 = _stack(kernel, mm, start=0x10 + 4 + GAP + 16)
        assert errno_of(mm.expand_downwards, s2, (0x10 + 4 + GAP) * P) == 0, show(mm)


@pytest.mark.parametrize("fault", ["prealloc", "anon_vma_prepare"])
def test_stack_growth_allocation_failure(kernel, mm, fault):
    """
    ****SSSS   ->   SSSS   (-ENOMEM)
    """
    s = _stack(kernel, mm)
    kernel.fail(fault)
    assert errno_of(mm.expand_downwards, s, (TOP - 4) * P) == ENOMEM
    kernel.fail(fault, False)
    assert spans(mm) == [(TOP, TOP + 16, TOP)]
    assert kernel.committed == 0


@pytest.mark.parametrize("limit", ["as", "stack", "memlock", "commit"])
def test_stack_growth_over_a_limit(kernel, mm, limit):
    """RLIMIT_AS, RLIMIT_STACK, RLIMIT_MEMLOCK (the stack is VM_LOCKED) or the
    overcommit limit: -ENOMEM, nothing moved or charged.

    ****SSSS   ->   SSSS   (-ENOMEM)
    """
    locked = kernel.flag("VM_LOCKED") if limit == "memlock" else 0
    s = _stack(kernel, mm, locked)
    mm.set_counter("locked_vm", 16 if locked else 0)
    kernel.set_limit(limit, {"as": 20 * P, "stack": 20 * P, "memlock": 20 * P,
                             "commit": 3}[limit])
    assert errno_of(mm.expand_downwards, s, (TOP - 8) * P) == ENOMEM
    assert spans(mm) == [(TOP, TOP + 16, TOP)]
    assert kernel.committed == 0
    # within the limit it grows
    mm.expand_downwards(s, (TOP - 2) * P)
    assert spans(mm) == [(TOP - 2, TOP + 16, TOP - 2)]


def test_locked_stack_growth_counts_locked_pages(kernel, mm):
    """
    ****SSSS   ->   SSSSSSSS   (locked_vm += 4)
    """
    s = _stack(kernel, mm, kernel.flag("VM_LOCKED"))
    mm.set_counter("locked_vm", 16)
    mm.expand_downwards(s, (TOP - 4) * P)
    assert mm.counters["locked_vm"] == 20


def test_stack_takes_the_anon_vma_of_the_stack_below(kernel, mm):
    """expand_downwards() prepares the stack's anon_vma whether or not it grows;
    anon_vma_prepare() takes a compatible neighbour's (find_mergeable_anon_vma()):
    here the stack segment directly below, same flags, one anon_vma_chain entry.

    AAAASSSS   ->   AAAASSSS   (S shares A's anon_vma)
    """
    av = kernel.anon_vma()
    a = _stack(kernel, mm, start=TOP - 16)
    a.set_anon_vma(av)
    a.add_avc(av)
    s = _stack(kernel, mm)
    mm.expand_downwards(s, TOP * P)
    assert s.anon_vma == av
    assert s.avc_count == 1
