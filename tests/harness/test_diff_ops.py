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

from pyvma import tree as ptree
from pyvma.api import load
from pyvma.engine.callers_spec import SPECS as CALLER_SPECS
from pyvma.engine.diff import diff
from pyvma.engine.report import report_json, report_text
from pyvma.engine.ops import ENTRY_OPS, OP_FEATURES
from pyvma.engine.ops_paths import MORE_FAIL_SITES
from pyvma.engine.ops_query import QUERY_FEATURES

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
    tree = ptree.resolve("debian:7.x")
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


# -- the operations on mm/vma.c's other entry points (pyvma/engine/ops_paths.py) -------

# plants in functions only one operation reaches: all in one tree, each found by its
# operation (with what it needs to set up: HELPERS), none by every other operation
LOCAL = {
    # vma_modify_name(): the name change never merges with prev
    "name": ("\tvmg.anon_name = new_name;\n", "\tvmg.prev = NULL;\n"),
    # vma_modify_policy(): the policy change never merges with prev
    "policy": ("\tvmg.policy = new_pol;\n", "\tvmg.prev = NULL;\n"),
    # vma_modify_flags_uffd(): give_up_on_oom ignored (-ENOMEM reported)
    "uffd": ("\t\tvmg.give_up_on_oom = true;\n", "\t\t;\n"),
    # vma_merge_extend(): never merges with the VMA after it
    "extend": ("\tvmg.next = vma_iter_next_rewind(vmi, NULL);\n", "\tvmg.next = NULL;\n"),
    # expand_downwards(): the stack's page offset does not move down with it
    "stack": ("\t\t\t\tvma_sub_pgoff(vma, grow);\n", "\t\t\t\t;\n"),
    # __install_special_mapping(): no VM_DONTEXPAND
    "special": ("\tvma_flags_set(&vma_flags, VMA_DONTEXPAND_BIT);\n", "\t;\n"),
    # mm_drop_all_locks(): the anon_vma locks stay held (only the locks state shows it)
    "all_locks": ("\t\t\t\tvm_unlock_anon_vma(avc->anon_vma);\n", "\t\t\t\t;\n"),
    # vma_modify_flags(): a merge's sticky flags not passed back to the caller, which
    # sets the flags it asked for (mprotect drops them); modify never calls it
    "mprotect": ("\t\t*vma_flags_ptr = ret->flags;\n", "\t\t;\n"),
}
HELPERS = {"uffd": {"fail"}, "stack": {"mmap"}, "all_locks": {"mmap", "fault"}}
# plants on paths several operations share: a tree each
ALONE = {
    # __mmap_new_file_vma(): a failing ->mmap keeps its file reference (only the
    # files state shows it)
    "fput": ("\t\tfput(vma->vm_file);\n\t\tvma->vm_file = NULL;\n",
             "\t\t;\n\t\tvma->vm_file = NULL;\n"),
    # call_mmap_prepare(): the page offset ->mmap_prepare() set is dropped
    "prepare": ("\tmap->pgoff = desc->pgoff;\n", "\t;\n"),
    # acct_stack_growth(): RLIMIT_STACK not applied
    "rlimit": ("\tif (size > rlimit(RLIMIT_STACK))\n", "\tif (0)\n"),
    # acct_stack_growth(): may_expand_vm() failing (RLIMIT_AS) ignored
    "may_expand": ("\tif (!may_expand_vm(mm, &vma->flags, grow))\n", "\tif (0)\n"),
}
ALL_OPS = frozenset(OP_FEATURES)


@pytest.fixture(scope="module")
def path_trees(tree7, tmp_path_factory):
    """key ("local" or one of ALONE) -> the planted 7.x build, each made once."""
    text = (tree7.root / "mm/vma.c").read_text()
    missing = [k for k, (old, _) in {**LOCAL, **ALONE}.items() if text.count(old) != 1]
    lacking = [f for f in ("expand_downwards", "install_special_mapping", "mmap_prepare")
               if not tree7.has(f)]
    if missing or lacking:
        pytest.skip(f"{tree7.version_str}: the planted lines of {missing} not each once in "
                    f"mm/vma.c, or features {lacking} lacking")
    built: dict = {}

    def get(key: str):
        if key not in built:
            pairs = list(LOCAL.values()) if key == "local" else [ALONE[key]]

            def edit(t: str) -> str:
                for old, new in pairs:
                    t = t.replace(old, new, 1)
                return t
            dest = tmp_path_factory.mktemp(f"plant-{key}")
            scratch_tree(tree7.root, dest, {"mm/vma.c": edit})
            built[key] = load(str(dest))
        return built[key]
    return get


