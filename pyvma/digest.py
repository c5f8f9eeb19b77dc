# SPDX-License-Identifier: GPL-2.0-or-later
"""The digest a failing run opens its report with: failures grouped by the kernel
entry point and merge path they went through and the first line of what differed
(numbers in it made alike), each group with its count and one node id to rerun --
short enough to paste into a reply::

    39 failed: vma_merge_new_range() both sides: merged VMA lacks VM_MAYBE_GUARD
        e.g. tests/sticky/test_sticky_new_range.py::test_new_range_merge_both[guard-7.3.4]

The entry point is the outermost kernel entry the test entered on the recorded base
(the map of :mod:`pyvma.affected`: which functions each test enters); the merge path
the side words of its name and parameters (both, prev/left, next/right).  Without a
map a group is named by its test module.  Printed before pytest's FAILURES section.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

#: at most this many groups are listed (the rest are counted)
MAX_GROUPS = 20
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_DEC = re.compile(r"(?<![:\w.])-?\d+\b")
_MEMADDR = re.compile(r" at 0x[0-9a-fA-F]+>")


def first_line(report: pytest.TestReport) -> str:
    """The first line of what failed: the exception line pytest shows (``E ...``),
    or the message of a ``pytest.fail(..., pytrace=False)``.  An assertion whose
    message is a picture (a layout diagram) is named by its ``assert`` line."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "(no message)"
    if lines[0].rstrip(":") in ("AssertionError", "assert"):
        lines = [next((ln for ln in lines[1:] if ln.startswith("assert ")), lines[0])] + lines
    return lines[0][:160]


def shape(line: str) -> str:
    """A failure's line with what differs test to test (addresses, numbers; not a
    ``file:line``) made alike, so the same failure on other data falls into one group."""
    return _DEC.sub("N", _HEX.sub("0x…", _MEMADDR.sub(">", line)))


#: kernel entry points, outermost first: a test's group is the first it entered
ENTRY_POINTS = ("__mmap_region", "mmap_region", "do_brk_flags", "copy_vma",
                "relocate_vma_down", "create_init_stack_vma", "expand_downwards",
                "__install_special_mapping", "insert_vm_struct", "vma_merge_extend",
                "vma_modify_flags", "vma_modify_flags_uffd", "vma_modify_name",
                "vma_modify_policy", "vma_modify_flags_name", "do_vmi_munmap",
                "do_vmi_align_munmap", "vma_merge_existing_range", "vma_merge_new_range",
                "vma_expand", "vma_shrink", "__split_vma", "split_vma", "anon_vma_prepare",
                "mm_take_all_locks", "unmapped_area", "unmapped_area_topdown", "vma_link")
_SIDES = {"both": "both sides", "left": "prev side", "prev": "prev side",
          "right": "next side", "next": "next side"}


def entry_point(functions: list[str]) -> str | None:
    """The outermost entry point among a test's functions (``file:name`` entries)."""
    names = {f.rsplit(":", 1)[-1] for f in functions}
    return next((f"{e}()" for e in ENTRY_POINTS if e in names), None)


def merge_path(nodeid: str) -> str:
    """The sides a test's name and parameters say it merges: ``both sides`` etc."""
    words = re.split(r"[^a-z]+", nodeid.split("::", 1)[-1].lower())
    sides = list(dict.fromkeys(_SIDES[w] for w in words if w in _SIDES))
    return sides[0] if len(sides) == 1 else ""


@dataclass
class Group:
    module: str             # the entry point and merge path, or the test module
    what: str
    nodeids: list[str] = field(default_factory=list)
    by_entry: bool = False


def group(failures: list[tuple[str, str]],
          where: Callable[[str], str | None] | None = None) -> list[Group]:
    """``(node id, first line)`` pairs grouped by (entry point and merge path, else
    module; shape of the line), largest group first; a group shows its first
    failure's line.  *where* names a node id's entry point (None: unknown)."""
    groups: dict[tuple[str, str], Group] = {}
    for nodeid, line in failures:
        entry = where(nodeid) if where else None
        if entry:
            side = merge_path(nodeid)
            name = f"{entry} {side}".strip()
        else:
            name = nodeid.split("::", 1)[0]
        key = (name, shape(line))
        groups.setdefault(key, Group(name, line, by_entry=bool(entry))).nodeids.append(nodeid)
    return sorted(groups.values(), key=lambda g: (-len(g.nodeids), g.module, g.what))


def text(failures: list[tuple[str, str]], errors: int = 0,
         where: Callable[[str], str | None] | None = None) -> str:
    """The digest: one line of totals, then ``N failed: entry point path: first line``
    (``N x module: first line`` where the entry point is unknown) and a node id."""
    groups = group(failures, where)
    n_fail = len(failures) - errors
    head = ", ".join(p for p in (f"{n_fail} failed" if n_fail else "",
                                 f"{errors} errors" if errors else "") if p)
    how = "kernel entry point and merge path" if any(g.by_entry for g in groups) \
        else "test module"
    out = [f"pyvma digest: {head} in {len(groups)} group(s) (by {how} and first "
           "line of the failure; rerun one with its node id)"]
    for g in groups[:MAX_GROUPS]:
        what = g.what.removeprefix("AssertionError: ")
        out.append(f"  {len(g.nodeids)} failed: {g.module}: {what}" if g.by_entry
                   else f"  {len(g.nodeids)} x {g.module}: {g.what}")
        out.append(f"      e.g. {g.nodeids[0]}")
    if len(groups) > MAX_GROUPS:
        rest = sum(len(g.nodeids) for g in groups[MAX_GROUPS:])
        out.append(f"  ... {len(groups) - MAX_GROUPS} more group(s), {rest} failure(s)")
    return "\n".join(out)


class DigestWriter:
    """pytest plugin: collect each failure's first line; print the digest first."""

    def __init__(self) -> None:
        self.failures: list[tuple[str, str]] = []
        self.errors = 0

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failures.append((report.nodeid, first_line(report)))
            self.errors += report.when != "call"

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            crash = str(report.longrepr or "").strip().splitlines()
            self.failures.append((report.nodeid or ".", (crash or ["collection error"])[-1]))
            self.errors += 1

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        if self.failures:
            terminalreporter.write_line("")
            terminalreporter.write_line(text(self.failures, self.errors, locator(config)))
        return (yield)


def locator(config) -> Callable[[str], str | None] | None:
    """Node id -> its entry point, from the maps of the run's kernels (none: None)."""
    from .affected import MAPS_VAR, find_map, load_map
    from .results import neutral
    sess = getattr(config, "_pyvma", None)
    if sess is None:
        return None
    maps = [m for p in os.environ.get(MAPS_VAR, "").split(":") if p
            for m in [load_map(Path(p))] if m]
    ids = []
    for spec in sess.specs:
        ids.append(sess.kernel_id(spec))
        k = sess.loaded(spec)
        if k is not None and not maps:
            m = find_map(k.tree, sess.cfg.key, k.build.key)
            if m:
                maps.append(m)
    if not maps:
        return None
    tests: dict[str, list[str]] = {}
    for m in maps:
        tests.update(m["tests"])

    def where(nodeid: str) -> str | None:
        for kid in ids:
            fns = tests.get(neutral(nodeid, kid))
            if fns:
                return entry_point(fns)
        return None
    return where
