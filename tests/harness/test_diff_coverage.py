# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma diff --coverage``: the gcov counts of mm/vma.c are the run's own (zeroed
before, written after, never added to an earlier run's), per library in the process."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyvma.api import load
from pyvma.build.coverage import measure
from pyvma.engine.diff import diff, diff_coverage
from pyvma.engine.report import report_text
from pyvma.tree import resolve

REPO = Path(__file__).resolve().parents[2]
# map and munmap only: the harness's own VMA linking and do_vmi_munmap()
ONLY = frozenset({"map", "munmap"})
SMALL = {"seed": 1, "sequences": 5, "length": 10, "use_corpus": False, "only": ONLY}
# functions of mm/vma.c the restricted run cannot enter (no brk, mmap or mremap
# operation) and one it must (every munmap of a mapped range goes through it)
UNREACHED = ("do_brk_flags", "copy_vma")
REACHED = "do_vmi_munmap"


@pytest.fixture(scope="module")
def kcov():
    tree = resolve("debian:7.x")
    text = (tree.root / "mm/vma.c").read_text()
    lacking = [f for f in (*UNREACHED, REACHED) if not re.search(rf"^\w.*\b{f}\(", text, re.M)]
    if lacking:
        pytest.skip(f"{tree.version_str}'s mm/vma.c does not define {', '.join(lacking)}")
    return load("debian:7.x", sanitizer="coverage")


def vma_c(stats: dict, side: str = "a") -> dict:
    return stats["coverage"][side]["files"]["mm/vma.c"]


def gcda_files(d: Path) -> dict[Path, bytes]:
    return {g: g.read_bytes() for g in d.rglob("*.gcda")}


def test_restricted_run_reaches_what_it_runs_and_not_more(kcov):
    # make coverage writes its counts into the build; diff never does
    before = gcda_files(kcov.build.dir)
    divs, stats = diff_coverage(kcov, kcov, **SMALL)
    assert gcda_files(kcov.build.dir) == before
    assert not divs
    f = vma_c(stats)
    assert 0 < f["lines_reached"] < f["lines"]
    assert 0 < f["branches_taken"] < f["branches"]
    for name in UNREACHED:
        assert name in f["never_entered"]
    assert REACHED not in f["never_entered"]
    assert len(f["never_entered"]) < f["functions"]
    # one library ran both sides: B is named as A's build, not measured twice
    assert stats["coverage"]["b"]["same_build_as_a"] is True
    assert not any(x.startswith("line/branch coverage") for x in stats["not_exercised"])
    text = report_text(kcov, kcov, divs, stats)
    assert re.search(r"^coverage A \S+ mm/vma\.c: lines \d+/\d+ \(\d+\.\d%\), branches "
                     r"\d+/\d+ \(\d+\.\d%\), functions \d+/\d+ entered$", text, re.M), text
    assert re.search(r"^coverage A \S+ mm/vma\.c never entered \(\d+\): .*\bdo_brk_flags\b",
                     text, re.M), text
    assert re.search(r"^coverage B \S+: the same build as A", text, re.M), text


def test_counts_are_the_runs_own(kcov):
    _, small = diff_coverage(kcov, kcov, **SMALL)
    _, large = diff_coverage(kcov, kcov, seed=1, sequences=40, length=20)
    _, again = diff_coverage(kcov, kcov, **SMALL)
    assert vma_c(large)["lines_reached"] > vma_c(small)["lines_reached"]
    assert vma_c(large)["branches_taken"] > vma_c(small)["branches_taken"]
    assert "do_brk_flags" not in vma_c(large)["never_entered"]
    # zeroed before each run: the small run after the large one counts as before
    assert vma_c(again) == vma_c(small)


def test_each_library_keeps_its_own_counters(kcov):
    other = load("debian:6.12", sanitizer="coverage")
    assert other.build.key != kcov.build.key
    _, cov = measure([(kcov.build, kcov.lib), (other.build, other.lib)],
                     lambda: diff(kcov, kcov, **SMALL))
    # only 7.x's library ran: the other's counters stay at zero
    assert cov[kcov.build.key]["mm/vma.c"].lines_reached > 0
    assert cov[other.build.key]["mm/vma.c"].lines_reached == 0


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyvma", *args], capture_output=True,
                          text=True, cwd=REPO)


def test_cli_coverage_footer_and_json(kcov):
    args = ("diff", "debian:7.x", "debian:7.x", "--coverage", "--no-corpus",
            "--sequences", "5", "--length", "10")
    text = run_cli(*args)
    assert text.returncode == 0, text.stderr
    assert re.search(r"^coverage A \S+ mm/vma\.c: lines \d+/\d+", text.stdout, re.M), text.stdout
    assert "line/branch coverage (no --coverage)" not in text.stdout
    js = run_cli(*args, "--json")
    assert js.returncode == 0, js.stderr
    f = json.loads(js.stdout)["stats"]["coverage"]["a"]["files"]["mm/vma.c"]
    # a run this small (5 Python sequences of 10, no corpus) leaves functions never
    # entered (their operations drawn by neither generator); mm_take_all_locks(),
    # once here, is entered: the C generator draws all_locks
    assert 0 < f["lines_reached"] < f["lines"] and f["never_entered"]
    assert "mm_take_all_locks" not in f["never_entered"]
    plain = run_cli("diff", "debian:7.x", "debian:7.x", "--no-corpus", "--sequences", "2")
    assert plain.returncode == 0, plain.stderr
    assert "line/branch coverage (no --coverage)" in plain.stdout
    assert "\ncoverage A" not in plain.stdout
