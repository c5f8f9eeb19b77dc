# SPDX-License-Identifier: GPL-2.0-or-later
"""Upstream's C tests and pyvma's Python ports of them (tests/upstream, named
``test_<C test>``) agree on the same tree: both pass on the tree as it is, and both
fail on one planted change (``is_mergeable_vma()`` refusing every merge) in a scratch
copy of it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from pyvma import tree as ptree
from pyvma import upstream_c

from .scratch import scratch_tree

SUITES = Path(__file__).resolve().parents[1]    # tests/ (or pyvma/suites, installed)
PLANT_FN = "bool is_mergeable_vma(struct vma_merge_struct *vmg, bool merge_next)"
PLANTED = "simple_merge"        # a C test and a port that need is_mergeable_vma()
PORT_NAME = re.compile(r"test_(\w+)\[")


def ported(spec: str, tmp: Path, only: str | None = None) -> dict[str, str]:
    """Verdicts of the ports in tests/upstream on *spec*, by C test name:
    "pass", "fail" or "skip" (a port with several ids fails if one does, passes if
    one passes and none fails).  Read from pytest's JUnit XML."""
    xml = tmp / "port.xml"
    ports = SUITES / "upstream"
    target = str(ports) if only is None else f"{ports / 'test_merge.py'}::test_{only}"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--kernel", spec, "--junitxml", str(xml), target],
                          cwd=SUITES.parent, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("PYTEST_XDIST")})
    assert xml.is_file(), f"the ports did not run on {spec}:\n{proc.stdout[-3000:]}"
    out: dict[str, str] = {}
    for case in ElementTree.parse(xml).iter("testcase"):
        m = PORT_NAME.match(case.get("name", ""))
        if not m:
            continue
        kinds = {child.tag for child in case}
        now = "fail" if kinds & {"failure", "error"} else "skip" if "skipped" in kinds \
            else "pass"
        old = out.get(m.group(1))
        out[m.group(1)] = now if old is None or now == "fail" or old == "skip" else old
    return out


def c_results(tree: ptree.KernelTree) -> tuple[dict[str, upstream_c.CaseResult],
                                                  upstream_c.Built]:
    names = upstream_c.test_names(tree)
    built = upstream_c.build(tree)
    if not built.ok:
        pytest.skip(f"upstream's harness of {tree.version_str} does not build: "
                    f"{built.message.splitlines()[0] if built.message else '?'}")
    return upstream_c.run(built, names), built


@pytest.fixture
def tree(request, kernel_spec: str) -> ptree.KernelTree:
    t = request.config._pyvma.tree(kernel_spec)
    if isinstance(t, Exception):
        pytest.fail(str(t), pytrace=False)
    if not upstream_c.present(t.root):
        pytest.skip(f"kernel {t.version_str} has no {upstream_c.HARNESS}")
    return t


def test_c_tests_and_ports_agree(tree, kernel_spec, tmp_path):
    c = {n: r.passed for n, r in c_results(tree)[0].items()}
    port = ported(kernel_spec, tmp_path)
    both = sorted(n for n in c if port.get(n) in ("pass", "fail"))
    assert PLANTED in both, f"no port of {PLANTED} ran on {tree.version_str}: {port}"
    disagree = [f"{n}: C {'pass' if c[n] else 'fail'}, port {port[n]}" for n in both
                if c[n] != (port[n] == "pass")]
    assert not disagree, f"C tests and ports disagree on {tree.version_str}:\n" + \
        "\n".join(disagree)
    # the tree as it is: every compared test passes on both sides
    assert all(c[n] for n in both), [n for n in both if not c[n]]


def test_planted_change_fails_both(tree, tmp_path):
    def refuse(text: str) -> str:
        at = text.index(PLANT_FN)
        brace = text.index("\n{\n", at) + 3
        return text[:brace] + "\treturn false;\n" + text[brace:]
    root = scratch_tree(tree.root, tmp_path / "tree", {"mm/vma.c": refuse})
    for rel in (upstream_c.HARNESS, "tools/scripts"):     # what link_copy leaves out
        if (tree.root / rel).is_dir() and not (root / rel).exists():
            shutil.copytree(tree.root / rel, root / rel, copy_function=os.link)
    planted = ptree.resolve(str(root))
    c, built = c_results(planted)
    assert not c[PLANTED].passed, f"upstream's {PLANTED} passed with is_mergeable_vma() " \
        f"refusing every merge ({built.dir})"
    # the item's output is upstream's own assertion line, from inside the test
    assert re.search(rf"Assert FAILED at \S+:\d+:test_{PLANTED}\(\)", c[PLANTED].output), \
        c[PLANTED].output
    # the build wrote nothing into the tree it was given
    assert not [p.name for p in (root / upstream_c.HARNESS).iterdir()
                if upstream_c.BUILD_PRODUCTS.match(p.name)]
    port = ported(str(root), tmp_path, only=PLANTED)
    assert port.get(PLANTED) == "fail", \
        f"pyvma's port of {PLANTED} did not fail on the planted tree: {port}"
