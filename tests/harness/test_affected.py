# SPDX-License-Identifier: GPL-2.0-or-later
"""Affected tests first (pyvma/affected.py, funcmap.py, first.py): the selection is
sound.  On a scratch copy of the tree, the map of which functions each kernel-suite
test enters is recorded once; then a change is planted in each of ten functions of
mm/vma.c (a WARN on entry in eight: every test that enters the function fails; a
merge rule made false in two), the full Python suites run on each planted tree, and
every test the full run fails is in the affected set the map selects -- so the
affected set alone catches the change whenever the full run does.  Plus the diff by
function: comments are no change, a change outside a function is not attributed."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyvma import affected
from pyvma.affected_run import kernel_id, record
from pyvma.paths import REPO, TESTS
from pyvma.results import neutral
from pyvma.testrun import KERNEL_SUITES
from pyvma.tree import resolve
from pyvma.tree.scratch import link_copy

SPEC = (os.environ.get("PYVMA_KERNELS") or "debian:7.x").split()[0]
WARN = "\tint pyvma_planted __attribute__((unused)) = WARN_ON(1);"
FALSE = "\tint pyvma_planted __attribute__((unused)) = ({ if (1) return false; 0; });"
#: (function, the line planted first in its body)
PLANTS = [("vma_expand", WARN), ("commit_merge", WARN), ("vma_merge_new_range", WARN),
          ("vma_merge_existing_range", WARN), ("__split_vma", WARN), ("vma_complete", WARN),
          ("vma_shrink", WARN), ("do_brk_flags", WARN),
          ("can_vma_merge_after", FALSE), ("can_vma_merge_before", FALSE)]
SUITES = [str(TESTS / s) for s in KERNEL_SUITES if s != "upstream_c"]


def plant(text: str, function: str, line: str) -> str:
    """*line* inserted after the opening brace of *function*'s body."""
    head = re.search(rf"^(?:[A-Za-z_][\w\s\*]*?[\s\*])?\**{re.escape(function)}\(", text, re.M)
    assert head, function
    brace = re.compile(r"^\{\s*$", re.M).search(text, head.end())
    assert brace, function
    return text[:brace.end()] + "\n" + line + text[brace.end():]


def copy_with(base: Path, dest: Path, edit=None) -> Path:
    link_copy(base, dest)
    if edit is not None:
        p = dest / "mm" / "vma.c"
        text = p.read_text()
        p.unlink()
        p.write_text(edit(text))
    return dest


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    from pyvma.build import build
    from vma_internal.config import HarnessConfig
    tree = resolve(SPEC)
    if not (tree.root / "mm" / "vma.c").is_file():
        pytest.skip(f"{SPEC} has no mm/vma.c")
    base = copy_with(tree.root, tmp_path_factory.mktemp("base") / "t")
    btree = resolve(str(base))
    cfg = HarnessConfig.from_overrides()
    key = build(btree, cfg).key
    line = record(str(base), btree, key, [], cfg.key, dict(os.environ))
    assert line.startswith("pyvma: recorded"), line
    fmap = affected.find_map(btree, cfg.key, key)
    assert fmap is not None
    return tree, base, fmap


def full_run(root: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "pyvma.pytest_plugin",
                           "-p", "no:cacheprovider", "--rootdir", str(REPO), "--kernel",
                           str(root), "--pyvma-results", str(out), *SUITES],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode in (0, 1), proc.stdout[-2000:]
    return json.loads(out.read_text())


def test_the_map_names_what_tests_enter(recorded) -> None:
    _, _, fmap = recorded
    tests = fmap["tests"]
    assert len(tests) > 1000
    reach = {f for fns in tests.values() for f in fns}
    # the merge paths, the shim's helpers and mm/vma.h's inlines are all recorded
    assert {"mm/vma.c:vma_merge_new_range", "mm/vma.c:commit_merge",
            "mm/vma.c:vma_expand"} <= reach
    assert any(f.startswith("shim:") for f in reach)
    assert any(f.startswith("mm/vma.h:") for f in reach)
    some = next(n for n in tests if "test_merge_new_predicates" in n)
    assert "mm/vma.c:vma_merge_new_range" in tests[some], tests[some]


