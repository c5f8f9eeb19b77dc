# SPDX-License-Identifier: GPL-2.0-or-later
"""`pyvma replay --maps /proc/PID/smaps` on the real processes of the machine: every
layout loads, the operation runs, and what is printed is compact (a real layout
spans 0x7fff... pages: never a column a page)."""
from __future__ import annotations

import os
import re
import time

import pytest

from pyvma.api.diagram import MAX_COLUMNS, draw, near
from pyvma.cli import main

MAX_PIDS = 50           # processes replayed at most (each loads the kernel's layout)
TIME_BUDGET = 240.0     # seconds: stop taking new processes after this


def _smaps_of_processes() -> tuple[list[tuple[str, str]], dict[str, int]]:
    """(pid, smaps text) of the processes visible now that have an address space,
    and how many were left out and why."""
    out: list[tuple[str, str]] = []
    left = {"vanished or unreadable": 0, "no address space (kernel thread)": 0}
    for pid in sorted((p for p in os.listdir("/proc") if p.isdigit()), key=int):
        try:
            with open(f"/proc/{pid}/smaps", encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            left["vanished or unreadable"] += 1
            continue
        if not text.strip():
            left["no address space (kernel thread)"] += 1
            continue
        out.append((pid, text))
    return out, left


def test_compressed_drawing_never_draws_a_column_a_page():
    pages = [(0x555555554, 0x555555560), (0x555555560, 0x555555561),
             (0x7ffff7fc0, 0x7ffff7fc2), (0x7ffffffde, 0x7ffffffff)]
    text = draw(pages, ["a", "b", "c", "d"])
    lines = text.splitlines()
    assert lines[0].startswith("pages 0x555555554-0x7ffffffff, 4 VMAs, compressed")
    assert lines[1] == "AAA~AAB ~ CC ~ DDD~DD"
    assert lines[2:] == ["A: a", "B: b", "C: c", "D: d"]
    # small layouts keep their page-per-column drawing
    assert draw([(0, 3), (4, 6)], ["a", "b"]).splitlines()[:2] == ["012345", "AAA BB"]
    assert max(len(l) for l in draw([(0, 1), (MAX_COLUMNS, MAX_COLUMNS + 1)],
                                     ["a", "b"]).splitlines()) < 100


def test_near_picks_the_vmas_around_a_range():
    rows = [(i * 10, i * 10 + 5) for i in range(20)]
    assert near(rows, 52, 53, context=1) == (4, 7)
    assert near(rows, 57, 58, context=0) == (5, 7)      # in a gap: its neighbours
    assert near(rows, 1000, 1001, context=1) == (18, 20)


def test_replay_maps_on_every_process(kernel_spec, tmp_path, capfd):
    """Every process visible now (at most MAX_PIDS): its smaps loads, a munmap of its
    first page replays, exit 0, no traceback, and no printed line is a column a page."""
    procs, left = _smaps_of_processes()
    if not procs:
        pytest.skip(f"no process with a readable smaps ({left})")
    spec = kernel_spec
    t0 = time.monotonic()
    done = 0
    for pid, text in procs[:MAX_PIDS]:
        if time.monotonic() - t0 > TIME_BUDGET:
            break
        path = tmp_path / f"{pid}.smaps"
        path.write_text(text)         # the process may exit while it is replayed
        m = re.match(r"([0-9a-f]+)-", text)
        assert m, f"pid {pid}: smaps does not start with a VMA line"
        first = int(m.group(1), 16) >> 12
        rc = main(["replay", "--kernel", spec, "--maps", str(path),
                   "--ops", f'[["munmap", {first}, {first + 1}]]'])
        out, err = capfd.readouterr()
        assert rc == 0, f"pid {pid}: exit {rc}\n{err}"
        assert "Traceback" not in out + err
        assert "loaded" in out and "1. munmap" in out, out
        assert max(len(l) for l in out.splitlines()) < 200, f"pid {pid}: a line is too wide"
        done += 1
    print(f"replayed {done} of {len(procs)} processes with an address space "
          f"({', '.join(f'{n} {why}' for why, n in left.items())})")
    assert done >= min(len(procs), MAX_PIDS) or time.monotonic() - t0 > TIME_BUDGET
