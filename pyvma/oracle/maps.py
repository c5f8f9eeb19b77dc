# SPDX-License-Identifier: GPL-2.0-or-later
"""/proc/PID/smaps, /proc/PID/maps and PROCMAP_QUERY: VMAs as plain data.

The two-letter ``VmFlags`` codes of smaps map to the kernel's ``VM_*`` names
(the table of fs/proc/task_mmu.c's show_smap_vma_flags(), as facts).
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import re
from dataclasses import dataclass, field

PAGE = 4096

#: smaps VmFlags code -> VM_* name
CODES: dict[str, str] = {
    "rd": "VM_READ", "wr": "VM_WRITE", "ex": "VM_EXEC", "sh": "VM_SHARED",
    "mr": "VM_MAYREAD", "mw": "VM_MAYWRITE", "me": "VM_MAYEXEC", "ms": "VM_MAYSHARE",
    "gd": "VM_GROWSDOWN", "pf": "VM_PFNMAP", "lf": "VM_LOCKONFAULT", "dw": "VM_DENYWRITE",
    "lo": "VM_LOCKED", "io": "VM_IO", "sr": "VM_SEQ_READ", "rr": "VM_RAND_READ",
    "dc": "VM_DONTCOPY", "de": "VM_DONTEXPAND", "ac": "VM_ACCOUNT", "nr": "VM_NORESERVE",
    "ht": "VM_HUGETLB", "sf": "VM_SYNC", "ar": "VM_ARCH_1", "wf": "VM_WIPEONFORK",
    "dd": "VM_DONTDUMP", "bt": "VM_ARM64_BTI", "mt": "VM_MTE", "sd": "VM_SOFTDIRTY",
    "mm": "VM_MIXEDMAP", "hg": "VM_HUGEPAGE", "nh": "VM_NOHUGEPAGE", "mg": "VM_MERGEABLE",
    "um": "VM_UFFD_MISSING", "uw": "VM_UFFD_WP", "ui": "VM_UFFD_MINOR",
    "ss": "VM_SHADOW_STACK", "sl": "VM_SEALED", "dp": "VM_DROPPABLE",
    "gu": "VM_MAYBE_GUARD", "p0": "VM_PKEY_BIT0", "p1": "VM_PKEY_BIT1",
    "p2": "VM_PKEY_BIT2", "p3": "VM_PKEY_BIT3", "p4": "VM_PKEY_BIT4",
}
NAMES: frozenset[str] = frozenset(CODES.values())
CODE_OF: dict[str, str] = {v: k for k, v in CODES.items()}


class MapsError(ValueError):
    """A line of a maps/smaps/dump text that cannot be read or represented."""

    def __init__(self, lineno: int, line: str, reason: str) -> None:
        super().__init__(f"line {lineno}: {line.strip()[:120]!r}: {reason}")
        self.lineno, self.line, self.reason = lineno, line, reason


@dataclass
class LiveVma:
    """One VMA as /proc shows it."""

    start: int
    end: int
    pgoff: int                      # in pages
    perms: str                      # "rw-p"
    dev: str = "00:00"
    inode: int = 0
    path: str = ""
    flags: frozenset[str] | None = None   # VM_* names (None: a maps line, no VmFlags)
    anon_kb: int = 0                # smaps "Anonymous:" (faulted anonymous pages)
    lineno: int = 0
    line: str = ""
    fields: dict = field(default_factory=dict)

    @property
    def is_file(self) -> bool:
        return self.inode != 0

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "pgoff": self.pgoff, "perms": self.perms,
                "dev": self.dev, "inode": self.inode, "path": self.path,
                "flags": sorted(self.flags) if self.flags is not None else None,
                "anon_kb": self.anon_kb}


_HEAD = re.compile(r"^([0-9a-f]+)-([0-9a-f]+)\s+([r-][w-][x-][ps])\s+([0-9a-f]+)\s+"
                   r"([0-9a-f]+:[0-9a-f]+)\s+(\d+)\s*(.*)$")


def flags_from_codes(codes: list[str], lineno: int, line: str) -> frozenset[str]:
    out = set()
    for c in codes:
        if c not in CODES:
            raise MapsError(lineno, line, f"unknown VmFlags code {c!r}")
        out.add(CODES[c])
    return frozenset(out)


def flags_from_perms(perms: str, may: bool = False) -> frozenset[str]:
    """What a maps line's permissions say (rd/wr/ex/sh only); *may*: the VM_MAY* bits
    those permissions need (a maps line shows none)."""
    pre = "VM_MAY" if may else "VM_"
    out = {pre + name for ch, name in zip(perms, ("READ", "WRITE", "EXEC")) if ch != "-"}
    if perms[3] == "s":
        out.add(pre + "SHARE" if may else "VM_SHARED")
    return frozenset(out)


def parse(text: str) -> list[LiveVma]:
    """VMAs of an smaps or maps text, or of a PROCMAP_QUERY dump (JSON lines, as
    :func:`dump` writes).  Malformed lines raise :class:`MapsError`."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return _parse_dump(text)
    out: list[LiveVma] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _HEAD.match(line)
        if m:
            s, e, perms, off, dev, ino, path = m.groups()
            off_i = int(off, 16)
            if off_i % PAGE:
                raise MapsError(n, line, "file offset not page aligned")
            out.append(LiveVma(int(s, 16), int(e, 16), off_i // PAGE, perms, dev, int(ino),
                               path.strip(), None, 0, n, line))
            continue
        if not out:
            raise MapsError(n, line, "not a maps/smaps line (expected START-END PERMS ...)")
        key, _, val = line.partition(":")
        if not _ or " " in key.strip():
            raise MapsError(n, line, "not a maps/smaps line")
        key, val = key.strip(), val.strip()
        v = out[-1]
        if key == "VmFlags":
            v.flags = flags_from_codes(val.split(), n, line)
        elif key == "Anonymous":
            v.anon_kb = int(val.split()[0]) if val.split() and val.split()[0].isdigit() else 0
        else:
            v.fields[key] = val
    return out


