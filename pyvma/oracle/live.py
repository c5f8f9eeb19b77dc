# SPDX-License-Identifier: GPL-2.0-or-later
"""Run an operation sequence as real system calls in a forked child of this
process and read its VMAs back (PROCMAP_QUERY where the running kernel has it,
/proc/self/smaps for the VmFlags).

The child reserves a window at a fixed address far below where the kernel places
mappings it chooses (PROT_NONE borders, one free page each side) and only ever
maps, changes and unmaps pages inside it, all its own.  Pages in operations are
relative to the window.
"""
from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
from dataclasses import dataclass, field

from . import maps

PAGE = maps.PAGE
BASE = 0x1000_0000_0000        # the window (16 TiB): far from the top-down mmap area
SPAN = 32                      # the default window: pages an operation may touch
PROT = {"": 0, "r": 1, "rw": 3, "rx": 5, "rwx": 7, "w": 2}
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANON = 0x1, 0x2, 0x10, 0x20
MAP_NORESERVE, MAP_FIXED_NOREPLACE = 0x4000, 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 1, 2, 4
MADV = {"DONTFORK": 10, "DOFORK": 11, "WIPEONFORK": 18, "KEEPONFORK": 19,
        "MERGEABLE": 12, "UNMERGEABLE": 13,
        "POPULATE_WRITE": 23, "GUARD_INSTALL": 102, "GUARD_REMOVE": 103}
MLOCK_ONFAULT = 1
PR_SET_MEMORY_MERGE = 67
SYS = {"mlock2": 325, "mseal": 462, "memfd_create": 319}    # x86-64

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.mremap.restype = ctypes.c_void_p
_libc.mremap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int,
                         ctypes.c_void_p]
for _fn in ("mprotect", "munmap", "madvise", "mlock", "munlock"):
    getattr(_libc, _fn).argtypes = [ctypes.c_void_p, ctypes.c_size_t] + \
        ([ctypes.c_int] if _fn in ("mprotect", "madvise") else [])
MAP_FAILED = ctypes.c_void_p(-1).value


@dataclass
class LiveResult:
    """What the running kernel did: a return per operation (0 or an errno name),
    the window's VMAs at the end, and how they were read."""

    rets: list
    vmas: list[maps.LiveVma]
    source: str
    memfd_inode: int
    error: str = ""
    steps: list = field(default_factory=list)   # the window's VMAs after each operation


def kernel_release() -> str:
    return platform.release()


def _err(rc) -> object:
    if rc is None or rc == MAP_FAILED or (isinstance(rc, int) and rc < 0):
        e = ctypes.get_errno()
        return errno.errorcode.get(e, str(e))
    return 0


def _a(page: int) -> int:
    return BASE + page * PAGE


def expect(vmas: list, s: int, e: int, base: int = BASE) -> object:
    """The ``expect`` checkpoint on VMAs with .start/.end in bytes: 0 when one VMA
    spans exactly pages [s, e), else what covers page s."""
    at = next((v for v in vmas if v.start <= base + s * PAGE < v.end), None)
    if at is not None and (at.start, at.end) == (base + s * PAGE, base + e * PAGE):
        return 0
    return "NO-VMA" if at is None else \
        f"VMA {(at.start - base) // PAGE}-{(at.end - base) // PAGE}"


def expect_flag(names: frozenset | None, flag: str, want: int) -> object:
    """The ``expect_flag`` checkpoint on a VMA's flag names (None: no VMA there)."""
    if names is None:
        return "NO-VMA"
    return 0 if (flag in names) == bool(want) else ("HAS-" if flag in names else "NO-") + flag


