# SPDX-License-Identifier: GPL-2.0-or-later
"""Write pytest results as KTAP version 1 (what tools/testing/kunit/kunit.py parses)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest


def ktap_name(nodeid: str) -> str:
    """A test name KTAP readers accept: no spaces, no '#'."""
    name = nodeid.split("::", 1)[-1]
    return re.sub(r"[\s#]+", "_", name)


class KtapWriter:
    """Collects one result per test and writes the KTAP file at the end."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.results: list[tuple[str, str, str]] = []   # (name, ok|not ok|skip, why)
        self.suite_of: dict[str, str] = {}

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        name = ktap_name(report.nodeid)
        module = report.nodeid.split("::", 1)[0].removesuffix(".py").replace("/", ".")
        self.suite_of.setdefault(name, re.sub(r"[\s#]+", "_", module))
        if report.when == "setup" and report.skipped:
            why = report.longrepr[2] if isinstance(report.longrepr, tuple) else "skipped"
            self.results.append((name, "skip", str(why).replace("Skipped: ", "")))
        elif report.when == "setup" and report.failed:
            self.results.append((name, "not ok", "setup failed"))
        elif report.when == "call":
            self.results.append((name, "ok" if report.passed else "not ok",
                                 "skipped" if report.skipped else ""))
        elif report.when == "teardown" and report.failed:
            self.results = [r for r in self.results if r[0] != name]
            self.results.append((name, "not ok", "teardown failed"))

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """One KTAP suite per test module, each test a subtest of it."""
        suites: dict[str, list[tuple[str, str, str]]] = {}
        for name, status, why in self.results:
            suites.setdefault(self.suite_of.get(name, "pyvma"), []).append((name, status, why))
        lines = ["KTAP version 1", f"1..{len(suites)}"]
        for n, (suite, tests) in enumerate(suites.items(), 1):
            lines += ["    KTAP version 1", f"    # Subtest: {suite}", f"    1..{len(tests)}"]
            for i, (name, status, why) in enumerate(tests, 1):
                if status == "skip":
                    lines.append(f"    ok {i} {name} # SKIP {why}")
                else:
                    lines.append(f"    {status} {i} {name}")
            ok = all(status != "not ok" for _, status, _ in tests)
            lines.append(f"{'ok' if ok else 'not ok'} {n} {suite}")
        self.path.write_text("\n".join(lines) + "\n")
