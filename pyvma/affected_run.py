# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma test``'s side of the affected tests: plan the first phase, record maps.

``plan()`` finds each tested tree's map (:mod:`pyvma.affected`) and writes the
selection the pytest plugin (:mod:`pyvma.first`) orders the run by; ``record()``
runs the Python kernel suites on a tree's coverage build once to make its map.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import affected
from .paths import REPO, TESTS
from .results import neutral, safe_id


@dataclass
class Plan:
    """What the first phase runs (a selection file for pytest), or why it does not."""

    file: Path | None = None
    note: str = ""                  # said before the run
    record: list = field(default_factory=list)      # (spec, tree, build key) to record
    maps: list[str] = field(default_factory=list)   # the maps found (for the digest)
    modules: set[str] = field(default_factory=set)  # the test files the first phase needs
    functions: str = ""             # the changed functions, as the verdict names them

    def args(self, only: bool) -> list[str]:
        if self.file is None:
            return []
        return ["--pyvma-first", str(self.file)] + (["--pyvma-first-only"] if only else [])


def kernel_id(tree) -> str:
    """A tree's id in test names, as the plugin gives it."""
    return safe_id(tree.name) if tree.origin.get("label") else safe_id(tree.version_str)


def plan(tested: list[tuple[str, Any, str, Any, str | None]], cfg_key: str,
         workdir: Path, record_after: bool = True) -> Plan:
    """*tested*: (spec, tree, its build key, its base tree or None, the base's build
    key).  A tree without a map, or whose change cannot be attributed, runs everything
    in order (and gets a map recorded after the run)."""
    from .testrun import KERNEL_SUITES
    present = {f"tests/{m.relative_to(TESTS)}" for s in KERNEL_SUITES if s != "upstream_c"
               for m in (TESTS / s).rglob("test_*.py")}
    p = Plan()
    kernels: dict[str, dict] = {}
    functions: list[str] = []
    known: set[str] = set()
    for spec, tree, key, base, base_key in tested:
        fmap = affected.find_map(tree, cfg_key, key, base, base_key)
        if fmap is not None:
            p.maps.append(fmap["path"])
        target = base if base is not None else tree
        target_key = base_key if base is not None else key
        if fmap is None:
            p.record.append((spec if base is None else str(target.root), target,
                             target_key))
            p.note = (f"pyvma: no record yet of which functions each test enters on "
                      f"{target.version_str}: every test runs in order"
                      + (" (recorded after this run, once per tree content)" if record_after
                         else ""))
            return p
        sel = affected.select(fmap, tree)
        sel.modules &= present          # only the kernel suites' files run here
        if sel.unattributed:
            if base is None:
                p.record.append((spec, tree, key))
            p.note = f"pyvma: {sel.unattributed}: every test runs in order"
            return p
        if not sel.functions and not sel.modules:
            p.note = f"pyvma: no function changed since the recorded {fmap.get('kernel')}"
            return p
        kernels[kernel_id(tree)] = sel.as_json()
        known |= set(fmap["tests"])
        functions += [f for f in sel.functions if f not in functions]
    data: dict[str, Any] = {"kernels": sorted(kernels),
            "tests": sorted({t for k in kernels.values() for t in k["tests"]}),
            "modules": sorted({m for k in kernels.values() for m in k["modules"]}),
            "known": sorted(known),
            "functions_text": affected.function_names(functions) if functions else ""}
    # the test files the first phase needs: those of the tests that reach the change, the
    # modules changed since the recording and any the recording did not see
    recorded = {t.split("::", 1)[0] for t in known}
    p.modules = {t.split("::", 1)[0] for t in data["tests"]} | \
        (set(data["modules"]) & present) | (present - recorded)
    p.functions = data["functions_text"] or "the change"
    p.file = workdir / "first.json"
    p.file.write_text(json.dumps(data))
    return p


def record(spec: str, tree, build_key: str, cfg_items: list[str], cfg_key: str,
           env: dict[str, str]) -> str:
    """Run the Python kernel suites on *tree*'s coverage build, keeping which functions
    each test enters as its map.  One line: what was recorded, or why not."""
    from .testrun import KERNEL_SUITES
    suites = [str(TESTS / s) for s in KERNEL_SUITES if s != "upstream_c"
              and (TESTS / s).is_dir()]
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pyvma-funcmap-") as tmp:
        out = Path(tmp) / "map.json"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "pyvma.pytest_plugin",
               "-p", "no:cacheprovider", "--rootdir", str(REPO), "--kernel", spec,
               "--kernel-sanitizer", "coverage", "--pyvma-funcmap", str(out),
               *[a for c in cfg_items for a in ("--kernel-config", c)], *suites]
        renv = dict(env, PYVMA_SANITIZER="coverage")
        renv.pop("LD_PRELOAD", None)
        proc = subprocess.run(cmd, cwd=REPO, env=renv, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace")
        try:
            raw = json.loads(out.read_text())
        except (OSError, ValueError):
            raw = None
    last = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
    if proc.returncode not in (0, 1) or not raw:
        return f"pyvma: no map recorded for {tree.version_str}: the coverage run ended " \
               f"with exit status {proc.returncode} ({last})"
    kid = kernel_id(tree)
    tests = {neutral(n, kid): fns for n, fns in raw.items()}
    affected.save_map(tree, cfg_key, build_key, tests)
    return (f"pyvma: recorded which functions each of {len(tests)} tests enters on "
            f"{tree.version_str} ({time.monotonic() - t0:.1f} s, once per tree content): "
            "the next run of a changed tree tests what the change reaches first")
