# SPDX-License-Identifier: GPL-2.0-or-later
"""A series that adds a C test to upstream's tools/testing/vma, end to end: made at test
time against the tree (a test function and its TEST() line in the test file that runs
the mmap tests), applied by ``pyvma test --patch``, built with upstream's Makefile and
run by ./vma.  A new failing C test exits 1 and is said first; a new passing one exits
0.  A series whose C harness no longer builds turns the C tests that passed on the
base into skips: flagged (NOT BUILT) and exit 1."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyvma.paths import REPO
from pyvma.tree import resolve

from .scratch import diff_of

SPEC = (os.environ.get("PYVMA_KERNELS") or "debian:7.x").split()[0]
TESTS_FILE = "tools/testing/vma/tests/mmap.c"
RUNNER = "static void run_mmap_tests("
FIRST_TEST = "TEST(mmap_region_basic);"


@pytest.fixture(scope="module")
def tree():
    t = resolve(SPEC)
    text = (t.root / TESTS_FILE).read_text() if (t.root / TESTS_FILE).is_file() else ""
    if RUNNER not in text or FIRST_TEST not in text:
        pytest.skip(f"{SPEC}: {TESTS_FILE} has no {RUNNER.strip('(')}() running "
                    "mmap_region_basic (the layout this series is made for)")
    return t


def series(root: Path, assertion: str, out: Path) -> Path:
    """A patch adding C test ``pyvma_sentinel`` whose one assertion is *assertion*."""
    def edit(text: str) -> str:
        fn = (f"static bool test_pyvma_sentinel(void)\n{{\n\t{assertion}\n"
              "\treturn true;\n}\n\n")
        text = text.replace(RUNNER, fn + RUNNER, 1)
        return text.replace(FIRST_TEST, FIRST_TEST + "\n\tTEST(pyvma_sentinel);", 1)
    out.write_text("From: A Developer <dev@example.org>\nSubject: [PATCH] tools/testing/vma: "
                   "add a sentinel test\n\n---\n" + diff_of(root, {TESTS_FILE: edit}))
    return out


def pyvma_test(patch: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyvma", "test", "--kernel", SPEC,
                           "--patch", str(patch), "--no-sandbox", "--no-record", "--",
                           "tests/upstream_c"], cwd=REPO, capture_output=True, text=True,
                          timeout=1800)


def test_a_new_failing_c_test_fails_the_run(tree, tmp_path) -> None:
    p = pyvma_test(series(tree.root, "ASSERT_TRUE(false);", tmp_path / "fail.patch"))
    assert p.returncode == 1, p.stdout[-3000:] + p.stderr[-2000:]
    lines = p.stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("pyvma: what "))
    assert lines[head + 1].startswith("  FAILING: 1 test(s) fail on ") and \
        "(1 of them new tests)" in lines[head + 1], lines[head:head + 4]
    assert any("pyvma_sentinel: new test -> failed" in ln for ln in lines)
    assert "upstream C test pyvma_sentinel FAILED" in p.stdout


def test_a_new_passing_c_test_passes_the_run(tree, tmp_path) -> None:
    p = pyvma_test(series(tree.root, "ASSERT_TRUE(true);", tmp_path / "pass.patch"))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "no test changed its outcome; no new WARN/BUG site; 1 new test(s) pass" \
        in p.stdout
    assert "pyvma_sentinel: passed" in p.stdout


def test_a_c_harness_that_no_longer_builds_is_flagged(tree, tmp_path) -> None:
    p = pyvma_test(series(tree.root, "ASSERT_TRUE(pyvma_no_such_name);",
                          tmp_path / "broken.patch"))
    assert p.returncode == 1, p.stdout[-3000:] + p.stderr[-2000:]
    assert "  NOT BUILT: upstream's C harness does not build on " in p.stdout, \
        p.stdout[-3000:]
    assert "merge_new: passed -> skipped" in p.stdout or \
        "mmap_region_basic: passed -> skipped" in p.stdout
