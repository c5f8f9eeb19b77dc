# SPDX-License-Identifier: GPL-2.0-or-later
"""Write pytest results as KTAP version 1 (what tools/testing/kunit/kunit.py parses).

One KTAP suite per test module (its path, dotted), one result per test, keyed by
the full node id.  What the kernel's parser counts:

- passed  = pytest's passed + xpassed (a non-strict xfail that passed: ``ok``);
- failed  = tests with a failed setup, call or teardown (pytest's failed + errors, a
  test that passed and then failed its teardown counted once, as failed);
- skipped = pytest's skipped + xfailed: ``ok N name # SKIP reason`` for a skip in any
  phase, ``ok N name # SKIP xfail: reason`` for an expected failure.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest


def _clean(text: str) -> str:
    """One line with no '#' (KTAP ends a name at '#'; a reason runs to the line end)."""
    return re.sub(r"\s+", " ", text.replace("#", "")).strip()


def ktap_name(nodeid: str) -> str:
    """A test name KTAP readers accept: the node id within its module, no spaces, no '#'."""
    name = nodeid.split("::", 1)[-1]
    return re.sub(r"[\s#]+", "_", name)


def ktap_suite(nodeid: str) -> str:
    """The KTAP suite of a test: its module's path, dotted (tests.paths.test_brk)."""
    module = nodeid.split("::", 1)[0].removesuffix(".py").replace("/", ".")
    return re.sub(r"[\s#]+", "_", module)


def _skip_reason(report: pytest.TestReport) -> str:
    if isinstance(report.longrepr, tuple):
        return _clean(str(report.longrepr[2]).removeprefix("Skipped: "))
    return "skipped"


class KtapWriter:
    """Collects one result per test node id and writes the KTAP file at the end."""

    def __init__(self, path: str, kernels: list[str] | None = None) -> None:
        self.path = Path(path)
        self.kernels = kernels or []            # "<id>: <label>" of each kernel run
        # node id -> (status: ok | not ok | skip, reason)
        self.results: dict[str, tuple[str, str]] = {}
        self.line: dict[str, int] = {}       # node id -> its line in the module

    def _set(self, nodeid: str, status: str, why: str) -> None:
        if self.results.get(nodeid, ("ok", ""))[0] == "not ok" and status != "not ok":
            return                              # a failure is never overwritten
        self.results[nodeid] = (status, why)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        nodeid, when = report.nodeid, report.when
        self.line.setdefault(nodeid, report.location[1] or 0)
        xfail = getattr(report, "wasxfail", None)
        if report.failed:
            what = {"setup": "setup failed", "teardown": "teardown failed"}.get(when, "")
            self._set(nodeid, "not ok", what)
        elif report.skipped and xfail is not None:
            self._set(nodeid, "skip", _clean(f"xfail: {xfail}" if xfail else "xfail"))
        elif report.skipped:
            self._set(nodeid, "skip", _skip_reason(report))
        elif when == "call":
            self._set(nodeid, "ok", "")

    def render(self) -> str:
        """The KTAP text of the results so far."""
        suites: dict[str, list[tuple[str, str, str]]] = {}
        used: dict[str, set[str]] = {}
        # modules by path, tests in source order: the same file with or without xdist
        order = sorted(self.results, key=lambda n: (ktap_suite(n), self.line.get(n, 0), n))
        for nodeid in order:
            status, why = self.results[nodeid]
            suite = ktap_suite(nodeid)
            name, seen, n = ktap_name(nodeid), used.setdefault(suite, set()), 2
            base = name
            while name in seen:                 # two node ids that clean to one name
                name, n = f"{base}_{n}", n + 1
            seen.add(name)
            suites.setdefault(suite, []).append((name, status, why))
        lines = ["KTAP version 1", f"1..{len(suites)}"]
        lines += [f"# pyvma kernel {_clean(k)}" for k in self.kernels]
        for n, (suite, tests) in enumerate(suites.items(), 1):
            lines += ["    KTAP version 1", f"    # Subtest: {suite}", f"    1..{len(tests)}"]
            for i, (name, status, why) in enumerate(tests, 1):
                if status == "skip":
                    lines.append(f"    ok {i} {name} # SKIP {why}")
                else:
                    lines.append(f"    {status} {i} {name}")
            ok = all(status != "not ok" for _, status, _ in tests)
            lines.append(f"{'ok' if ok else 'not ok'} {n} {suite}")
        return "\n".join(lines) + "\n"

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Written once, by the process that sees every result (xdist's controller)."""
        if hasattr(session.config, "workerinput"):
            return
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(self.render())
        os.replace(tmp, self.path)