@pytest.mark.parametrize("op", sorted(LOCAL))
def test_path_plant_found_by_its_operation(path_trees, op):
    base, broken = load("debian:7.x"), path_trees("local")
    d, _ = check_found(base, broken, op, only=BASIC | {op} | HELPERS.get(op, set()))
    assert not any(o[0] in LOCAL and o[0] != op for o in d.ops), d.ops
    if op in ("name", "policy", "extend"):
        # a merge refused (or WARNed about: a NULL prev for a range inside its VMA)
        assert (d.a.layout, len(d.a.warns)) != (d.b.layout, len(d.b.warns)), (d.a, d.b)
    if op == "uffd":
        assert any(o[0] == "fail" for o in d.ops) and d.ops[-1][4], d.ops
        assert (d.a.ret, d.b.ret) == (0, -12), (d.a.ret, d.b.ret)
    if op == "stack":
        assert [r[2] for r in d.a.layout] != [r[2] for r in d.b.layout]
    if op == "mprotect":
        # the merged VMA keeps its sticky flag on the pristine tree only
        sticky = {"VM_MAYBE_GUARD", "VM_SOFTDIRTY"}
        got_a = {f for r in d.a.layout for f in r[3]} & sticky
        got_b = {f for r in d.b.layout for f in r[3]} & sticky
        assert got_a > got_b and d.a.ret == d.b.ret == 0, (d.a, d.b)
    if op == "special":
        assert any("VM_DONTEXPAND" in r[3] for r in d.a.layout)
        assert not any("VM_DONTEXPAND" in r[3] for r in d.b.layout)


def test_path_plants_found_by_no_other_operation(path_trees):
    base, broken = load("debian:7.x"), path_trees("local")
    # the caller operations calling a planted entry point (mprotect's
    # vma_modify_flags(), extend's vma_merge_extend()) are that operation's callers
    planted = {"vma_modify_flags", "vma_merge_extend"}
    sharing = {n for n, s in CALLER_SPECS.items() if planted & set(s.calls)}
    assert sharing >= {"mprotect_prot", "mremap"}
    divs, stats = diff(base, broken, **RUN, only=ALL_OPS - LOCAL.keys() - sharing)
    assert divs == [], [x.ops for x in divs]
    assert stats["corpus"] > 0 and stats["sequences"] > 0


def test_locks_state_reveals_a_lock_left_held(path_trees):
    """mm_drop_all_locks() leaving the anon_vma locks held changes no layout or
    return value: the locks state (held after / held by mm_take_all_locks) shows it."""
    base, broken = load("debian:7.x"), path_trees("local")
    d, stats = check_found(base, broken, "all_locks", only=BASIC | {"all_locks", "mmap",
                                                                    "fault"})
    assert (d.a.ret, d.a.layout, d.a.warns) == (d.b.ret, d.b.layout, d.b.warns)
    assert d.a.state["locks"][0] == 0 < d.b.state["locks"][0], (d.a.state, d.b.state)
    assert [s.split()[0] for s in d.differing_state()] == ["locks"]
    assert "locks" in stats["state_compared"]


def test_files_state_reveals_a_kept_file_reference(path_trees):
    """A failing ->mmap whose file reference is kept: the same error, layout and
    counters, only the files state (refs) differs; only mmap_file reaches it."""
    base, broken = load("debian:7.x"), path_trees("fput")
    d, _ = check_found(base, broken, "mmap_file", only=BASIC | {"mmap_file"})
    assert (d.a.ret, d.a.layout) == (d.b.ret, d.b.layout) and d.a.ret == -22
    assert [s.split()[0] for s in d.differing_state()] == ["files"]
    assert d.ops[-1][5] == "fe"
    divs, _ = diff(base, broken, **RUN, only=ALL_OPS - {"mmap_file"})
    assert divs == [], [x.ops for x in divs]


def test_mmap_prepare_plant_found_only_by_mmap_prepare(path_trees):
    base, broken = load("debian:7.x"), path_trees("prepare")
    d, _ = check_found(base, broken, "mmap_prepare", only=BASIC | {"mmap_prepare", "mmap"})
    assert [r[2] for r in d.a.layout] != [r[2] for r in d.b.layout]
    divs, _ = diff(base, broken, **RUN, only=ALL_OPS - {"mmap_prepare"})
    assert divs == [], [x.ops for x in divs]


def test_limit_plant_found_only_with_a_limit(path_trees):
    """RLIMIT_STACK ignored: found by a stack growing under a limit op's RLIMIT_STACK,
    by nothing without the limit op."""
    base, broken = load("debian:7.x"), path_trees("rlimit")
    d, _ = check_found(base, broken, "stack", only=BASIC | {"stack", "mmap", "limit"})
    assert ("limit", "stack") in [tuple(o[:2]) for o in d.ops], d.ops
    assert d.a.ret == -12 and d.b.ret == 0
    divs, _ = diff(base, broken, **RUN, only=ALL_OPS - {"limit"})
    assert divs == [], [x.ops for x in divs]


def test_fault_site_plant_found_only_by_its_site(path_trees):
    """acct_stack_growth() ignoring a failing may_expand_vm(): found by arming that
    fault site (one of the sites beyond the first four) before a stack grows; without
    fail (and the RLIMIT_AS limit op, which fails it too) by nothing."""
    base, broken = load("debian:7.x"), path_trees("may_expand")
    d, _ = check_found(base, broken, "stack", only=BASIC | {"stack", "mmap", "fail"})
    fails = [o for o in d.ops if o[0] == "fail"]
    assert fails and fails[-1][1] == "may_expand_vm", d.ops
    assert "may_expand_vm" in MORE_FAIL_SITES
    # (ops_query's operations left out: with them the C generator's seed-1 draws
    # include mmap GROWSDOWN, expand, vm_munmap, expand, munmap, stack, where the
    # basic expand accounts nothing and the unmaps take total_vm below zero, so
    # may_expand_vm() fails without a fault armed: harness accounting, not a site)
    divs, _ = diff(base, broken, **RUN, only=ALL_OPS - {"fail", "limit"} - set(QUERY_FEATURES))
    assert divs == [], [x.ops for x in divs]
