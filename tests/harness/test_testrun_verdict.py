# SPDX-License-Identifier: GPL-2.0-or-later
"""``pyvma test``'s verdict against the base: a test only the patched tree has that
fails is a new failure (exit 1, said first); one that passes is not.  And the digest
a failing run opens its report with."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pyvma import results
from pyvma.digest import group, shape, text

C = "tests/upstream_c/test_upstream_c.py"


def rec(kernel: str, outcome: str) -> dict:
    return {"kernel": kernel, "outcome": outcome, "sites": []}


def runs(extra_outcome: str | None) -> tuple[dict, dict]:
    base = {f"{C}::merge_new[7.2.13]": rec("7.2.13", "passed"),
            f"{C}::copy_vma[7.2.13]": rec("7.2.13", "passed")}
    patched = {f"{C}::merge_new[7.2.13+v1]": rec("7.2.13+v1", "passed"),
               f"{C}::copy_vma[7.2.13+v1]": rec("7.2.13+v1", "passed")}
    if extra_outcome:
        patched[f"{C}::pyvma_sentinel[7.2.13+v1]"] = rec("7.2.13+v1", extra_outcome)
    return base, patched


def test_a_new_failing_test_is_a_new_failure() -> None:
    base, patched = runs("failed")
    ch = results.changes(base, patched, "7.2.13", "7.2.13+v1")
    assert ch.newly_failing == [f"{C}::pyvma_sentinel: {results.NEW_TEST} failed"]
    out = ch.text().splitlines()
    assert out[1].startswith("  FAILING: 1 test(s) fail on 7.2.13+v1 that did not fail "
                             "on 7.2.13 (1 of them new tests)"), out
    assert "no test changed its outcome" not in ch.text()


def test_a_new_passing_test_is_no_failure() -> None:
    base, patched = runs("passed")
    ch = results.changes(base, patched, "7.2.13", "7.2.13+v1")
    assert ch.newly_failing == []
    assert "no test changed its outcome; no new WARN/BUG site; 1 new test(s) pass" in ch.text()


def test_an_old_failure_on_both_is_no_new_failure() -> None:
    base, patched = runs(None)
    base[f"{C}::copy_vma[7.2.13]"]["outcome"] = "failed"
    patched[f"{C}::copy_vma[7.2.13+v1]"]["outcome"] = "failed"
    assert results.changes(base, patched, "7.2.13", "7.2.13+v1").newly_failing == []


def test_digest_groups_by_module_and_first_line() -> None:
    fails = [(f"tests/sticky/test_a.py::test_{i}[7.2.13]",
              f"AssertionError: merged VMA at 0x{i:x}000 lacks VM_MAYBE_GUARD")
             for i in range(1, 4)]
    fails.append(("tests/merge/test_b.py::test_x[7.2.13]", "KernelBug: mm/vma.c:900"))
    groups = group(fails)
    assert [(len(g.nodeids), g.module) for g in groups] == [
        (3, "tests/sticky/test_a.py"), (1, "tests/merge/test_b.py")]
    out = text(fails).splitlines()
    assert out[0].startswith("pyvma digest: 4 failed in 2 group(s)")
    assert out[1] == "  3 x tests/sticky/test_a.py: AssertionError: merged VMA at 0x1000 " \
        "lacks VM_MAYBE_GUARD"
    assert shape("mm/vma.c:900: x 12 > 0x3") == "mm/vma.c:900: x N > 0x…"
    assert out[2] == "      e.g. tests/sticky/test_a.py::test_1[7.2.13]"


def test_digest_opens_the_report(tmp_path: Path) -> None:
    """A real pytest run with the plugin: the digest comes before FAILURES."""
    from .test_source import make_fake_tree
    tree = make_fake_tree(tmp_path / "tree", 7, 2, 1)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "test_d.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('n', range(3))\n"
        "def test_same(n):\n    assert n == 99\n"
        "def test_other():\n    pytest.fail('merged VMA lacks VM_MAYBE_GUARD', pytrace=False)\n")
    repo = Path(results.__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env["PYTHONPATH"] = str(repo)
    env["PYVMA_CACHE"] = str(tmp_path / "cache")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "pyvma.pytest_plugin",
                           "-p", "no:cacheprovider", "--rootdir", str(tmp_path / "t"),
                           "--kernel", str(tree), "test_d.py"], cwd=tmp_path / "t",
                          capture_output=True, text=True, env=env, timeout=300)
    out = proc.stdout
    assert "pyvma digest: 4 failed in 2 group(s)" in out, out
    assert out.index("pyvma digest") < out.index("FAILURES")
    assert "  3 x test_d.py: assert 0 == 99" in out, out
    assert [ln for ln in out.splitlines() if ln.startswith("  1 x test_d.py: ")
            and ln.endswith("merged VMA lacks VM_MAYBE_GUARD")], out