def _do(op: list, memfd: int, window: int):
    name, *a = op
    if name == "expect":
        vmas, _ = read_window(BASE - PAGE, BASE + (window + 1) * PAGE)
        return expect(vmas, a[0], a[1])
    if name == "expect_flag":
        vmas, _ = read_window(BASE - PAGE, BASE + (window + 1) * PAGE)
        at = next((v for v in vmas if v.start <= _a(a[0]) < v.end), None)
        return expect_flag(at.flags if at is not None else None, a[1], a[2])
    if name in ("mmap", "mmap_fixed"):
        s, e, prot, backing, pgoff = a
        flags = MAP_FIXED_NOREPLACE if name == "mmap" else MAP_FIXED
        fd, off = -1, 0
        if backing == "anon":
            flags |= MAP_PRIVATE | MAP_ANON
        elif backing == "anon-noreserve":
            flags |= MAP_PRIVATE | MAP_ANON | MAP_NORESERVE
        else:
            flags |= MAP_SHARED if backing == "memfd-shared" else MAP_PRIVATE
            fd, off = memfd, pgoff * PAGE
        rc = _libc.mmap(_a(s), (e - s) * PAGE, PROT[prot], flags, fd, off)
        if rc not in (None, MAP_FAILED) and rc != _a(s):    # an old kernel ignoring NOREPLACE
            _libc.munmap(rc, (e - s) * PAGE)
            return "EEXIST"
        return _err(rc)
    if name == "mprotect":
        s, e, prot = a
        return _err(_libc.mprotect(_a(s), (e - s) * PAGE, PROT[prot]))
    if name == "munmap":
        s, e = a
        return _err(_libc.munmap(_a(s), (e - s) * PAGE))
    if name in ("mremap", "mremap_dontunmap"):     # move [s, e) to new_s
        s, e, new = a
        rc = _libc.mremap(_a(s), (e - s) * PAGE, (e - s) * PAGE,
                          MREMAP_MAYMOVE | MREMAP_FIXED
                          | (MREMAP_DONTUNMAP if name == "mremap_dontunmap" else 0), _a(new))
        return _err(rc)
    if name == "mremap_resize":             # in place: [s, e) becomes [s, new_e)
        s, e, new_e = a
        return _err(_libc.mremap(_a(s), (e - s) * PAGE, (new_e - s) * PAGE, 0, None))
    if name == "madvise":
        s, e, adv = a
        return _err(_libc.madvise(_a(s), (e - s) * PAGE, MADV[adv]))
    if name == "touch":
        s, e = a
        return _err(_libc.madvise(_a(s), (e - s) * PAGE, MADV["POPULATE_WRITE"]))
    if name == "mlock":
        s, e = a
        return _err(_libc.mlock(ctypes.c_void_p(_a(s)), (e - s) * PAGE))
    if name == "mlock_onfault":
        s, e = a
        return _err(_libc.syscall(SYS["mlock2"], ctypes.c_ulong(_a(s)),
                                  ctypes.c_ulong((e - s) * PAGE), MLOCK_ONFAULT))
    if name == "munlock":
        s, e = a
        return _err(_libc.munlock(ctypes.c_void_p(_a(s)), (e - s) * PAGE))
    if name == "ksm_merge_any":
        return _err(_libc.prctl(PR_SET_MEMORY_MERGE, ctypes.c_ulong(a[0]), ctypes.c_ulong(0),
                                ctypes.c_ulong(0), ctypes.c_ulong(0)))
    if name == "mseal":
        s, e = a
        return _err(_libc.syscall(SYS["mseal"], ctypes.c_ulong(_a(s)),
                                  ctypes.c_ulong((e - s) * PAGE), ctypes.c_ulong(0)))
    raise ValueError(f"unknown operation {name!r}")


def _blocks_in(text: str, lo: int, hi: int) -> str:
    """The smaps blocks of *text* whose VMA intersects [lo, hi) (the rest unparsed)."""
    keep: list[str] = []
    on = False
    for line in text.splitlines(True):
        head = line.split(" ", 1)[0]
        if "-" in head and ":" not in head:
            s, _, e = head.partition("-")
            try:
                on = int(e, 16) > lo and int(s, 16) < hi
            except ValueError:
                on = False
        if on:
            keep.append(line)
    return "".join(keep)


def read_window(lo: int, hi: int) -> tuple[list[maps.LiveVma], str]:
    """This process's VMAs intersecting [lo, hi): ranges from PROCMAP_QUERY (or
    smaps), flags and faulted-ness from smaps."""
    with open("/proc/self/smaps") as f:
        text = f.read()
    smaps = [v for v in maps.parse(_blocks_in(text, lo, hi)) if v.end > lo and v.start < hi]
    try:
        fd = os.open("/proc/self/maps", os.O_RDONLY)
        try:
            q = maps.procmap_query(fd, lo, hi)
        finally:
            os.close(fd)
    except OSError:
        return smaps, "smaps"
    by_range = {(v.start, v.end): v for v in smaps}
    out = []
    for v in q:
        sv = by_range.get((v.start, v.end))
        if sv is None:      # the two reads disagree: trust smaps, say so
            return smaps, "smaps (PROCMAP_QUERY disagreed)"
        v.flags, v.anon_kb, v.path = sv.flags, sv.anon_kb, sv.path
        out.append(v)
    return out, "PROCMAP_QUERY+smaps"