@pytest.mark.parametrize("function,line", PLANTS, ids=[p[0] for p in PLANTS])
def test_a_planted_change_is_caught_by_the_affected_set(recorded, tmp_path, function,
                                                        line) -> None:
    _, base, fmap = recorded
    planted = copy_with(base, tmp_path / "t", lambda t: plant(t, function, line))
    ptree = resolve(str(planted))
    sel = affected.select(fmap, ptree)
    assert not sel.unattributed, sel.unattributed
    assert sel.functions == [f"mm/vma.c:{function}"]
    got = full_run(planted, tmp_path / "results.json")
    kid = kernel_id(ptree)
    failing = {neutral(n, kid) for n, r in got.items() if r["outcome"] in ("failed", "error")}
    assert failing, f"the full run does not catch the change to {function}()"
    known = set(fmap["tests"])
    missed = sorted(n for n in failing if n not in sel.tests and n in known)
    assert not missed, f"{len(missed)} failing tests not in the affected set: {missed[:5]}"
    assert len(sel.tests) < len(known)      # a selection, not everything


def test_comments_are_no_change_and_a_struct_is_not_attributed(recorded, tmp_path) -> None:
    _, base, fmap = recorded

    def comment(t: str) -> str:
        return plant(t, "vma_expand", "\t/* pyvma: a comment only */")
    t1 = resolve(str(copy_with(base, tmp_path / "c", comment)))
    sel = affected.select(fmap, t1)
    assert not sel.unattributed and sel.functions == [] and not sel.tests

    def struct(t: str) -> str:
        return t.replace("\nstruct mmap_state {", "\nstruct pyvma_x { int y; };\n"
                         "struct mmap_state {", 1) if "\nstruct mmap_state {" in t else \
            t + "\nstruct pyvma_x { int y; };\n"
    t2 = resolve(str(copy_with(base, tmp_path / "s", struct)))
    sel = affected.select(fmap, t2)
    assert "outside a function" in sel.unattributed

    def new_function(t: str) -> str:
        return t + "\nstatic int __attribute__((unused)) pyvma_new(void)\n{\n\treturn 0;\n}\n"
    t3 = resolve(str(copy_with(base, tmp_path / "n", new_function)))
    assert "new function pyvma_new()" in affected.select(fmap, t3).unattributed


def test_split_functions_by_name() -> None:
    src = ("static inline\nstruct x *foo(int a,\n\tint b)\n{\n\treturn 0; /* c */\n}\n\n"
           "int bar(void) { return 1; }\n#define Y 1\nstatic int z;\n"
           "static int __attribute__((unused)) baz(void)\n{\n\treturn 2;\n}\n")
    got = affected.split_functions(src)
    assert set(got) == {"foo", "bar", "baz", affected.FILE_SCOPE}
    assert got["foo"] == "staticinlinestructx*foo(inta,intb){return0;}"
    assert got[affected.FILE_SCOPE] == "#defineY1staticintz;"


def test_pyvma_test_runs_the_affected_first_and_says_so(recorded) -> None:
    """`pyvma test` on the recorded checkout after an edit: the verdict line first, the
    full run's exit status; `--affected` alone: only those, their exit status."""
    _, base, fmap = recorded
    vma_c = base / "mm" / "vma.c"
    orig = vma_c.read_text()
    # (and the tests skipped while recording: they run first on any change)
    reach = sum("mm/vma.c:vma_shrink" in fns or "*" in fns for fns in fmap["tests"].values())
    assert reach
    try:
        vma_c.unlink()
        vma_c.write_text(plant(orig, "vma_shrink", WARN))
        for extra in (["--affected"], []):
            p = subprocess.run([sys.executable, "-m", "pyvma", "test", "--kernel", str(base),
                                "--no-sandbox", "--no-record", *extra, "--",
                                *(SUITES if not extra else [])],
                               cwd=REPO, capture_output=True, text=True, timeout=1800)
            assert p.returncode == 1, p.stdout[-3000:] + p.stderr[-1000:]
            line = next(ln for ln in p.stdout.splitlines() if "tests reach" in ln)
            assert re.fullmatch(rf"pyvma: {reach} tests reach vma_shrink\(\): \d+ (failed|errors?)"
                                rf"(, \d+ \w+)* in [\d.]+ s; " + (
                                    "--affected: the others are not run" if extra else
                                    r"the other \d+ follow"), line.strip()), line
            if extra:       # only those ran: WARNs fail them (at teardown: errors)
                last = p.stdout.splitlines()[-1]
                assert "deselected" in last and re.search(r"\d+ (failed|errors?)", last), last
    finally:
        vma_c.unlink()
        vma_c.write_text(orig)
