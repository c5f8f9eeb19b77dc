# SPDX-License-Identifier: GPL-2.0-or-later
"""`pyvma diff`'s entry-point operations and compared state, each shown to matter: a
one-line change planted in a scratch copy of a cached tree (made here) that only
that operation or field reveals is found, shrunk, and its replay line reproduces it;
the same run without that operation (or field) finds nothing."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pyvma import source
from pyvma.api import load
from pyvma.engine.diff import diff, report_json, report_text
from pyvma.engine.ops import ENTRY_OPS, OP_FEATURES

from .scratch import scratch_tree

REPO = Path(__file__).resolve().parents[2]
BASIC = frozenset(OP_FEATURES) - ENTRY_OPS
RUN = {"seed": 1, "sequences": 60, "length": 25, "seconds": 60}

# the one-line plants (each a line of 7.x's mm/vma.c and what replaces it)
# copy_vma(): an unfaulted anonymous VMA's copy keeps the source's page offset
COPY_PGOFF = "\t\t\tpgoff = anon_pgoff;\n"
# reusable_anon_vma(): a neighbour's anon_vma is never shared by a first fault
REUSE = "if (anon_vma && list_is_singular(&old->anon_vma_chain))"
# __mmap_region(): a failed mmap no longer puts back what it was to replace
ABORT = "\tvms_abort_munmap_vmas(&map.vms, &map.mas_detach);\n"


@pytest.fixture(scope="module")
def tree7():
    tree = source.resolve("debian:7.x")
    text = (tree.root / "mm/vma.c").read_text()
    missing = [p for p in (COPY_PGOFF, REUSE, ABORT) if text.count(p) != 1]
    if missing or not tree.has("mmap_region"):
        pytest.skip(f"{tree.version_str}'s mm/vma.c lacks the planted lines {missing} or "
                    "__mmap_region()")
    return tree


def planted(tree7, tmp_path_factory, name: str, old: str, new: str):
    dest = tmp_path_factory.mktemp(name)
    scratch_tree(tree7.root, dest, {"mm/vma.c": lambda t: t.replace(old, new, 1)})
    return load(str(dest))


def replay(a, b, ops) -> subprocess.CompletedProcess:
    args = [*a.replay_args, *b.replay_args, "--ops", json.dumps(ops)]
    return subprocess.run([sys.executable, "-m", "pyvma", "replay", *args],
                          capture_output=True, text=True, cwd=REPO)


def check_found(base, broken, op: str, **kw):
    """diff finds a divergence ending in *op*; its replay exits 1; the text and JSON
    reports carry it.  Returns the shortest such divergence."""
    divs, stats = diff(base, broken, **{**RUN, **kw})
    hits = [d for d in divs if d.ops[-1][0] == op]
    assert hits, f"no divergence ending in {op}: {[d.ops for d in divs]}"
    d = min(hits, key=lambda x: len(x.ops))
    got = replay(base, broken, d.ops)
    assert got.returncode == 1, got.stdout + got.stderr
    text = report_text(base, broken, divs, stats)
    line = next(ln for ln in text.splitlines() if ln.startswith("  replay: ")
                and json.dumps(d.ops) in ln)
    assert shlex.split(line.removeprefix("  replay: "))[:2] == ["pyvma", "replay"]
    assert json.loads(report_json(base, broken, divs, stats))["divergences"]
    return d, stats


def test_self_diff_of_every_operation_is_clean_and_exercised(tree7):
    k = load("debian:7.x")
    divs, stats = diff(k, k, **RUN)
    assert divs == []
    ran = stats["exercised"]
    for op in ENTRY_OPS:
        assert sum(ran.get(op, {}).values()) > 0, (op, ran)
    # a fault armed for the next operation makes some of them fail
    fails = sum(n for c in ran.values() for r, n in c.items() if r in (-12, "-12", "nomem"))
    assert fails > 0, ran
    assert not stats["ops_left_out"]
    assert not any(n.startswith(("copy_vma", "do_brk", "insert_vm", "__mmap"))
                   for n in stats["not_exercised"])


def test_copy_vma_offset_plant_found_only_by_copy_vma(tree7, tmp_path_factory):
    base = load("debian:7.x")
    broken = planted(tree7, tmp_path_factory, "copy", COPY_PGOFF, "")
    d, _ = check_found(base, broken, "copy_vma")
    # the copy's page offset is what differs
    assert [r[2] for r in d.a.layout] != [r[2] for r in d.b.layout], (d.a, d.b)
    divs, _ = diff(base, broken, **RUN, only=BASIC | {"mmap", "fault", "fail"})
    assert divs == [], [x.ops for x in divs]


def test_anon_vma_sharing_plant_found_by_the_partition(tree7, tmp_path_factory):
    base = load("debian:7.x")
    broken = planted(tree7, tmp_path_factory, "reuse", REUSE, "if (0)")
    d, _ = check_found(base, broken, "fault")
    # layout, flags and offsets agree: only which VMAs share an anon_vma differs
    assert [r[:4] for r in d.a.layout] == [r[:4] for r in d.b.layout]
    assert d.a.ret == d.b.ret and len(d.a.warns) == len(d.b.warns)
    share = [r[4] for r in d.a.layout]
    assert len(set(share)) < len({r[4] for r in d.b.layout}), (d.a.layout, d.b.layout)
    divs, _ = diff(base, broken, **RUN, only=BASIC | {"mmap", "copy_vma", "fail"})
    assert not [x for x in divs if x.ops[-1][0] != "copy_vma"]


def test_mmap_abort_plant_found_only_with_an_armed_fault(tree7, tmp_path_factory):
    base = load("debian:7.x")
    broken = planted(tree7, tmp_path_factory, "abort", ABORT, "")
    d, stats = check_found(base, broken, "mmap")
    assert any(op[0] == "fail" for op in d.ops), d.ops
    # (a failing ->mmap / ->mmap_prepare and a limit reach the same abort without a
    # fault: test_limit_plant... shows the limits)
    divs, _ = diff(base, broken, **RUN,
                   only=OP_FEATURES.keys() - {"fail", "mmap_file", "mmap_prepare", "limit"})
    assert divs == [], [x.ops for x in divs]
    assert re.search(r"mmap \d+ \(", "exercised: " + "; ".join(
        f"{op} {sum(c.values())} (" for op, c in stats["exercised"].items()))


def test_state_field_differences_are_named(tree7, tmp_path_factory):
    """The abort plant leaves a VMA the pristine tree removed: the report names each
    differing state field with both values (map_count among them), the JSON too."""
    base = load("debian:7.x")
    broken = planted(tree7, tmp_path_factory, "abort2", ABORT, "")
    divs, stats = diff(base, broken, **RUN)
    text = report_text(base, broken, divs, stats)
    assert "compared per operation:" in text
    assert re.search(r"state differs \(A / B\): map_count (\d+) / (?!\1)\d+", text), text
    report = json.loads(report_json(base, broken, divs, stats))
    assert any(s.startswith("map_count ") for d in report["divergences"]
               for s in d["state_differs"])
    assert "map_count" in report["stats"]["state_compared"]
