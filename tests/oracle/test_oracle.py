# SPDX-License-Identifier: GPL-2.0-or-later
"""The oracle against the running kernel: a small corpus, a live process's smaps
rebuilt by MM.from_smaps, and an mprotect replayed on it."""
import os
import subprocess
import sys
import textwrap

import pytest

from pyvma.api import MM
from pyvma.oracle import compare, corpus, harness, live, load, maps

pytestmark = pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64",
                                reason="the oracle's system calls are x86-64 Linux ones")

@pytest.mark.requires("mmap_region")
def test_small_corpus_agrees(kernel):
    ctx = compare.Context.make(kernel)
    for sc in corpus.scenarios(small=True):
        v = compare.judge(ctx, sc)
        if v.status == "skipped":
            continue                      # the reason names the forbidden operation
        assert v.status != "error", v.why
        assert v.status in ("agree", "explained"), (sc.name, v.why, v.live, v.tree)


@pytest.mark.requires("mmap_region")
def test_forbidden_operation_is_skipped_with_its_reason(kernel):
    ctx = compare.Context.make(kernel)
    ctx.allowed = dict(ctx.allowed, mseal="ENOSYS (pretend: a container without mseal)")
    sc = next(s for s in corpus.scenarios(small=True) if "mseal" in s.name)
    v = compare.judge(ctx, sc)
    assert v.status == "skipped" and "mseal" in v.why and "ENOSYS" in v.why


CHILD = textwrap.dedent("""
    import ctypes, sys
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    base = 0x200000000000
    P = 4096
    assert libc.mmap(base, 8 * P, 3, 0x22 | 0x100000, -1, 0) == base      # rw anon
    ctypes.memset(base, 1, 4 * P)                                           # fault [0,4)
    assert libc.mmap(base + 8 * P, 4 * P, 1, 0x22 | 0x100000, -1, 0) == base + 8 * P
    def window():
        out = []
        with open("/proc/self/smaps") as f:
            cur = None
            for line in f:
                if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
                    s = int(line.split("-")[0], 16)
                    cur = base <= s < base + 16 * P
                if cur:
                    out.append(line)
        return "".join(out)
    sys.stdout.write(window())
    sys.stdout.write("=====\\n")
    assert libc.mprotect(base + 2 * P, 8 * P, 1) == 0                      # [2,10) read-only
    sys.stdout.write(window())
""")


def _live_layout():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                         check=True).stdout
    before, after = out.split("=====\n")
    return before, after


def _rows(k, mm):
    return [(v.start, v.end, tuple(sorted(v.flag_names & maps.NAMES))) for v in mm.vmas()]


def _live_rows(text, names):
    return [(v.start, v.end, tuple(sorted(v.flags & names))) for v in maps.parse(text)]


def test_from_smaps_rebuilds_a_live_layout_and_replays_mprotect(kernel):
    before, after = _live_layout()
    names = frozenset(n for n in maps.NAMES if kernel.has_flag(n))
    if not compare.live_soft_dirty():
        names -= {"VM_SOFTDIRTY"}
    mm = MM.from_smaps(kernel, before)
    try:
        assert _rows(kernel, mm) == [r for r in _live_rows(before, names)]
        (a, b) = mm.vmas()
        assert a.anon_vma is not None and b.anon_vma is None   # faulted vs not
        base = 0x200000000000 // 4096
        ret = harness.syscall(kernel, mm, ["mprotect", base + 2, base + 10, "r"])
        assert ret == 0
        got = [(s, e, tuple(n for n in f if n in names)) for s, e, f in _rows(kernel, mm)]
        assert got == _live_rows(after, names)
        # [0,2) rw; [2,8) read-only keeps VM_ACCOUNT (faulted); [8,12) read-only without
        assert len(got) == 3
    finally:
        mm.close()


def test_unrepresentable_line_is_refused_with_its_reason(kernel):
    text = ("7f0000000000-7f0000200000 rw-p 00000000 00:00 0\n"
            "VmFlags: rd wr mr mw me ht\n")
    with pytest.raises(load.Unrepresentable, match=r"line 1: .*7f0000000000.*hugetlb"):
        MM.from_smaps(kernel, text)
    with pytest.raises(load.Unrepresentable, match=r"line 2: .*unknown VmFlags code 'zz'"):
        MM.from_smaps(kernel, "1000-2000 r--p 00000000 00:00 0\nVmFlags: rd zz\n")


def test_procmap_query_dump_round_trips():
    res = live.run([["mmap", 0, 2, "rw", "anon", 0], ["mprotect", 1, 2, "r"]])
    assert not res.error
    text = maps.dump(res.vmas)
    back = maps.parse(text)
    assert [(v.start, v.end, v.flags) for v in back] == \
        [(v.start, v.end, v.flags) for v in res.vmas]
    assert len(back) == 2
