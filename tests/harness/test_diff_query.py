# SPDX-License-Identifier: GPL-2.0-or-later
"""`pyvma diff`'s query and exec operations (pyvma/engine/ops_query.py), each shown
to matter: one-line changes planted in a scratch copy of a cached tree (made here),
each in a function only that operation reaches, are found by it, shrunk, and their
replay lines reproduce them; a run without these operations finds nothing; with
--coverage, the functions they call are entered."""
from __future__ import annotations

import pytest

from pyvma import tree as ptree
from pyvma.api import load
from pyvma.engine.diff import diff, diff_coverage
from pyvma.engine.ops import ENTRY_OPS, OP_FEATURES
from pyvma.engine.ops_query import QUERY_FEATURES

from .scratch import scratch_tree
from .test_diff_ops import RUN, check_found

BASIC = frozenset(OP_FEATURES) - ENTRY_OPS
ALL_OPS = frozenset(OP_FEATURES)

# the plants: (file, a line of 7.x's, what replaces it), by the operation finding them
PLANTS: dict[str, list[tuple[str, str, str]]] = {
    # vm_ops_needs_writenotify(): ->pfn_mkwrite no longer asks for write faults
    "writenotify": [("mm/vma.c",
                     "return vm_ops && (vm_ops->page_mkwrite || vm_ops->pfn_mkwrite);",
                     "return vm_ops && vm_ops->page_mkwrite;")],
    "unmapped_area": [
        # unmapped_area(): the stack guard gap below a VM_GROWSDOWN VMA ignored
        ("mm/vma.c", "if (vm_start_gap(tmp) < gap + length - 1) {", "if (0) {"),
        # unmapped_area_topdown(): the alignment ignored
        ("mm/vma.c", "gap -= (gap - info->align_offset) & info->align_mask;", ";"),
    ],
    # vma_mmu_pagesize(): twice the kernel's page size
    "pagesize": [("mm/vma.c", "\treturn vma_kernel_pagesize(vma);",
                  "\treturn vma_kernel_pagesize(vma) * 2;")],
    # create_init_stack_vma(): the new stack is not soft-dirty
    "init_stack": [("mm/vma_exec.c", "\t\tvma_flags_set(&flags, VMA_SOFTDIRTY_BIT);\n",
                    "\t\t;\n")],
    # relocate_vma_down(): the moved VMA's page offset off by one
    "relocate": [("mm/vma_exec.c", "vma_start_pgoff(vma), vma_start_anon_pgoff(vma));",
                  "vma_start_pgoff(vma) + 1, vma_start_anon_pgoff(vma));")],
}
#: what each operation needs beside the basic ones (a fault for exec's error paths)
HELPERS: dict[str, set[str]] = {}
#: what the operations call, by file (none entered by the other operations)
ENTERED = {"mm/vma.c": ("vma_wants_writenotify", "vm_ops_needs_writenotify",
                        "vma_is_shared_writable", "vma_fs_can_writeback",
                        "vma_needs_dirty_tracking", "unmapped_area", "unmapped_area_topdown",
                        "vma_mmu_pagesize"),
           "mm/vma_exec.c": ("relocate_vma_down", "create_init_stack_vma")}


@pytest.fixture(scope="module")
def tree7():
    tree = ptree.resolve("debian:7.x")
    lacking = [f for f in QUERY_FEATURES.values() if f is not None and not tree.has(f)]
    if lacking:
        pytest.skip(f"{tree.version_str} lacks features {lacking}")
    missing = [new for plants in PLANTS.values() for rel, old, new in plants
               if (tree.root / rel).read_text().count(old) != 1]
    if missing:
        pytest.skip(f"{tree.version_str}: the planted lines {missing} not each once")
    return tree


