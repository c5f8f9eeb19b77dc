# SPDX-License-Identifier: GPL-2.0-or-later
"""A layout read from /proc (smaps, maps or a PROCMAP_QUERY dump) rebuilt in an MM:
ranges, flags, file-backed vs anonymous, file offsets.

One harness file per (device, inode); a file VMA gets harness vm_operations, an
anonymous one none.  smaps cannot show anon_vmas: a VMA with faulted anonymous
pages ("Anonymous:" > 0) gets one, shared with the VMA before it when that one
has one too and their page offsets continue (the pieces of one split mapping).
"""
from __future__ import annotations

from ..api import MM, PAGE_SIZE, File, Kernel
from ..errors import PyvmaError
from . import maps

#: the gate area /proc shows but no mm's tree holds
GATE = "[vsyscall]"
TASK_SIZE = 0x7FFF_FFFF_F000


class Unrepresentable(PyvmaError):
    """A layout line pyvma cannot rebuild (the line and the reason)."""


def _refuse(v: maps.LiveVma, reason: str) -> Unrepresentable:
    return Unrepresentable(f"line {v.lineno}: {v.line.strip()[:120]!r}: {reason}")


def from_text(k: Kernel, text: str) -> MM:
    """A new MM of *k* holding the VMAs of *text*."""
    try:
        vmas = maps.parse(text)
    except maps.MapsError as exc:
        raise Unrepresentable(str(exc)) from None
    vmas = [v for v in vmas if v.path != GATE]
    mm = k.mm()
    try:
        _fill(k, mm, vmas)
    except Unrepresentable:
        mm.close()
        raise
    return mm


def _fill(k: Kernel, mm: MM, vmas: list[maps.LiveVma]) -> None:
    files: dict[tuple[str, int], File] = {}
    last_end = 0
    prev = None
    for v in vmas:
        if v.start % PAGE_SIZE or v.end % PAGE_SIZE or v.start >= v.end:
            raise _refuse(v, "range not page aligned or empty")
        if v.end > TASK_SIZE:
            raise _refuse(v, f"above the user address space ({TASK_SIZE:#x})")
        if v.start < last_end:
            raise _refuse(v, "overlaps or precedes the VMA before it")
        names = v.flags if v.flags is not None else \
            maps.flags_from_perms(v.perms) | maps.flags_from_perms(v.perms, may=True)
        if "VM_HUGETLB" in names:
            raise _refuse(v, "hugetlb mapping: the harness has 4 KiB pages only")
        lacking = sorted(n for n in names if not k.has_flag(n))
        if lacking:
            raise _refuse(v, f"flag {lacking[0]} does not exist in {k.version}")
        flags = k.flag(*names) if names else 0
        file = None
        if v.is_file:
            file = files.setdefault((v.dev, v.inode), k.file())
        pgoff = v.pgoff if v.is_file else v.start // PAGE_SIZE
        nv = mm.map(v.start, v.end, pgoff, flags, file=file)
        if file is not None:
            nv.set_ops()
        else:
            nv.set_vm_ops(None)
        if v.anon_kb > 0:
            pv = prev
            if pv is not None and pv[0].end == v.start and pv[1] is not None and \
                    pv[2] + (v.start - pv[0].start) // PAGE_SIZE == pgoff:
                av = pv[1]
            else:
                av = k.anon_vma()
            nv.set_anon_vma(av)
            nv.add_avc(av)
        mm.account(nv)
        prev = (v, nv.anon_vma, pgoff)
        last_end = v.end