def memfd_pages(ops: list, window: int) -> int:
    """The memfd's size: every mapping of it inside the file."""
    return max([4 * window] + [o[5] + o[2] - o[1] for o in ops
                               if o[0] in ("mmap", "mmap_fixed") and o[4].startswith("memfd")])


def _child(ops: list, wfd: int, window: int, steps: bool) -> None:
    rets: list = []
    each: list = []
    res: dict = {"rets": rets, "steps": each}
    lo_w, hi_w = BASE - PAGE, BASE + (window + 1) * PAGE
    try:
        lo, hi = BASE - 2 * PAGE, BASE + (window + 2) * PAGE
        rc = _libc.mmap(lo, hi - lo, 0, MAP_PRIVATE | MAP_ANON | MAP_NORESERVE
                        | MAP_FIXED_NOREPLACE, -1, 0)
        if rc != lo:
            raise OSError(f"cannot reserve the window {lo:#x}-{hi:#x}: {_err(rc)}")
        _libc.munmap(BASE - PAGE, (window + 2) * PAGE)
        memfd = _libc.syscall(SYS["memfd_create"], b"pyvma-oracle", 0)
        if memfd < 0:
            raise OSError(f"memfd_create: {_err(memfd)}")
        os.ftruncate(memfd, memfd_pages(ops, window) * PAGE)
        res["memfd_inode"] = os.fstat(memfd).st_ino
        for op in ops:
            if op[0] == "fork":
                pid = os.fork()
                if pid:             # the parent's part ends here: the child goes on
                    _, status = os.waitpid(pid, 0)
                    os._exit(os.waitstatus_to_exitcode(status) & 0xff)
                rets.append(0)
            else:
                rets.append(_do(op, memfd, window))
            if steps:
                each.append([v.to_json() for v in read_window(lo_w, hi_w)[0]])
        vmas, source = read_window(lo_w, hi_w)
        res["vmas"] = [v.to_json() for v in vmas]
        res["source"] = source
    except Exception as exc:        # reported to the parent, never raised there
        res["error"] = f"{type(exc).__name__}: {exc}"
    data = json.dumps(res).encode()
    while data:
        data = data[os.write(wfd, data):]
    os._exit(0)


def _vma(v: dict) -> maps.LiveVma:
    return maps.LiveVma(v["start"], v["end"], v["pgoff"], v["perms"], v["dev"], v["inode"],
                        v["path"], frozenset(v["flags"]) if v["flags"] is not None else None,
                        v["anon_kb"])


def run(ops: list, window: int = SPAN, steps: bool = False) -> LiveResult:
    """Run *ops* in a fresh forked child with a *window* of pages; its result
    (*steps*: the window's VMAs after each operation too)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            _child(ops, w, window, steps)
        finally:
            os._exit(1)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 1 << 16)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    data = b"".join(chunks)
    if not data:
        return LiveResult([], [], "", 0, f"the child died (wait status {status:#x}) "
                          "before reporting")
    d = json.loads(data)
    return LiveResult(d["rets"], [_vma(v) for v in d.get("vmas", [])], d.get("source", ""),
                      d.get("memfd_inode", 0), d.get("error", ""),
                      [[_vma(v) for v in st] for st in d.get("steps", [])])


def probe() -> dict[str, str]:
    """Which operations the running kernel allows: name -> "" (allowed) or why not."""
    checks = {
        "procmap_query": None,
        "mseal": [["mmap", 0, 2, "rw", "anon", 0], ["mseal", 0, 2]],
        "guard": [["mmap", 0, 2, "rw", "anon", 0], ["madvise", 0, 1, "GUARD_INSTALL"]],
        "memfd": [["mmap", 0, 2, "rw", "memfd-shared", 0]],
        "mlock": [["mmap", 0, 2, "rw", "anon", 0], ["mlock", 0, 2]],
        "populate_write": [["mmap", 0, 2, "rw", "anon", 0], ["touch", 0, 2]],
        "wipeonfork": [["mmap", 0, 2, "rw", "anon", 0], ["madvise", 0, 2, "WIPEONFORK"]],
        "ksm": [["mmap", 0, 2, "rw", "anon", 0], ["ksm_merge_any", 1],
                ["madvise", 0, 2, "MERGEABLE"]],
    }
    out = {}
    for name, ops in checks.items():
        if ops is None:
            continue
        res = run(ops)
        bad = res.error or next((str(r) for r in res.rets if r != 0), "")
        out[name] = bad
    res = run([])
    out["procmap_query"] = "" if res.source.startswith("PROCMAP_QUERY") else \
        "the kernel has no PROCMAP_QUERY ioctl (6.11+): VMAs read from smaps"
    return out
