# SPDX-License-Identifier: GPL-2.0-or-later
"""Per-test results of a run, kept to compare two trees: a series and its base.

``--pyvma-results FILE`` (pytest) writes one record per test: the kernel it ran on,
its outcome and the kernel WARN/BUG sites it reported.  ``changes()`` compares the
records of a patched tree with its base's: tests newly failing, newly passing, and
WARN/BUG sites that are new (by file and condition: a series moves line numbers).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: a WARN/BUG site as the harness reports it: ``mm/vma.c:1151: vma_iter_addr(...) > end``
SITE = re.compile(r"^\s*((?:mm|include|lib|tools)/[\w./-]+):(\d+): (.+?)\s*$", re.M)


_UNSAFE = re.compile(r"[^A-Za-z0-9._+~=-]")


def safe_id(text: str, limit: int = 80) -> str:
    """*text* (a kernel version, a patched tree's name) as a test id part and a file
    name: what a shell, pytest's node ids or a path would read otherwise (``/``,
    spaces, ``[``, ``::``, control characters) becomes ``_``."""
    return _UNSAFE.sub("_", text)[:limit] or "kernel"


class ResultsWriter:
    """pytest plugin: one record per test, written at the end of the session."""

    def __init__(self, path: str, kernel_ids: dict[str, str]) -> None:
        self.path = Path(path)
        self.kernel_ids = kernel_ids            # spec -> id in test names
        self.records: dict[str, dict[str, Any]] = {}
        self.kernel_of: dict[str, str] = {}

    @pytest.hookimpl
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            # Python suites are parametrized by kernel_spec; upstream's C tests carry theirs
            callspec = getattr(item, "callspec", None)
            spec = getattr(item, "_pyvma_upstream_c", None) or (
                callspec and callspec.params.get("kernel_spec"))
            if spec:
                self.kernel_of[item.nodeid] = self.kernel_ids.get(spec, spec)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        rec = self.records.setdefault(report.nodeid, {
            "kernel": self.kernel_of.get(report.nodeid, ""), "outcome": "passed",
            "sites": []})
        if report.when == "call" and hasattr(report, "wasxfail"):
            rec["outcome"] = "xfailed" if report.skipped else "xpassed"
        elif report.failed:
            rec["outcome"] = "failed" if report.when == "call" else "error"
        elif report.skipped and rec["outcome"] == "passed":
            rec["outcome"] = "skipped"
            lr = report.longrepr
            rec["why"] = str(lr[2] if isinstance(lr, tuple) and len(lr) == 3 else lr)[:300]
        if report.failed:
            text = report.longreprtext or ""
            rec["sites"] += [f"{f}:{line}: {cond}" for f, line, cond in SITE.findall(text)]

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # with xdist, each worker writes its own part (FILE.<worker>), merged by load();
        # a worker is known by its config (a pytest run started from inside an xdist
        # worker inherits PYTEST_XDIST_WORKER and is none)
        workerinput = getattr(session.config, "workerinput", None)
        worker = workerinput.get("workerid") if isinstance(workerinput, dict) else None
        path = self.path.with_name(f"{self.path.name}.{worker}") if worker else self.path
        if worker or self.records:
            path.write_text(json.dumps(self.records, indent=0, sort_keys=True))


def load(path: Path) -> dict[str, dict[str, Any]]:
    """The records of a run (and of its xdist workers' parts)."""
    out: dict[str, dict[str, Any]] = {}
    for part in [path, *sorted(path.parent.glob(path.name + ".gw*"))]:
        if part.is_file():
            data = json.loads(part.read_text())
            if isinstance(data, dict):
                out.update(data)
    return out


def neutral(nodeid: str, kernel: str) -> str:
    """The test's id without its kernel: the same test on another tree."""
    return nodeid.replace(f"[{kernel}]", "").replace(f"[{kernel}-", "[").replace(
        f"-{kernel}]", "]").replace(f"-{kernel}-", "-")


def _site_key(site: str) -> str:
    m = SITE.match(site)
    return f"{m.group(1)}: {m.group(3)}" if m else site


@dataclass
class Changes:
    """What a patched tree's run changed against its base's."""

    base: str
    patched: str
    newly_failing: list[str] = field(default_factory=list)
    newly_passing: list[str] = field(default_factory=list)
    new_sites: list[str] = field(default_factory=list)
    gone_sites: list[str] = field(default_factory=list)
    only_patched: list[str] = field(default_factory=list)   # tests the base lacks
    newly_skipped: list[str] = field(default_factory=list)  # ran on the base, not here
    compared: int = 0

    @property
    def unbuilt(self) -> list[str]:
        """Newly skipped because upstream's C harness no longer builds (a breakage)."""
        return [r for r in self.newly_skipped if UNBUILT in r]

    @property
    def new_tests_failing(self) -> list[str]:
        """Tests only the patched tree has that fail (among newly_failing)."""
        return [r for r in self.newly_failing if NEW_TEST in r]

    def text(self) -> str:
        out = [f"pyvma: what {self.patched} changed against {self.base} "
               f"({self.compared} tests on both, {len(self.only_patched)} only on "
               f"{self.patched}):"]
        if self.newly_failing:
            new = len(self.new_tests_failing)
            out.append(f"  FAILING: {len(self.newly_failing)} test(s) fail on {self.patched} "
                       f"that did not fail on {self.base}"
                       + (f" ({new} of them new tests)" if new else ""))
        if self.unbuilt:
            out.append(f"  NOT BUILT: upstream's C harness does not build on {self.patched}: "
                       f"{len(self.unbuilt)} C test(s) that ran on {self.base} are skipped")
        elif self.newly_skipped:
            out.append(f"  NOT RUN: {len(self.newly_skipped)} test(s) that ran on {self.base} "
                       f"are skipped on {self.patched}")
        if not (self.newly_failing or self.newly_skipped or self.newly_passing
                or self.new_sites):
            out.append("  no test changed its outcome; no new WARN/BUG site"
                       + (f"; {len(self.only_patched)} new test(s) pass"
                          if self.only_patched else ""))
        for title, rows in (("newly failing", self.newly_failing),
                            ("newly skipped", self.newly_skipped),
                            ("newly passing", self.newly_passing),
                            ("new WARN/BUG sites", self.new_sites),
                            ("WARN/BUG sites gone", self.gone_sites),
                            ("tests only the patched tree has", self.only_patched)):
            if rows:
                out.append(f"  {title} ({len(rows)}):")
                out += [f"    {r}" for r in rows]
        return "\n".join(out)


BAD = ("failed", "error", "xpassed")
#: what a C test's skip says when upstream's harness does not build (tests/upstream_c)
UNBUILT = "does not build under pyvma"
#: how a newly failing test the base lacks is listed
NEW_TEST = "new test ->"


def changes(base: dict[str, dict], patched: dict[str, dict], base_id: str,
            patched_id: str) -> Changes:
    """Compare two runs' records: one tree each (*base_id*, *patched_id*)."""
    b = {neutral(n, base_id): r for n, r in base.items() if r.get("kernel") == base_id}
    p = {neutral(n, patched_id): r for n, r in patched.items()
         if r.get("kernel") == patched_id}
    ch = Changes(base_id, patched_id)
    for name in sorted(p):
        rp = p[name]
        if name not in b:
            ch.only_patched.append(f"{name}: {rp['outcome']}")
            if rp["outcome"] in BAD:        # a failure the base did not have
                ch.newly_failing.append(f"{name}: {NEW_TEST} {rp['outcome']}")
            continue
        ch.compared += 1
        rb = b[name]
        if rp["outcome"] in BAD and rb["outcome"] not in BAD:
            ch.newly_failing.append(f"{name}: {rb['outcome']} -> {rp['outcome']}")
        elif rp["outcome"] == "skipped" and rb["outcome"] not in ("skipped", "xfailed"):
            why = " ".join(str(rp.get("why", "")).split())[:200]
            ch.newly_skipped.append(f"{name}: {rb['outcome']} -> skipped"
                                    + (f" ({why})" if why else ""))
        elif rb["outcome"] in BAD and rp["outcome"] not in BAD:
            ch.newly_passing.append(f"{name}: {rb['outcome']} -> {rp['outcome']}")
    sites_b = {_site_key(s) for r in b.values() for s in r.get("sites", [])}
    seen: set[str] = set()
    for name, r in sorted(p.items()):
        for s in r.get("sites", []):
            if _site_key(s) not in sites_b and _site_key(s) not in seen:
                seen.add(_site_key(s))
                ch.new_sites.append(f"{s}  (first in {name})")
    sites_p = {_site_key(s) for r in p.values() for s in r.get("sites", [])}
    ch.gone_sites = sorted(sites_b - sites_p)
    return ch