@pytest.fixture(scope="module")
def planted(tree7, tmp_path_factory):
    """7.x with every plant (each in a function only its operation reaches)."""
    edits: dict = {}
    for plants in PLANTS.values():
        for rel, old, new in plants:
            edits.setdefault(rel, []).append((old, new))

    def editor(pairs):
        def edit(t: str) -> str:
            for old, new in pairs:
                t = t.replace(old, new, 1)
            return t
        return edit
    dest = tmp_path_factory.mktemp("plant-query")
    scratch_tree(tree7.root, dest, {rel: editor(pairs) for rel, pairs in edits.items()})
    return load(str(dest))


@pytest.mark.parametrize("op", sorted(PLANTS))
def test_query_plant_found_by_its_operation(planted, op):
    base = load("debian:7.x")
    d, stats = check_found(base, planted, op, only=BASIC | {op} | HELPERS.get(op, set()))
    assert sum(stats["exercised"][op].values()) > 0
    if op == "writenotify":
        # asked with ->pfn_mkwrite installed: A wants write faults and dirty tracking
        # where B no longer does (soft-dirty tracking may want them anyway)
        assert any(o[0] == "writenotify" and o[3] and "pfn_mkwrite" in o[3] for o in d.ops)
        assert d.a.ret.count(" 1") > d.b.ret.count(" 1"), (d.a.ret, d.b.ret)
        assert d.a.layout == d.b.layout
    if op == "pagesize":
        assert (d.a.ret, d.b.ret) == (4096, 8192)
    if op == "init_stack":
        assert any("VM_SOFTDIRTY" in r[3] for r in d.a.layout)
        assert not any("VM_SOFTDIRTY" in r[3] for r in d.b.layout)
    if op == "relocate":
        assert [r[2] for r in d.a.layout] != [r[2] for r in d.b.layout]
        assert d.a.ret == d.b.ret == 0


def test_both_unmapped_area_plants_found(planted):
    """Bottom-up into a stack's guard gap, top-down unaligned: two divergences."""
    base = load("debian:7.x")
    divs, _ = diff(base, planted, **{**RUN, "only": BASIC | {"unmapped_area"}})
    last = [d.ops[-1] for d in divs if d.ops[-1][0] == "unmapped_area"]
    assert any(not o[5] for o in last), last
    assert any(o[5] and o[4] > 1 for o in last), last
    gap = next(d for d in divs if d.ops[-1][0] == "unmapped_area" and not d.ops[-1][5])
    assert any("VM_GROWSDOWN" in r[3] for r in gap.before), gap.before


def test_query_plants_found_by_no_other_operation(planted):
    base = load("debian:7.x")
    divs, stats = diff(base, planted, **RUN, only=ALL_OPS - PLANTS.keys())
    assert divs == [], [x.ops for x in divs]
    assert stats["corpus"] > 0 and stats["sequences"] > 0


def test_self_diff_of_the_query_operations_is_clean():
    k = load("debian:7.x")
    divs, stats = diff(k, k, **RUN, only=BASIC | set(QUERY_FEATURES) | {"fail"})
    assert divs == [], [x.ops for x in divs]
    for op, feat in QUERY_FEATURES.items():
        if feat is None or k.has(feat):
            assert sum(stats["exercised"].get(op, {}).values()) > 0, (op, stats["exercised"])
    # the exec stack both placed and refused (a VMA in the way: -EFAULT)
    assert {"ok", "-14"} <= set(stats["exercised"].get("init_stack", {})), stats["exercised"]


def test_coverage_shows_the_functions_entered(tree7):
    k = load("debian:7.x", sanitizer="coverage")
    _, without = diff_coverage(k, k, **{**RUN, "only": ALL_OPS - QUERY_FEATURES.keys()})
    _, stats = diff_coverage(k, k, **{**RUN, "only": BASIC | set(QUERY_FEATURES)})
    for rel, names in ENTERED.items():
        before = stats_never(without, rel)
        after = stats_never(stats, rel)
        for name in names:
            assert name in before, (rel, name, before)
            assert name not in after, (rel, name, after)


def stats_never(stats: dict, rel: str) -> list[str]:
    return stats["coverage"]["a"]["files"][rel]["never_entered"]
