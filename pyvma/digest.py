# SPDX-License-Identifier: GPL-2.0-or-later
"""The digest a failing run opens its report with: failures grouped by test module
and the first line of what failed (numbers in it made alike), each group with its
count and one node id to rerun -- short enough to paste into a reply.

Printed before pytest's FAILURES section (registered by the plugin).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

#: at most this many groups are listed (the rest are counted)
MAX_GROUPS = 20
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_DEC = re.compile(r"(?<![:\w.])-?\d+\b")
_MEMADDR = re.compile(r" at 0x[0-9a-fA-F]+>")


def first_line(report: pytest.TestReport) -> str:
    """The first line of what failed: the exception line pytest shows (``E ...``),
    or the message of a ``pytest.fail(..., pytrace=False)``."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr or "")
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:160]
    return "(no message)"


def shape(line: str) -> str:
    """A failure's line with what differs test to test (addresses, numbers; not a
    ``file:line``) made alike, so the same failure on other data falls into one group."""
    return _DEC.sub("N", _HEX.sub("0x…", _MEMADDR.sub(">", line)))


@dataclass
class Group:
    module: str
    what: str
    nodeids: list[str] = field(default_factory=list)


def group(failures: list[tuple[str, str]]) -> list[Group]:
    """``(node id, first line)`` pairs grouped by (module, shape of the line),
    largest group first; a group shows its first failure's line."""
    groups: dict[tuple[str, str], Group] = {}
    for nodeid, line in failures:
        module = nodeid.split("::", 1)[0]
        key = (module, shape(line))
        groups.setdefault(key, Group(module, line)).nodeids.append(nodeid)
    return sorted(groups.values(), key=lambda g: (-len(g.nodeids), g.module, g.what))


def text(failures: list[tuple[str, str]], errors: int = 0) -> str:
    """The digest: one line of totals, then ``N x module: first line`` and a node id."""
    groups = group(failures)
    n_fail = len(failures) - errors
    head = ", ".join(p for p in (f"{n_fail} failed" if n_fail else "",
                                 f"{errors} errors" if errors else "") if p)
    out = [f"pyvma digest: {head} in {len(groups)} group(s) (by test module and first "
           "line of the failure; rerun one with its node id)"]
    for g in groups[:MAX_GROUPS]:
        out.append(f"  {len(g.nodeids)} x {g.module}: {g.what}")
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
            terminalreporter.write_line(text(self.failures, self.errors))
        return (yield)
