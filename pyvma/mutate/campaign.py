# SPDX-License-Identifier: GPL-2.0-or-later
"""A mutation campaign on pytest-xdist: each mutant a pytest item.

``pyvma mutate`` writes a plan (the run's options and its mutants) and runs
``pytest -p pyvma.mutate.campaign PLAN`` with ``-n N`` (local workers) or ``--tx``
specs (workers on other hosts: ``ssh=HOST//python=python3``).  xdist distributes
the items; each worker keeps its own cache (``$PYVMA_CACHE/mutate/worker-<id>``
on its host: its builds, its scratch trees, its results) and reads the kernel trees
of the planning host's cache read-only when they are there (or resolves the spec
itself).  Each result travels back in its test report (``user_properties``) and the
controller merges them into one file (``--mutate-out``), printing a progress line
per mutant.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from .mutants import Mutant
from .run import Options, run_mutant

PROP = "pyvma_mutant_result"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--mutate-out", metavar="FILE", help="where the controller writes the "
                     "merged results (JSON)")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    config._mutate_results = []             # type: ignore[attr-defined]
    config._mutate_total = 0                # type: ignore[attr-defined]
    for a in config.args:
        if Path(a).name.startswith("mutate-plan") and Path(a).is_file():
            plan = json.loads(Path(a).read_text())
            config._mutate_total += len(plan["mutants"])   # type: ignore[attr-defined]
    if _is_worker(config):
        # this worker's own cache (its builds and scratch trees), under this host's
        from ..cache import cache_dir
        wid = config.workerinput["workerid"]  # type: ignore[attr-defined]
        own = cache_dir() / "mutate" / f"worker-{wid}"
        os.environ["PYVMA_CACHE"] = str(own)
        cache_dir()                          # created (0700) and checked now


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.startswith("mutate-plan") and file_path.suffix == ".json":
        return PlanFile.from_parent(parent, path=file_path)
    return None


class PlanFile(pytest.File):
    """The plan: one item a mutant."""

    def collect(self):
        plan = json.loads(self.path.read_text())
        opts = Options(**plan["options"])
        for m in plan["mutants"]:
            yield MutantItem.from_parent(self, name=m["id"], mutant=Mutant(**m), opts=opts)


class MutantItem(pytest.Item):
    """One mutant: built and run by run.run_mutant, its result a report property."""

    def __init__(self, *, mutant: Mutant, opts: Options, **kw: Any) -> None:
        super().__init__(**kw)
        self.mutant = mutant
        self.opts = opts

    def runtest(self) -> None:
        try:
            res = run_mutant(self.mutant, self.opts)
        except Exception as exc:        # noqa: BLE001  (one mutant's error, reported)
            res = {"id": self.mutant.id, "mutant": self.mutant.as_dict(), "status": "error",
                   "detail": f"{type(exc).__name__}: {exc}"[:300]}
        res["worker"] = os.environ.get("PYTEST_XDIST_WORKER", "local")
        self.user_properties.append((PROP, json.dumps(res)))

    def reportinfo(self):
        return self.path, None, f"mutant {self.mutant.id} {self.mutant.change()}"


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    if report.when == "call" and any(k == PROP for k, _ in report.user_properties):
        return "passed", "", ""
    return None


def verdict(res: dict[str, Any]) -> str:
    """A result in a few words (the progress line's end)."""
    st = res.get("status")
    if st != "run":
        return st or "?"
    s, d = res["suites"], res["diff"]
    word = {(True, True): "killed by both", (True, False): "killed by the suites only",
            (False, True): "killed by diff only", (False, False): "SURVIVED"}
    return word[(bool(s["killed"]), bool(d["killed"]))]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    config = _config
    if config is None or _is_worker(config) or report.when != "call":
        return
    for k, v in report.user_properties:
        if k != PROP:
            continue
        res = json.loads(str(v))
        config._mutate_results.append(res)             # type: ignore[attr-defined]
        n, total = len(config._mutate_results), config._mutate_total  # type: ignore[attr-defined]
        m = Mutant(**res["mutant"])
        tr = config.pluginmanager.get_plugin("terminalreporter")
        line = f"[{n}/{total or '?'}] {m.id} {m.change()}: {verdict(res)}" + \
            (f" ({res.get('worker')})" if res.get("worker") not in (None, "local") else "")
        if tr is not None:
            tr.write_line(line)


_config: pytest.Config | None = None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _config
    _config = session.config


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    out = config.getoption("--mutate-out")
    if out and not _is_worker(config):
        from ..cache import write_json_atomic
        write_json_atomic(Path(out), config._mutate_results)   # type: ignore[attr-defined]
