# SPDX-License-Identifier: GPL-2.0-or-later
"""--ktap writes KTAP v1 that the kernel's own parser (tools/testing/kunit) counts
like pytest: a skip in any phase and an expected failure are skips, never
``not ok``; one suite per module, results keyed by the full node id."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyvma import tree as ptree

REPO = Path(__file__).resolve().parents[2]

ONE = """\
import pytest

def test_same():
    pass

def test_call_skip():
    pytest.skip("skipped in the call phase")

@pytest.mark.xfail(strict=True, reason="known: one is not two")
def test_xfail():
    assert 1 == 2

def test_fail():
    assert 1 == 2

@pytest.mark.requires("sticky")
def test_kernel(kernel, mm):
    assert mm.map_count == 0

@pytest.fixture
def broken():
    yield
    raise RuntimeError("teardown broke")

def test_teardown(broken):
    pass
"""

TWO = """\
import pytest

def test_same():
    pytest.skip("second module's own skip")

def test_teardown():
    pass

def test_imperative_xfail():
    pytest.xfail("imperative # with a hash")

@pytest.mark.parametrize("x", [pytest.param(1, id="a b"), pytest.param(2, id="a_b")])
def test_clash(x):
    assert x

@pytest.mark.xfail(reason="passes anyway")
def test_xpass():
    pass
"""


def _pytest_counts(summary: str) -> dict[str, int]:
    """pytest's final line ("2 failed, 5 passed, ... in 1.0s") as a dict."""
    return {k: int(n) for n, k in re.findall(r"(\d+) (\w+)", summary.split(" in ")[0])}


def _kunit(kunit: Path, ktap: Path, tmp_path: Path) -> tuple[dict, list]:
    """(summary counts, JSON test cases) of kunit.py parse."""
    out = tmp_path / "kunit.json"
    run = subprocess.run([sys.executable, str(kunit), "parse", str(ktap), f"--json={out}"],
                         capture_output=True, text=True, cwd=tmp_path)
    m = re.search(r"Ran (\d+) tests?: passed: (\d+)(?:, failed: (\d+))?(?:, skipped: (\d+))?"
                  r"(?:, errors: (\d+))?", run.stdout)
    assert m, run.stdout + run.stderr
    counts = {"ran": int(m[1]), "passed": int(m[2]), "failed": int(m[3] or 0),
              "skipped": int(m[4] or 0), "errors": int(m[5] or 0)}
    return counts, json.loads(out.read_text())["sub_groups"]


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["serial", "xdist"])
@pytest.mark.parametrize("spec", ["debian:7.x", "debian:6.12"])
def test_kunit_parse_counts_like_pytest(tmp_path: Path, spec: str, xdist: list[str]) -> None:
    tree = ptree.resolve(spec)
    kunit = tree.root / "tools" / "testing" / "kunit" / "kunit.py"
    if not kunit.exists():
        pytest.skip(f"{tree.version_str} has no tools/testing/kunit/kunit.py")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["pyvma.pytest_plugin"]\n')
    (tmp_path / "test_one.py").write_text(ONE)
    (tmp_path / "test_two.py").write_text(TWO)
    ktap = tmp_path / "out.ktap"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "--rootdir", str(tmp_path), "--kernel", spec, *xdist,
                          "--ktap", str(ktap), "test_one.py", "test_two.py"],
                         cwd=tmp_path, capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert run.returncode == 1, run.stdout + run.stderr
    got = _pytest_counts(run.stdout.strip().splitlines()[-1])
    sticky = tree.has("sticky")
    assert got == {"failed": 1, "passed": 5 + sticky, "skipped": 2 + (not sticky),
                   "xfailed": 2, "xpassed": 1, "error": 1}, run.stdout

    counts, cases = _kunit(kunit, ktap, tmp_path)
    # One test passed its call and failed its teardown: pytest counts it passed and
    # an error, KTAP once, as failed.
    assert counts == {
        "ran": got["passed"] + got["xpassed"] + got["failed"] + got["skipped"]
        + got["xfailed"],
        "passed": got["passed"] + got["xpassed"] - got["error"],
        "failed": got["failed"] + got["error"],
        "skipped": got["skipped"] + got["xfailed"],
        "errors": 0,
    }, ktap.read_text()

    suites = {s["name"]: {t["name"]: t["status"] for t in s["test_cases"]} for s in cases}
    kid = tree.version_str
    assert suites == {
        "test_one": {"test_same": "PASS", "test_call_skip": "SKIP",
                     "test_xfail": "SKIP", "test_fail": "FAIL",
                     f"test_kernel[{kid}]": "PASS" if sticky else "SKIP",
                     "test_teardown": "FAIL"},
        "test_two": {"test_same": "SKIP", "test_teardown": "PASS",
                     "test_imperative_xfail": "SKIP", "test_clash[a_b]": "PASS",
                     "test_clash[a_b]_2": "PASS", "test_xpass": "PASS"},
    }, ktap.read_text()
    text = ktap.read_text()
    assert "ok 3 test_xfail # SKIP xfail: known: one is not two" in text
    assert "# SKIP xfail: imperative with a hash" in text
    assert "test_call_skip # SKIP skipped in the call phase" in text
    assert [ln.strip() for ln in text.splitlines() if "not ok" in ln] == [
        "not ok 4 test_fail", "not ok 6 test_teardown", "not ok 1 test_one"], text