def _parse_dump(text: str) -> list[LiveVma]:
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            flags = d.get("flags")
            out.append(LiveVma(int(d["start"]), int(d["end"]), int(d["pgoff"]), str(d["perms"]),
                               str(d.get("dev", "00:00")), int(d.get("inode", 0)),
                               str(d.get("path", "")),
                               frozenset(flags) if flags is not None else None,
                               int(d.get("anon_kb", 0)), n, line))
        except (ValueError, KeyError, TypeError) as exc:
            raise MapsError(n, line, f"not a PROCMAP_QUERY dump line ({exc})") from None
        if out[-1].flags is not None and not out[-1].flags <= NAMES:
            raise MapsError(n, line, f"unknown flag {sorted(out[-1].flags - NAMES)[0]}")
    return out


def dump(vmas: list[LiveVma]) -> str:
    """A dump :func:`parse` reads back (one JSON object a line)."""
    return "".join(json.dumps(v.to_json(), sort_keys=True) + "\n" for v in vmas)


# -- PROCMAP_QUERY (Linux 6.11+) ---------------------------------------------
class _Query(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint64), ("query_flags", ctypes.c_uint64),
                ("query_addr", ctypes.c_uint64), ("vma_start", ctypes.c_uint64),
                ("vma_end", ctypes.c_uint64), ("vma_flags", ctypes.c_uint64),
                ("vma_page_size", ctypes.c_uint64), ("vma_offset", ctypes.c_uint64),
                ("inode", ctypes.c_uint64), ("dev_major", ctypes.c_uint32),
                ("dev_minor", ctypes.c_uint32), ("vma_name_size", ctypes.c_uint32),
                ("build_id_size", ctypes.c_uint32), ("vma_name_addr", ctypes.c_uint64),
                ("build_id_addr", ctypes.c_uint64)]


PROCMAP_QUERY = (3 << 30) | (ctypes.sizeof(_Query) << 16) | (ord("f") << 8) | 17
_COVERING_OR_NEXT = 0x10
_Q_READ, _Q_WRITE, _Q_EXEC, _Q_SHARED = 1, 2, 4, 8


def procmap_query(fd: int, lo: int, hi: int) -> list[LiveVma]:
    """The VMAs intersecting [lo, hi) through the PROCMAP_QUERY ioctl on an open
    /proc/PID/maps *fd*.  OSError (ENOTTY) where the kernel lacks it."""
    import errno
    out = []
    addr = lo
    while addr < hi:
        q = _Query(size=ctypes.sizeof(_Query), query_flags=_COVERING_OR_NEXT, query_addr=addr)
        try:
            fcntl.ioctl(fd, PROCMAP_QUERY, q, True)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                break
            raise
        if q.vma_start >= hi:
            break
        f = q.vma_flags
        perms = ("r" if f & _Q_READ else "-") + ("w" if f & _Q_WRITE else "-") + \
            ("x" if f & _Q_EXEC else "-") + ("s" if f & _Q_SHARED else "p")
        out.append(LiveVma(q.vma_start, q.vma_end, q.vma_offset // PAGE, perms,
                           f"{q.dev_major:02x}:{q.dev_minor:02x}", q.inode))
        addr = q.vma_end
    return out
