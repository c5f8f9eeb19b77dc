# SPDX-License-Identifier: GPL-2.0-or-later
"""The caller operations (pyvma/engine/callers.py) on real kernel code: mremap
MREMAP_DONTUNMAP is copy_vma(..., keep_source) where the tree has the parameter and
copy_vma() without it where not, so a tree whose copy_vma() lost keep_source (made
here, in a scratch copy) diverges from its base by the caller operation, the report
names the path each took, and the replay line exits 1; a planted loss of the
self-merge guard is found the same way; the accounting mremap does after the copy
keeps a long run of moves WARN-free."""
from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pyvma import argcheck
from pyvma import tree as ptree
from pyvma.api import load
from pyvma.engine import ops
from pyvma.engine.callers_spec import OP_ARGS, SPECS, caller_corpus, describe_caller
from pyvma.engine.diff import diff
from pyvma.engine.report import report_text

from .scratch import scratch_tree

REPO = Path(__file__).resolve().parents[2]
B = list(ops.BASE)
GUARD = "&& keep_source) {"
PARAM = ", bool keep_source)"
DONTUNMAP_NEXT = [("map", 4, 8, 4, tuple(B), None, "anon"), ("mremap", 4, 8, 4, 8, "dontunmap")]
ONLY = frozenset({"map", "mremap", "fault"})


@pytest.fixture(scope="module")
def base():
    tree = ptree.resolve("debian:7.x")
    text = (tree.root / "mm/vma.c").read_text()
    if text.count(GUARD) != 1 or text.count(PARAM) != 1 or not tree.has("copy_vma_keep_source"):
        pytest.skip(f"{tree.version_str}'s copy_vma() has no keep_source guard to plant in")
    return tree


def _planted(base, tmp_path_factory, name: str, edits: dict):
    dest = tmp_path_factory.mktemp(name)
    scratch_tree(base.root, dest, edits)
    return load(str(dest))


def _replay(a, b, ops_: list) -> int:
    args = [*a.replay_args, *b.replay_args, "--ops", json.dumps(ops_)]
    return subprocess.run([sys.executable, "-m", "pyvma", "replay", *args],
                          capture_output=True, text=True, cwd=REPO).returncode


def test_spec_is_the_argument_check():
    for name, kinds in OP_ARGS.items():
        assert argcheck.OP_ARGS[name] == kinds == SPECS[name].args
    text = json.dumps([list(op) for op in DONTUNMAP_NEXT])
    assert argcheck.ops_json(text)[-1] == ("mremap", 4, 8, 4, 8, "dontunmap")
    assert describe_caller(DONTUNMAP_NEXT[-1]) == \
        "mremap pages 0x4-0x8 to page 0x8 (MAYMOVE|FIXED|DONTUNMAP, 0x4 page(s))"


def test_dontunmap_keeps_source_and_copy_apart(base):
    k = load(str(base.root))
    out = ops.run(k, DONTUNMAP_NEXT)
    assert out[-1].ret == 8 and not out[-1].warns
    assert [(r[0], r[1]) for r in out[-1].layout] == [(4, 8), (8, 12)]
    # counters: total_vm and data_vm count both (vm_stat_account() after the copy)
    assert out[-1].state["counters"][0] == 8 and out[-1].state["counters"][3] == 8


def test_moves_keep_the_mm_counters_warn_free(base):
    k = load(str(base.root))
    seq = [("map", 0, 4, 0, tuple(B), None, "anon"), ("fault", 0)]
    for i in range(12):
        s = 0 if i % 2 == 0 else 10
        seq.append(("mremap", s, s + 4, 4, 10 - s, "fixed"))
    out = ops.run(k, seq)
    assert all(o.ret == (10 if i % 2 == 0 else 0) for i, o in enumerate(out[2:]))
    assert not any(o.warns or o.bug for o in out)
    assert out[-1].state["counters"][0] == 4 and out[-1].state["counters"][3] == 4


def test_lost_guard_found_by_mremap_dontunmap(base, tmp_path_factory):
    a = load(str(base.root))
    b = _planted(base, tmp_path_factory, "guard",
                 {"mm/vma.c": lambda t: t.replace(GUARD, "&& keep_source && 0) {", 1)})
    divs, stats = diff(a, b, sequences=0, use_corpus=True, only=ONLY)
    found = [d for d in divs if d.ops[-1][0] == "mremap" and d.ops[-1][-1] == "dontunmap"]
    assert found, report_text(a, b, divs, stats)
    assert _replay(a, b, found[0].ops) == 1
    # the run without the caller operation finds nothing: copy_vma never passes it
    divs, _ = diff(a, b, sequences=20, use_corpus=True,
                   only=frozenset(ops.OP_FEATURES) - {"mremap"})
    assert not divs


def test_tree_without_keep_source_named_and_diverges(tmp_path_factory):
    # 7.2's copy_vma() (no anon_pgoff): without keep_source it is 7.2.9's signature
    base = ptree.resolve("debian:linux-source-7.2")
    text = (base.root / "mm/vma.c").read_text()
    if text.count(GUARD) != 1 or text.count(PARAM) != 1 or base.has("anon_pgoff"):
        pytest.skip(f"{base.version_str}'s copy_vma() is not 7.2's")
    a = load(str(base.root))
    b = _planted(base, tmp_path_factory, "noparam", {
        "mm/vma.c": lambda t: t.replace(PARAM, ")", 1).replace(GUARD, "&& 0) {", 1),
        "mm/vma.h": lambda t: t.replace(", bool keep_source);", ");", 1)})
    assert a.has("copy_vma_keep_source") and not b.has("copy_vma_keep_source")
    divs, stats = diff(a, b, sequences=0, use_corpus=True, only=ONLY)
    text = report_text(a, b, divs, stats)
    assert (f"caller path each tree takes its own way: mremap dontunmap: the source-keeping "
            f"path differs: tree B ({b.version}) lacks copy_vma_keep_source") in text
    found = [d for d in divs if d.ops[-1][0] == "mremap" and d.ops[-1][-1] == "dontunmap"]
    assert found and "note: mremap dontunmap" in text, text
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("replay:"))
    args = shlex.split(line.split("replay: ", 1)[1])[1:]
    rc = subprocess.run([sys.executable, "-m", "pyvma", *args], capture_output=True,
                        text=True, cwd=REPO).returncode
    assert rc == 1


def test_caller_corpus_runs_clean_on_its_own_tree(base):
    k = load(str(base.root))
    for seq in caller_corpus():
        if any(op[0] not in ops.OP_FEATURES for op in seq):
            continue
        out = ops.run(k, seq)
        assert not any(o.bug for o in out), seq
        assert all(o.ret != "invalid" for o in out), seq
