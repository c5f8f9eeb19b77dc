# SPDX-License-Identifier: GPL-2.0-or-later
"""pytest plugin: the tests a change reaches run first, and their verdict is said at once.

``--pyvma-first FILE`` (written by ``pyvma test`` from :mod:`pyvma.affected`): the
kernel-suite tests that entered a changed function on the base (and those of test
modules changed since the recording) run first; when the last of them has reported,
one line says what they found::

    pyvma: 212 tests reach vma_expand(), commit_merge(): 212 passed in 0.6 s; the other 994 follow

With ``--pyvma-first-only`` the rest are deselected (``pyvma test --affected``).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .affected import STDERR_VAR
from .results import neutral


def _kernel_of(item: pytest.Item, ids: dict[str, str]) -> str | None:
    callspec = getattr(item, "callspec", None)
    spec = callspec.params.get("kernel_spec") if callspec else None
    return ids.get(spec) if spec else None


class FirstRunner:
    """Orders the affected tests first and reports them as one verdict."""

    def __init__(self, config: pytest.Config, path: str, only: bool,
                 kernel_ids: dict[str, str]) -> None:
        self._config = config
        data: dict[str, Any] = json.loads(Path(path).read_text())
        self.tests: set[str] = set(data.get("tests", []))
        self.modules: set[str] = set(data.get("modules", []))
        self.known: set[str] = set(data.get("known", []))
        self.functions: str = data.get("functions_text", "")
        self.only = only
        self.kernel_ids = kernel_ids
        # with a base in the run, the tree whose change is selected (its id)
        # the trees whose change was selected; a base in the same run runs its
        # counterparts first too (to compare), but the verdict counts the changed trees'
        self.kernels: set[str] | None = set(data["kernels"]) if data.get("kernels") else None
        self.first: set[str] = set()
        self.counted: set[str] = set()
        self.rest = 0
        self.outcomes: dict[str, str] = {}
        self.t0 = time.monotonic()
        self.said = False

    def _is_first(self, item: pytest.Item) -> bool:
        kid = _kernel_of(item, self.kernel_ids)
        if kid is None:
            return False
        if item.nodeid.split("::", 1)[0] in self.modules:
            return True
        nid = neutral(item.nodeid, kid)
        return nid in self.tests or nid not in self.known      # a test not recorded: first

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        first = [i for i in items if self._is_first(i)]
        rest = [i for i in items if not self._is_first(i)]
        self.first = {i.nodeid for i in first}
        self.counted = {i.nodeid for i in first if self.kernels is None
                        or _kernel_of(i, self.kernel_ids) in self.kernels}
        self.rest = len(rest)
        if self.only and rest:
            config.hook.pytest_deselected(items=rest)
            items[:] = first
        else:
            items[:] = first + rest
        if not first:
            self._say(config)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.nodeid not in self.first:
            return
        prev = self.outcomes.get(report.nodeid)
        if report.failed:
            self.outcomes[report.nodeid] = "failed" if report.when == "call" else "error"
        elif report.skipped and prev is None:
            self.outcomes[report.nodeid] = "xfailed" if hasattr(report, "wasxfail") \
                else "skipped"
        elif report.when == "call" and prev is None:
            self.outcomes[report.nodeid] = "xpassed" if hasattr(report, "wasxfail") \
                else "passed"
        if report.when == "teardown" and len(self.outcomes) == len(self.first) and \
                not self.said:
            self._say(self._config)

    def line(self) -> str:
        n = len(self.counted)
        counts: dict[str, int] = {}
        for nid, o in self.outcomes.items():
            if nid in self.counted:
                counts[o] = counts.get(o, 0) + 1
        order = ("failed", "error", "xpassed", "passed", "skipped", "xfailed")
        how = ", ".join(f"{counts[o]} {o}{'s' if o == 'error' and counts[o] > 1 else ''}"
                        for o in order if counts.get(o)) or "none ran"
        what = f"reach {self.functions}" if self.functions else "are in test modules changed " \
            "since the recording"
        tail = "; --affected: the others are not run" if self.only else \
            f"; the other {self.rest} follow"
        if not n:
            return f"pyvma: no test reaches {self.functions or 'the change'}" + tail
        return f"pyvma: {n} test{'s' if n != 1 else ''} {what}: {how} in " \
               f"{time.monotonic() - self.t0:.1f} s" + tail

    def _say(self, config: pytest.Config) -> None:
        self.said = True
        text = self.line()
        if os.environ.get(STDERR_VAR):
            print(text, file=sys.stderr, flush=True)
            return
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is None:
            print(text, flush=True)
            return
        tr.write("\n")                 # after the progress dots
        tr.write_line(text, bold=True)
        tr.flush()
