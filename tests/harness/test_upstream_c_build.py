# SPDX-License-Identifier: GPL-2.0-or-later
"""How pyvma builds and reads upstream's C harness: what it supplies is the tree's
own text, and ./vma's output is split into per-test verdicts as upstream prints them."""
from __future__ import annotations

import re

import pytest

from pyvma import upstream_c


@pytest.fixture
def tree(request, kernel_spec: str):
    t = request.config._pyvma.tree(kernel_spec)
    if isinstance(t, Exception):
        pytest.fail(str(t), pytrace=False)
    if not upstream_c.present(t.root):
        pytest.skip(f"kernel {t.version_str} has no {upstream_c.HARNESS}")
    return t


def test_supplied_definitions_are_the_trees(tree):
    built = upstream_c.build(tree)
    if not built.supplied:
        # nothing supplied: upstream's harness must then build as the tree has it
        assert built.ok, built.message
        assert "pyvma supplies" not in (built.dir / "build.log").read_text()
        return
    assert built.ok, built.message
    header = (built.dir / "pyvma_supplied.h").read_text()
    for entry in built.supplied:
        name, rel, line = re.fullmatch(r"(\w+) \((\S+):(\d+)\)", entry).groups()
        src = (tree.root / rel).read_text().splitlines()
        assert re.search(rf"\b{name}\b", src[int(line) - 1]), f"{rel}:{line} lacks {name}"
        assert f'#line {line} "{tree.root / rel}"' in header


def test_names_are_what_the_build_compiles_in(tree):
    """Every TEST() the main file compiles in, in run order, and ./vma agrees."""
    names = upstream_c.test_names(tree)
    assert len(names) == len(set(names)) > 0
    built = upstream_c.build(tree)
    if not built.ok:
        pytest.skip(f"upstream's harness of {tree.version_str} does not build")
    results = upstream_c.run(built, names)
    # parse() fails every test when ./vma's own count differs from the list
    assert all(r.passed for r in results.values()), \
        {n: r.output for n, r in results.items() if not r.passed}


ASAN = """\
Test simple_merge FAILED
=================================================================
==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x6 at pc 0x5 bp 0x4 sp 0x3
    #0 0x55 in vma_merge mm/vma.c:900
    #1 0x56 in test_merge_new tests/merge.c:300
==1==ABORTING"""


def test_parse_crash_blames_the_test_in_the_report():
    out = upstream_c.parse("", "Assert FAILED at x.c:1:test_simple_merge(): a is FALSE.\n"
                           + ASAN, 1, ["simple_merge", "simple_modify", "merge_new", "copy_vma"])
    assert out["simple_merge"].output.startswith("Assert FAILED at x.c:1")
    assert out["simple_modify"].passed             # ran (silently) before the crash
    assert not out["merge_new"].passed and "heap-use-after-free" in out["merge_new"].output
    assert "./vma ended in this test (exit status 1)" in out["merge_new"].output
    assert not out["copy_vma"].passed and "not run to the end" in out["copy_vma"].output


def test_parse_summary_mismatch_fails_all():
    out = upstream_c.parse("3 tests run, 3 passed, 0 failed.\n", "", 0, ["a", "b"])
    assert not any(r.passed for r in out.values())
    assert "disagrees" in out["a"].output


def test_parse_abort_without_a_stack():
    """An abort with no sanitizer stack: tests before the last FAILED line ran to
    their end; the ones after it did not run to the end (one of them aborted)."""
    err = "Test b FAILED\nvma: x.h:1: f: Assertion `0' failed.\n"
    out = upstream_c.parse("", err, -6, ["a", "b", "c", "d"])
    assert out["a"].passed and not out["b"].passed
    for n in "cd":
        assert not out[n].passed
        assert "killed by signal 6" in out[n].output and "Assertion `0'" in out[n].output


def test_unbuildable_harness_skips_each_test_with_the_compilers_line(tree, tmp_path):
    """A harness that does not compile (a planted undeclared name in its main file):
    every C test is an item, skipped with the compiler's own error line."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    from xml.etree import ElementTree

    from .scratch import scratch_tree
    main = upstream_c.main_file(tree.root / upstream_c.HARNESS)
    rel = f"{upstream_c.HARNESS}/{main}.c"
    root = scratch_tree(tree.root, tmp_path / "tree", {})
    for sub in (upstream_c.HARNESS, "tools/scripts"):     # what link_copy leaves out
        if (tree.root / sub).is_dir() and not (root / sub).exists():
            import shutil
            shutil.copytree(tree.root / sub, root / sub, copy_function=os.link)
    text = (root / rel).read_text()
    (root / rel).unlink()
    (root / rel).write_text(text + "\nint pyvma_planted = pyvma_undeclared_name;\n")
    xml = tmp_path / "c.xml"
    suites = Path(__file__).resolve().parents[1]     # tests/ (or pyvma/suites, installed)
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "--kernel", str(root), "--junitxml", str(xml),
                    str(suites / "upstream_c" / "test_upstream_c.py")], cwd=suites.parent,
                   capture_output=True,
                   env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")})
    cases = list(ElementTree.parse(xml).iter("testcase"))
    assert [c.get("name").split("[")[0] for c in cases] == upstream_c.test_names(tree)
    for case in cases:
        skipped = case.find("skipped")
        assert skipped is not None, case.get("name")
        assert f"{main}.c" in skipped.get("message") and \
            "error: 'pyvma_undeclared_name' undeclared" in skipped.get("message")


def test_a_change_to_mm_vma_c_reuses_the_other_objects(tree, tmp_path):
    """The patch loop: after a change to mm/vma.c only, the harness build keeps every
    object of the tree's last build but the main one (which includes mm/vma.c); a
    change anywhere else rebuilds all.  The C tests pass either way."""
    import os
    import shutil

    from pyvma.tree import resolve

    from .scratch import scratch_tree
    root = scratch_tree(tree.root, tmp_path / "tree", {})
    for sub in (upstream_c.HARNESS, "tools/scripts"):
        if (tree.root / sub).is_dir() and not (root / sub).exists():
            shutil.copytree(tree.root / sub, root / sub, copy_function=os.link)

    def edit(rel: str, n: int):
        text = (root / rel).read_text()
        (root / rel).unlink()
        (root / rel).write_text(text + f"/* pyvma test edit {n} */\n")
        upstream_c._keys.clear()
        return upstream_c.build(resolve(str(root), tree.cache))

    first = edit("mm/vma.c", 1)
    assert first.ok, first.message
    again = edit("mm/vma.c", 2)
    assert again.ok, again.message
    main = upstream_c.main_file(root / upstream_c.HARNESS)
    assert again.reused and f"{main}.o" not in again.reused
    results = upstream_c.run(again, upstream_c.test_names(tree))
    assert results and all(r.passed for r in results.values()), results
    other = edit("tools/testing/shared/linux.c", 3)
    assert other.ok and other.reused == []
